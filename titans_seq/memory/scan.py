"""The chunked update of the Titans neural long-term memory (paper section 3) as one pure function.

For one sequence, with tokens taken in chunks of ``C`` and ``W_c`` the memory at the start of the
current chunk, token ``i`` of the chunk does

    y_i = M(W_c, q_i)                              retrieval reads the chunk-start memory
    u_i = grad_W || M(W_c, k_i) - v_i ||^2         surprise gradient, taken at W_c
    S_i = eta_i * S_{i-1} - theta_i * u_i          momentum, carried across chunks
    W_i = (1 - alpha_i) * W_{i-1} + S_i            forgetting

Unrolled over a chunk, both end states are linear in the chunk-start states and in the ``u_i``:

    S_C = E * S_0 - sum_i a_i u_i          W_C = A * W_0 + D * S_0 - sum_i r_i u_i

with scalar coefficients (``E``, ``A``, ``D``, ``a_i``, ``r_i``) that depend on the gates alone, so
they are computed for all chunks at once before the sequential loop (``chunk_coefficients``). Inside
the loop a chunk then needs only two gradient-weighted sums, ``sum_i a_i u_i`` and ``sum_i r_i u_i``:
the gradient of a weighted inner loss, never the per-token gradients themselves. The state update
itself has a hand-written backward (``_ChunkStateUpdate``): with small chunks, moving state-sized
tensors, not arithmetic, is what the scan's back-propagation spends its time on. For the same reason
a short sequence of the built-in memory, from zero momentum, skips the per-chunk states altogether
(``_scan_factored``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from titans_seq._checks import positive_int
from titans_seq.memory.models import ChunkStepper, MemoryMLP

__all__ = ["ChunkCoefficients", "chunk_coefficients", "neural_memory_scan"]

MemoryFn = Callable[[dict[str, Tensor], Tensor], Tensor]
Params = dict[str, Tensor]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class ChunkCoefficients(NamedTuple):
    """Scalars that map a chunk's start state and gradients to its end state (see module docstring).

    ``state_gains`` ``(B, n_chunks, 3)`` holds ``E``, ``D`` and ``A``; ``token_weights``
    ``(B, n_chunks, C, 2)`` holds ``a_i`` (into the momentum) and ``r_i`` (into the weights), so that
    ``S_C = E S_0 - sum_i a_i u_i`` and ``W_C = A W_0 + D S_0 - sum_i r_i u_i``.
    """

    state_gains: Tensor
    token_weights: Tensor


def chunk_coefficients(lr: Tensor, momentum: Tensor, forget: Tensor, chunk_size: int) -> ChunkCoefficients:
    """Coefficients of every chunk for gates of shape ``(B, N)``; a short last chunk is padded.

    Suffix scans over the positions of a chunk, vectorised over sequences and chunks, form every
    product of gates directly (no logarithms, so gates of exactly 0 or 1 are exact). Padded
    positions carry the momentum through unchanged and add nothing to the weights.
    """
    batch, length = lr.shape
    n_chunks = -(-length // chunk_size)
    pad = n_chunks * chunk_size - length

    def chunked(t: Tensor, fill: float) -> Tensor:
        return F.pad(t, (0, pad), value=fill).reshape(batch, n_chunks, chunk_size)

    def from_next(t: Tensor) -> Tensor:
        """Each position's successor, 1 after the last: what an exclusive suffix product multiplies."""
        return F.pad(t[..., 1:], (0, 1), value=1.0)

    eta, keep = chunked(momentum, 1.0), chunked(1.0 - forget, 1.0)
    is_token = (torch.arange(n_chunks * chunk_size, device=lr.device) < length).reshape(n_chunks, chunk_size)

    # Position i = 0..C is the state after i tokens of the chunk; with l, m over positions 1..C,
    #   a_i = prod_{l>i} eta_l,  b_i = prod_{l>i} (1 - alpha_l),
    #   r_i = sum_{m >= max(i, 1), m a token} b_m prod_{i<l<=m} eta_l  =  [i a token] b_i + eta_{i+1} r_{i+1},
    # since W_C = A W_0 + sum_m b_m S_m and S_m = eta_m S_{m-1} - theta_m u_m. The scans give positions 1..C.
    b, _ = _suffix_scan(from_next(keep))
    a, r = _suffix_scan(from_next(eta), is_token.to(lr.dtype) * b)
    first_eta = eta[..., 0]
    theta = chunked(lr, 0.0)
    return ChunkCoefficients(
        state_gains=torch.stack([first_eta * a[..., 0], first_eta * r[..., 0], keep[..., 0] * b[..., 0]], dim=-1),
        token_weights=torch.stack([theta * a, theta * r], dim=-1),
    )


