"""Memory models: the small networks whose weights are the Titans long-term memory.

A memory model is a function ``(params, x) -> y`` of its weights and one token, as
:func:`~titans_seq.memory.neural_memory_scan` expects. The built-in :class:`MemoryMLP` also
implements :class:`ChunkStepper`, a fused chunk step with hand-written back-propagation that
batches over sequences and heads; it gives the same numbers as the generic ``torch.func`` path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from titans_seq._checks import flag, hidden_width, positive_int

__all__ = ["ChunkStepper", "MemoryMLP"]

Params = dict[str, Tensor]
LayerMap = Callable[[int, Tensor], Tensor]

_NORM_EPS = 1e-5


class ChunkStepper:
    """Interface of memory models with a fast path in :func:`~titans_seq.memory.neural_memory_scan`.

    ``fast_path_shares`` names the methods that the function and the fast path both run. The scan takes the fast
    path only where one class wrote ``chunk_step``, the function and each of these, so that a subclass that
    overrides one of them alone gets the generic path and its right gradient.
    """

    fast_path_shares: tuple[str, ...] = ()

    def chunk_step(
        self, params: Params, queries: Tensor, keys: Tensor, values: Tensor, token_weights: Tensor
    ) -> tuple[Tensor, Params]:
        """Read the memory and take the weighted surprise gradients of one chunk.

        Args:
            params: batched memory weights, each ``(B, *shape)``.
            queries, keys, values: ``(B, C, d)``.
            token_weights: ``(B, C, K)``: ``K`` sets of per-token weights ``w``.

        Returns:
            ``M(W, q)`` of shape ``(B, C, d)`` and, per parameter, ``(B, K, *shape)`` holding
            ``sum_i w_ik grad_W ||M(W, k_i) - v_i||^2``.
        """
        raise NotImplementedError


class MemoryMLP(ChunkStepper):
    """An MLP of ``depth`` layers, ``y = f(x)``, optionally ``y = x + LayerNorm(f(x))``.

    ``depth=1`` is the linear memory ``y = x W`` (matrix-valued memory, as in linear attention);
    deeper memories have hidden width ``round(dim * expansion)`` and GELU between layers (the paper's
    ``L_M >= 2``). ``norm`` adds a LayerNorm with learned gain and bias, ``residual`` a skip
    connection (the TTT layer's form). The weights are not held here: they are the ``params`` dict
    passed to each call, named ``weight0, weight1, ...`` and ``norm_weight, norm_bias``.
    """

    # Its fast path back-propagates through _forward's layers by hand (GELU's derivative, the norm's).
    fast_path_shares = ("_forward", "chunk_gradients")

    def __init__(self, dim: int, depth: int = 2, expansion: float = 4.0, residual: bool = False, norm: bool = False):
        positive_int("dim", dim)
        positive_int("depth", depth)
        hidden = hidden_width("expansion", expansion, "dim", dim)
        self.dim, self.depth, self.expansion = dim, depth, float(expansion)
        self.residual, self.norm = flag("residual", residual), flag("norm", norm)
        self.sizes = [dim] + [hidden] * (depth - 1) + [dim]

    def __repr__(self) -> str:
        return (f"MemoryMLP(dim={self.dim}, depth={self.depth}, expansion={self.expansion}, "
                f"residual={self.residual}, norm={self.norm})")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each weight's name and shape, without leading dimensions."""
        shapes = {f"weight{i}": pair for i, pair in enumerate(itertools.pairwise(self.sizes))}
        if self.norm:
            shapes["norm_weight"] = shapes["norm_bias"] = (self.dim,)
        return shapes

    def init_params(self, *leading: int, generator: torch.Generator | None = None) -> Params:
        """Fresh weights with extra leading dimensions (e.g. one set per head): He-style normal layers (standard
        deviation ``sqrt(2 / fan_in)``), the last one with ``sqrt(1 / (fan_in * depth))`` so that deeper memories
        start with a similar output size."""
        params = {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            std = (2.0 / n_in) ** 0.5 if i < self.depth - 1 else (1.0 / (n_in * self.depth)) ** 0.5
            params[f"weight{i}"] = torch.randn(*leading, n_in, n_out, generator=generator) * std
        if self.norm:
            params["norm_weight"] = torch.ones(*leading, self.dim)
            params["norm_bias"] = torch.zeros(*leading, self.dim)
        return params

    def __call__(self, params: Params, x: Tensor) -> Tensor:
        """The memory on ``x`` of shape ``(..., dim)`` with unbatched ``params`` (the generic contract)."""
        norm = (params["norm_weight"], params["norm_bias"]) if self.norm else None
        return self._forward(lambda i, h: h @ params[f"weight{i}"], norm, x)[0]

    def _forward(self, layer: LayerMap, norm: tuple[Tensor, Tensor] | None, x: Tensor) -> tuple[Tensor, tuple]:
        """Output and what back-propagation needs: every layer's input and pre-activation, the norm's
        standardised output and inverse std. ``layer(i, h)`` is ``h @ W_i``; ``norm`` the LayerNorm's gain
        and bias, shaped to broadcast against ``x``."""
        inputs, pre_activations = [x], []
        h = x
        for i in range(self.depth):
            h = layer(i, h)
            if i < self.depth - 1:
                pre_activations.append(h)
                h = F.gelu(h)
                inputs.append(h)
        normalized = inv_std = None
        if norm is not None:
            normalized, inv_std = _standardize(h)
            h = normalized * norm[0] + norm[1]
        return (x + h if self.residual else h), (inputs, pre_activations, normalized, inv_std)

    def chunk_step(
        self, params: Params, queries: Tensor, keys: Tensor, values: Tensor, token_weights: Tensor
    ) -> tuple[Tensor, Params]:
        norm = (params["norm_weight"].unsqueeze(1), params["norm_bias"].unsqueeze(1)) if self.norm else None
        retrieved, factors, vector_grads = self.chunk_gradients(
            lambda i, h: h @ params[f"weight{i}"], lambda i, g: g @ params[f"weight{i}"].transpose(-1, -2),
            norm, queries, keys, values)
        return retrieved, self.gradient_sums(factors, vector_grads, token_weights)

    @staticmethod
    def gradient_sums(factors: dict[str, tuple[Tensor, Tensor]], vector_grads: Params, token_weights: Tensor) -> Params:
        """``sum_i w_ik grad_i`` per parameter, ``(B, K, *shape)``, from :meth:`chunk_gradients`'s factored
        gradients of tokens ``i`` ``(B, T, ...)`` and ``K`` sets of their weights ``(B, T, K)``."""
        sums = {name: _weighted_outer(x, e, token_weights) for name, (x, e) in factors.items()}
        weights_t = token_weights.transpose(1, 2)  # (B, K, T)
        sums.update({name: weights_t @ g for name, g in vector_grads.items()})
        return sums

    def chunk_gradients(
        self, layer: LayerMap, layer_t: LayerMap, norm: tuple[Tensor, Tensor] | None,
        queries: Tensor, keys: Tensor, values: Tensor,
    ) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]], Params]:
        """Retrieval and every key's surprise gradient of one chunk, in factored form.

        The memory's weights enter only through ``layer(i, h) = h @ W_i``, ``layer_t(i, g) = g @ W_i^T``
        and ``norm`` (gain and bias ``(B, 1, dim)``), so a caller can apply weights it never forms.

        Returns ``M(W, q)`` ``(B, C, dim)``; per weight matrix, the factors ``(x, e)`` ``(B, C, d_in)``,
        ``(B, C, d_out)`` of each key's gradient ``x_i^T e_i`` of ``||M(W, k_i) - v_i||^2``; per norm
        vector, each key's gradient ``(B, C, dim)``.
        """
        # Queries and keys go through the memory together: half the matrix products, each twice as long.
        chunk = queries.shape[1]
        outputs, (inputs, pre_activations, normalized, inv_std) = self._forward(
            layer, norm, torch.cat([queries, keys], dim=1))
        retrieved, predicted = outputs[:, :chunk], outputs[:, chunk:]
        inputs, pre_activations = [t[:, chunk:] for t in inputs], [t[:, chunk:] for t in pre_activations]
        grad = 2.0 * (predicted - values)  # d loss / d output, per token
        vector_grads: Params = {}
        if norm is not None:
            normalized, inv_std = normalized[:, chunk:], inv_std[:, chunk:]
            vector_grads = {"norm_weight": grad * normalized, "norm_bias": grad}
            g = grad * norm[0]
            grad = inv_std * (g - g.mean(-1, keepdim=True) - normalized * (g * normalized).mean(-1, keepdim=True))
        factors = {}
        for i in reversed(range(self.depth)):
            factors[f"weight{i}"] = (inputs[i], grad)
            if i > 0:
                # aten's fused GELU derivative; it has its own derivative, so this stays twice differentiable.
                grad = torch.ops.aten.gelu_backward(layer_t(i, grad), pre_activations[i - 1])
        return retrieved, factors, vector_grads


def _standardize(h: Tensor) -> tuple[Tensor, Tensor]:
    """LayerNorm without affine: ``((h - mean) * inv_std, inv_std)`` over the last dimension.

    Written out rather than ``F.layer_norm``: under ``torch.func.vmap`` the latter's double backward
    gives wrong gradients (torch 2.13), and the generic path needs exactly that.
    """
    inv_std = torch.rsqrt(h.var(-1, unbiased=False, keepdim=True) + _NORM_EPS)
    return (h - h.mean(-1, keepdim=True)) * inv_std, inv_std


def _weighted_outer(inputs: Tensor, errors: Tensor, token_weights: Tensor) -> Tensor:
    """``sum_c w_ck inputs_c^T errors_c`` for each weight set ``k``: ``(B, K, d_in, d_out)`` in one matmul.

    The ``K`` weighted copies are made of whichever factor is narrower, stacked along its features.
    """
    batch, chunk, sets = token_weights.shape
    d_in, d_out = inputs.shape[-1], errors.shape[-1]
    if d_in <= d_out:
        weighted = (token_weights.unsqueeze(-1) * inputs.unsqueeze(-2)).reshape(batch, chunk, sets * d_in)
        return (weighted.transpose(1, 2) @ errors).view(batch, sets, d_in, d_out)
    weighted = (token_weights.unsqueeze(-1) * errors.unsqueeze(-2)).reshape(batch, chunk, sets * d_out)
    return (inputs.transpose(1, 2) @ weighted).view(batch, d_in, sets, d_out).transpose(1, 2)