def _suffix_scan(gains: Tensor, terms: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """``P_j = prod_{l>=j} g_l`` and ``x_j = t_j + g_j x_{j+1}`` (``x`` is 0 past the end) along the last
    dimension, in ``ceil(log2(L))`` doubling steps (Hillis and Steele) instead of ``L`` sequential ones:
    a chunk of 256 then costs 8 rounds of a few vectorised operations, not 256 (on a GPU, each one a
    kernel launch). Only products and sums, so it stays exact for gains of 0 and 1. ``terms`` may be
    ``None`` for the products alone."""
    length, shift = gains.shape[-1], 1
    while shift < length:
        if terms is not None:
            terms = terms + gains * F.pad(terms[..., shift:], (0, shift))
        gains = gains * F.pad(gains[..., shift:], (0, shift), value=1.0)
        shift *= 2
    return gains, terms


class _ChunkStateUpdate(torch.autograd.Function):
    """``S' = E S + G_S`` and ``W' = A W + D S + G_W`` for one parameter, with per-sequence gains.

    Takes ``surprise`` and ``weights`` ``(B, *shape)``, ``gains`` ``(B, 3)`` = ``(E, D, A)`` and the
    chunk's signed gradient sums ``G_S``, ``G_W`` ``(B, *shape)``. Written by hand because autograd's
    backward of the same update (as elementwise products, or as one batched matmul on a stacked
    ``[S; W]``) writes several state-sized temporaries per chunk, which with small chunks costs more
    than the chunk's arithmetic; this one writes only the two gradients it returns. It is made of
    differentiable operations, so second-order gradients flow through it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(surprise: Tensor, weights: Tensor, gains: Tensor, surprise_step: Tensor,
                weights_step: Tensor) -> tuple[Tensor, Tensor]:
        e, d, a = _per_sequence_gains(gains, surprise.dim())
        return torch.addcmul(surprise_step, e, surprise), torch.addcmul(weights_step, a, weights).addcmul_(d, surprise)

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, ...], output: tuple[Tensor, Tensor]) -> None:
        surprise, weights, gains, _, _ = inputs
        ctx.save_for_backward(surprise, weights, gains)

    @staticmethod
    def backward(ctx, grad_surprise: Tensor, grad_weights: Tensor) -> tuple[Tensor | None, ...]:
        surprise, weights, gains = ctx.saved_tensors
        e, d, a = _per_sequence_gains(gains, surprise.dim())
        grad_gains = None
        if ctx.needs_input_grad[2]:
            grad_gains = torch.stack([_batched_dot(grad_surprise, surprise), _batched_dot(grad_weights, surprise),
                                      _batched_dot(grad_weights, weights)], dim=-1)
        return ((e * grad_surprise).addcmul_(d, grad_weights), a * grad_weights, grad_gains,
                grad_surprise, grad_weights)


def _per_sequence(scalars: Tensor, dim: int) -> Tensor:
    """Per-sequence scalars ``(B,)`` shaped ``(B, 1, ..., 1)`` to scale a ``dim``-dimensional ``(B, ...)`` tensor."""
    return scalars.view(-1, *[1] * (dim - 1))


def _per_sequence_gains(gains: Tensor, dim: int) -> tuple[Tensor, ...]:
    """The gains ``(B, 3)`` as ``E``, ``D``, ``A``, each shaped by :func:`_per_sequence`."""
    return tuple(_per_sequence(g, dim) for g in gains.unbind(1))


def _batched_dot(x: Tensor, y: Tensor) -> Tensor:
    """``sum(x_b * y_b)`` per sequence ``b``. (A batched matrix product of vectors, with no
    temporary, measured 4-5x slower on the CPU.)"""
    product = x * y
    return product.flatten(1).sum(1) if product.dim() > 1 else product  # a per-sequence scalar weight is (B,)


def update_dtype(state_dtype: torch.dtype) -> torch.dtype:
    """The dtype the memory is read and updated in for weights of ``state_dtype``: float64 for float64, else float32
    (low-precision weights are promoted)."""
    return torch.float64 if state_dtype == torch.float64 else torch.float32


def _check_params(memory_fn: MemoryFn, params: Mapping[str, Tensor]) -> None:
    """``memory_fn`` can be called and ``params`` are a non-empty dict of weights; for a :class:`MemoryMLP`, its
    weights, with one leading (batch) dimension."""
    if not callable(memory_fn):
        raise ValueError(f"memory_fn must be callable, got {type(memory_fn).__name__}")
    if not isinstance(params, Mapping) or not params:
        raise ValueError(f"params must be a non-empty dict of tensors, got {type(params).__name__}")
    if not isinstance(memory_fn, MemoryMLP):
        return
    expected = memory_fn.param_shapes()
    if set(params) != set(expected):
        raise ValueError(f"params must hold the weights {sorted(expected)} of {memory_fn!r}, got {sorted(params)}")
    for name, shape in expected.items():
        if not isinstance(params[name], Tensor) or tuple(params[name].shape[1:]) != shape:
            got = tuple(params[name].shape) if isinstance(params[name], Tensor) else type(params[name]).__name__
            raise ValueError(f"params[{name!r}] must have shape (batch, {', '.join(map(str, shape))}), got {got}")


def _check_feature_size(memory_fn: MemoryFn, tensors: dict[str, Tensor]) -> None:
    """The ``tensors`` (by name) have a :class:`MemoryMLP`'s feature size (another memory says its own)."""
    if isinstance(memory_fn, MemoryMLP):
        for name, t in tensors.items():
            if t.shape[-1] != memory_fn.dim:
                raise ValueError(f"{name} must have the memory's feature size {memory_fn.dim}, got {t.shape[-1]}")


def read_memory(memory_fn: MemoryFn, params: Mapping[str, Tensor], queries: Tensor) -> Tensor:
    """Retrieval only: ``M(W_b, q_bi)`` for batched ``params`` ``(B, *shape)`` and ``queries`` ``(B, N, d)``.

    Like the scan, it computes in the memory's own precision (float32 for low-precision memories),
    also under autocast.
    """
    _check_params(memory_fn, params)
    if not isinstance(queries, Tensor) or queries.dim() != 3:
        got = tuple(queries.shape) if isinstance(queries, Tensor) else type(queries).__name__
        raise ValueError(f"queries must have shape (batch, length, features), got {got}")
    if not queries.is_floating_point():
        raise ValueError(f"queries must be a floating-point tensor, got {queries.dtype}")
    _check_feature_size(memory_fn, {"queries": queries})
    batches = {t.shape[0] for t in params.values()}
    if batches != {queries.shape[0]}:
        raise ValueError(f"params and queries must have the same batch size, got {sorted(batches)} and "
                         f"{queries.shape[0]}")
    dtype = next(iter(params.values())).dtype
    compute = update_dtype(dtype)
    with torch.autocast(device_type=queries.device.type, enabled=False):
        params = {k: v.to(compute) for k, v in params.items()}
        return torch.func.vmap(torch.func.vmap(memory_fn, in_dims=(None, 0)))(params, queries.to(compute))


def _generic_chunk_step(
    memory_fn: MemoryFn, params: Params, queries: Tensor, keys: Tensor, values: Tensor, token_weights: Tensor
) -> tuple[Tensor, Params]:
    """Retrieval and weighted surprise gradients of one chunk for any ``torch.func``-transformable memory.

    Returns ``M(W, q)`` of shape ``(B, C, d_out)`` and, per parameter, ``(B, K, *shape)`` holding
    ``sum_i w_ik grad_W ||M(W, k_i) - v_i||^2`` for each of the ``K`` columns of ``token_weights``.
    """
    read = torch.func.vmap(memory_fn, in_dims=(None, 0))

    def one_sequence(p: Params, q: Tensor, k: Tensor, v: Tensor, w: Tensor) -> tuple[Tensor, Params]:
        predicted, pullback = torch.func.vjp(lambda p_: read(p_, k), p)
        if predicted.shape != v.shape:  # shapes are static under vmap: this reads nothing from the device
            raise ValueError(f"memory_fn must map a token to a vector of the values' size {v.shape[-1]}, got "
                             f"shape {tuple(predicted.shape[1:])}")
        # The inner loss is linear in its cotangent, so a weighted sum of per-token gradients is
        # the pull-back of the per-token errors scaled by their weights.
        cotangents = 2.0 * w.transpose(0, 1).unsqueeze(-1) * (predicted - v)
        (grads,) = torch.func.vmap(pullback)(cotangents)
        return read(p, q), grads

    return torch.func.vmap(one_sequence)(params, queries, keys, values, token_weights)


def _scan_factored(
    memory: MemoryMLP, weights: Params, queries: tuple[Tensor, ...], keys: tuple[Tensor, ...],
    values: tuple[Tensor, ...], token_weights: tuple[Tensor, ...], gains: tuple[Tensor, ...],
) -> tuple[Tensor, Params, Params]:
    """The chunk loop for :class:`MemoryMLP` from zero momentum, without forming the memory at any chunk.

    From zero momentum, the memory at a chunk start is ``omega_c W_0`` plus a combination of the
    gradients seen so far, and one token's gradient of a weight matrix is an outer product ``x^T e``.
    So ``h @ W_c = omega_c (h @ W_0) + ((h @ X^T) * c) @ E`` over the earlier keys' factors ``X``,
    ``E``, with per-token coefficients ``c`` swept forward through the chunks' gains, and the end
    states are formed once. On a short sequence that moves a few small matrices instead of every
    sequence's full state per chunk. Arguments are chunked as in the main loop; ``token_weights``
    hold the signed ``-a_i``, ``-r_i``.
    """
    w_from_start = queries[0].new_ones(queries[0].shape[0])  # omega
    in_surprise = in_weights = queries[0].new_zeros(queries[0].shape[0], 0)  # each earlier token's coefficient
    factors: dict[str, tuple[Tensor, Tensor]] = {}  # weight matrix -> earlier keys' (x, e)
    vector_grads: Params = {}  # norm vector -> earlier keys' gradients

    def applied(h: Tensor, name: str, transpose: bool) -> Tensor:
        """``h @ W_c`` (or ``h @ W_c^T``) for the weight matrix ``name``."""
        start = weights[name].transpose(-1, -2) if transpose else weights[name]
        out = (h @ start) * _per_sequence(w_from_start, h.dim())
        if name in factors:
            x, e = factors[name][::-1] if transpose else factors[name]
            out = out + ((h @ x.transpose(1, 2)) * in_weights.unsqueeze(1)) @ e
        return out

    def norm_vector(name: str) -> Tensor:
        """The LayerNorm's gain or bias ``name`` at the chunk start, ``(B, 1, dim)``."""
        out = weights[name] * _per_sequence(w_from_start, 2)
        if name in vector_grads:
            out = out + (in_weights.unsqueeze(1) @ vector_grads[name]).squeeze(1)
        return out.unsqueeze(1)

    retrieved = []
    for c in range(len(queries)):
        norm = (norm_vector("norm_weight"), norm_vector("norm_bias")) if memory.norm else None
        read, new_factors, new_vector_grads = memory.chunk_gradients(
            lambda i, h: applied(h, f"weight{i}", False), lambda i, g: applied(g, f"weight{i}", True),
            norm, queries[c], keys[c], values[c])
        retrieved.append(read)
        factors = {n: tuple(torch.cat([factors[n][j], f[j]], 1) if n in factors else f[j] for j in range(2))
                   for n, f in new_factors.items()}
        vector_grads = {n: torch.cat([vector_grads[n], g], 1) if n in vector_grads else g
                        for n, g in new_vector_grads.items()}
        e, d, a = (g.unsqueeze(1) for g in gains[c].unbind(-1))
        in_surprise, in_weights = (torch.cat([e * in_surprise, token_weights[c][..., 0]], 1),
                                   torch.cat([d * in_surprise + a * in_weights, token_weights[c][..., 1]], 1))
        w_from_start = a.squeeze(1) * w_from_start

    # Both end states in one pass over the factors, as the loop with states sums each chunk.
    sums = memory.gradient_sums(factors, vector_grads, torch.stack([in_surprise, in_weights], -1))
    return (torch.cat(retrieved, dim=1),
            {n: sums[n][:, 1] + weights[n] * _per_sequence(w_from_start, weights[n].dim()) for n in weights},
            {n: sums[n][:, 0] for n in weights})


def _factored_is_cheaper(memory: MemoryMLP, length: int) -> bool:
    """Whether :func:`_scan_factored` beats the chunk loop with states on ``length`` tokens: while the
    tokens' gradient factors take at most ``_FACTORED_BREAK_EVEN`` times the room of the weights."""
    sizes = list(zip(memory.sizes[:-1], memory.sizes[1:], strict=True))
    factors = length * sum(n_in + n_out for n_in, n_out in sizes)
    return factors <= _FACTORED_BREAK_EVEN * sum(n_in * n_out for n_in, n_out in sizes)


# Measured on the 2-core CPU, training (forward + backward), one thread: the factored loop was 1.36x as
# fast at 1.1 (the forecaster's 12 tokens of a 16-32-16 memory), even at 2.25, and 0.74x at 4.5.
_FACTORED_BREAK_EVEN = 2.0


def _fast_path_owner(memory_fn: MemoryFn) -> type | None:
    """The class whose fast path computes ``memory_fn``, or ``None`` for the generic path. A fast path is
    used only where one class wrote it, the function (``__call__``; ``forward`` for a ``nn.Module``) and every
    method the two share (:attr:`ChunkStepper.fast_path_shares`): a subclass that overrides the function, or a
    shared part of it, alone computes another function, whose gradient the inherited fast path does not take."""
    if not isinstance(memory_fn, ChunkStepper):
        return None

    def defining(method: str) -> type:
        return next(c for c in type(memory_fn).__mro__ if method in vars(c))

    owner = defining("forward" if isinstance(memory_fn, torch.nn.Module) else "__call__")
    methods = ("chunk_step", *memory_fn.fast_path_shares)
    return owner if all(defining(method) is owner for method in methods) else None


# Each gate's range, and how an error states it.
_GATE_BOUNDS = {"lr": (0, math.inf, "finite and >= 0"), "momentum": (0, 1, "in [0, 1]"), "forget": (0, 1, "in [0, 1]")}


def _check_inputs(
    memory_fn: MemoryFn,
    params: Mapping[str, Tensor],
    keys: Tensor,
    values: Tensor,
    queries: Tensor,
    gates: dict[str, Tensor],
    chunk_size: int,
    surprise: Mapping[str, Tensor] | None,
    read_gates: bool,
) -> torch.dtype:
    """Validate the arguments of :func:`neural_memory_scan` and return the dtype the update runs in. ``read_gates``:
    also check the gates' values, which reads them (a host-device sync)."""
    positive_int("chunk_size", chunk_size)
    _check_params(memory_fn, params)
    tensors = {"keys": keys, "values": values, "queries": queries, **gates}
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    for name, t in {"keys": keys, "values": values, "queries": queries}.items():
        if t.dim() != 3:
            raise ValueError(f"{name} must have shape (batch, length, features), got shape {tuple(t.shape)}")
    batch, length = keys.shape[:2]
    for name, t in {"values": values, "queries": queries}.items():
        if t.shape[:2] != (batch, length):
            raise ValueError(
                f"{name} must have batch and length {(batch, length)} like keys, got shape {tuple(t.shape)}"
            )
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(f"queries must have keys' feature size {keys.shape[-1]}, got {queries.shape[-1]}")
    _check_feature_size(memory_fn, {"keys": keys, "values": values})
    for name, t in gates.items():
        if t.shape != (batch, length):
            raise ValueError(f"{name} must have shape (batch, length) = {(batch, length)}, got {tuple(t.shape)}")

    states = {f"params[{k!r}]": v for k, v in params.items()}
    if surprise is not None:
        if not isinstance(surprise, Mapping) or set(surprise) != set(params):
            raise ValueError(f"surprise must be a dict with the keys of params {sorted(params)}, got {surprise!r:.80}")
        states.update({f"surprise[{k!r}]": v for k, v in surprise.items()})
        for k, v in surprise.items():
            if not isinstance(v, Tensor):
                raise ValueError(f"surprise[{k!r}] must be a torch.Tensor, got {type(v).__name__}")
            if not isinstance(params[k], Tensor):
                raise ValueError(f"params[{k!r}] must be a torch.Tensor, got {type(params[k]).__name__}")
            if v.shape != params[k].shape:
                raise ValueError(f"surprise[{k!r}] must have the shape of params[{k!r}] {tuple(params[k].shape)}, "
                                 f"got {tuple(v.shape)}")
    state_dtype = None
    for name, t in states.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 1 or t.shape[0] != batch:
            raise ValueError(f"{name} must have a leading batch dimension of {batch}, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
        state_dtype = state_dtype or t.dtype
        if t.dtype != state_dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but the memory state is {state_dtype}; use one dtype")
    # The inner update runs in float32 (or float64): low-precision states and inputs are promoted.
    compute = update_dtype(state_dtype)
    device = keys.device
    for name, t in {**tensors, **states}.items():
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if t.dtype not in (compute, *_LOW_PRECISION):
            raise ValueError(f"{name} has dtype {t.dtype} but the memory update runs in {compute}")
        if t.device != device:
            raise ValueError(f"{name} is on {t.device} but keys are on {device}")
    # Reading the gates' values would stop torch.compile's graph capture (a graph break), so a compiled call
    # skips this check.
    if read_gates and length and not torch.compiler.is_compiling():
        outside = torch.stack([~((gates[n] >= low) & (gates[n] <= high) & gates[n].isfinite()).all()  # NaN too
                               for n, (low, high, _) in _GATE_BOUNDS.items()])
        if bool(outside.any()):  # the one read of the device; the message's details only on failure
            name = list(_GATE_BOUNDS)[int(outside.int().argmax())]
            found = "NaN" if bool(gates[name].isnan().any()) else "values outside"
            raise ValueError(f"{name} must be {_GATE_BOUNDS[name][2]}; it holds {found}")
    return compute


def neural_memory_scan(
    memory_fn: MemoryFn,
    params: Mapping[str, Tensor],
    keys: Tensor,
    values: Tensor,
    queries: Tensor,
    lr: Tensor,
    momentum: Tensor,
    forget: Tensor,
    chunk_size: int,
    surprise: Mapping[str, Tensor] | None = None,
) -> tuple[Tensor, Params, Params]:
    """Read and train a neural memory over a sequence, chunk by chunk (Titans, section 3).

    Args:
        memory_fn: ``(params, x) -> y``, the memory model on one token, with unbatched ``params``
            (a dict of tensors) and ``x`` of shape ``(d_k,)``; anything ``torch.func`` can transform.
            The built-in :class:`~titans_seq.memory.MemoryMLP` takes a faster, equivalent path.
        params: memory weights at the start, each ``(B, *shape)``, one set per sequence.
        keys, values, queries: ``(B, N, d_k)``, ``(B, N, d_v)``, ``(B, N, d_k)``.
        lr, momentum, forget: the per-token gates theta, eta and alpha, ``(B, N)``; eta and alpha in [0, 1].
        chunk_size: tokens per chunk ``C``; gradients are taken at the chunk-start memory and
            ``chunk_size=1`` is exact online gradient descent. ``N`` need not be a multiple of ``C``.
        surprise: momentum state at the start, like ``params`` (zeros when ``None``).

    Returns:
        ``(retrieved, params_out, surprise_out)``: ``M(W_c, q_i)`` for every token ``(B, N, d_v)``,
        and the memory weights and momentum after the last token.

    The semantics are spelled out in the module docstring. The result is differentiable in every
    input, to any order, by reverse mode (``torch.autograd``, ``torch.func.grad`` and ``vjp``; not forward mode).
    The update runs in float32 (float64 for float64 states), also under autocast; float16/bfloat16 inputs are
    promoted.
    """
    return _scan(memory_fn, params, keys, values, queries, lr, momentum, forget, chunk_size, surprise,
                 read_gates=True)


def _scan(
    memory_fn: MemoryFn,
    params: Mapping[str, Tensor],
    keys: Tensor,
    values: Tensor,
    queries: Tensor,
    lr: Tensor,
    momentum: Tensor,
    forget: Tensor,
    chunk_size: int,
    surprise: Mapping[str, Tensor] | None,
    read_gates: bool,
) -> tuple[Tensor, Params, Params]:
    """:func:`neural_memory_scan`; ``read_gates=False`` leaves out the check of the gates' values, for a caller whose
    gates are its own sigmoids (:class:`~titans_seq.memory.NeuralMemory`): NaN inputs then give NaN outputs, as
    in any layer, and no call waits on the device."""
    gates = {"lr": lr, "momentum": momentum, "forget": forget}
    compute = _check_inputs(memory_fn, params, keys, values, queries, gates, chunk_size, surprise, read_gates)
    batch, length = keys.shape[:2]

    with torch.autocast(device_type=keys.device.type, enabled=False):
        weights = {k: v.to(compute) for k, v in params.items()}

        def start_momentum() -> Params:
            # Formed only where needed: the factored loop takes zero momentum without it.
            if surprise is None:
                return {k: torch.zeros_like(v) for k, v in weights.items()}
            return {k: v.to(compute) for k, v in surprise.items()}

        if length == 0:
            return values.new_zeros(batch, 0, values.shape[-1], dtype=compute), weights, start_momentum()

        coef = chunk_coefficients(lr.to(compute), momentum.to(compute), forget.to(compute), chunk_size)
        n_chunks = coef.token_weights.shape[1]
        pad = n_chunks * chunk_size - length

        def chunked(t: Tensor) -> tuple[Tensor, ...]:
            # Padded tokens have zero weight in every update (see chunk_coefficients).
            t = F.pad(t.to(compute), (0, 0, 0, pad)) if pad else t.to(compute)
            return t.reshape(batch, n_chunks, chunk_size, t.shape[-1]).unbind(1)

        # unbind, not indexing: one backward node per tensor instead of one full-size zero fill per chunk.
        q, k, v = chunked(queries), chunked(keys), chunked(values)
        # Negated weights make the step return the update's own signed sums: no state-sized negation.
        token_weights, gains = (-coef.token_weights).unbind(1), coef.state_gains.unbind(1)
        fast = _fast_path_owner(memory_fn)
        if surprise is None and fast is MemoryMLP and _factored_is_cheaper(memory_fn, length):
            retrieved, weights, carried = _scan_factored(memory_fn, weights, q, k, v, token_weights, gains)
            return retrieved[:, :length], weights, carried
        if fast is not None:
            step = memory_fn.chunk_step
        else:
            def step(p: Params, q_: Tensor, k_: Tensor, v_: Tensor, w_: Tensor) -> tuple[Tensor, Params]:
                return _generic_chunk_step(memory_fn, p, q_, k_, v_, w_)

        carried = start_momentum()
        retrieved = []
        for c in range(n_chunks):
            read, steps = step(weights, q[c], k[c], v[c], token_weights[c])
            retrieved.append(read)
            for n, sums in steps.items():
                carried[n], weights[n] = _ChunkStateUpdate.apply(carried[n], weights[n], gains[c], *sums.unbind(1))
        return torch.cat(retrieved, dim=1)[:, :length], weights, carried
