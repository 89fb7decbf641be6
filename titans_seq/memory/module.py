"""``NeuralMemory``: the Titans long-term memory as a sequence layer, with streaming state."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from titans_seq._checks import flag, hidden_width, nonnegative_int, positive_int, positive_number, sequence_input
from titans_seq._tensors import appended
from titans_seq.memory.conv import causal_depthwise_conv
from titans_seq.memory.models import MemoryMLP
from titans_seq.memory.scan import _scan, read_memory, update_dtype

__all__ = ["MemoryState", "NeuralMemory", "detach_state"]


@dataclass
class MemoryState:
    """Where a :class:`NeuralMemory` stopped reading, so the next piece continues exactly.

    Chunks are counted from the start of the sequence. The tokens of an unfinished chunk are kept in
    ``pending_*`` and written to the memory once their chunk is complete, so feeding a sequence in
    pieces of any lengths gives the same output as feeding it at once.
    """

    params: dict[str, Tensor]  # memory weights at the start of the unfinished chunk, (batch * heads, ...)
    surprise: dict[str, Tensor] | None  # momentum at that point; None in a fresh state (zero)
    pending_keys: Tensor  # (batch * heads, p, head_dim), p < chunk_size
    pending_values: Tensor  # (batch * heads, p, head_dim)
    pending_gates: Tensor  # (batch * heads, p, 3) gate logits: lr, momentum, forget
    conv_cache: Tensor  # (batch, kernel - 1, 3 * heads * head_dim): projections before the convolution
    position: int  # tokens read so far

    def detach(self) -> MemoryState:
        """The same state cut from the autograd graph (truncated back-propagation through time)."""
        return detach_state(self)


def detach_state(state):
    """``state`` with every tensor inside it (dataclasses, dicts, lists, tuples, named tuples) detached from the
    graph."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a named tuple takes its fields one by one
        return type(state)(*(detach_state(v) for v in state))
    if isinstance(state, (list, tuple)):
        return type(state)(detach_state(v) for v in state)
    if is_dataclass(state) and not isinstance(state, type):
        return replace(state, **{f.name: detach_state(getattr(state, f.name)) for f in fields(state)})
    return state


class NeuralMemory(nn.Module):
    """Multi-head neural long-term memory (Titans, section 3) as a layer ``(B, N, dim) -> (B, N, dim)``.

    Per head: ``q, k, v`` are linear projections of the RMS-normalised input, each passed through a
    causal depthwise convolution and SiLU, and l2-normalised (``v`` optionally, see ``normalize_values``).
    Per token and head, the data-dependent gates are ``theta = max_lr * sigmoid(.)`` (learning rate),
    ``eta = sigmoid(.)`` (momentum) and ``alpha = sigmoid(.)`` (forgetting); with ``ema_momentum``
    (the default) the learning rate passed to the update is ``theta * (1 - eta)``. The memory (an MLP
    whose learned initial weights are parameters of this module) is read and trained by
    :func:`~titans_seq.memory.neural_memory_scan`; its per-head read-out is RMS-normalised, gated by
    ``SiLU(linear(x))`` and projected back to ``dim``.

    Args:
        dim: model width.
        heads, head_dim: memory heads and their width (default ``dim // heads``).
        chunk_size: tokens whose gradients are taken at the same memory state.
        memory_depth, memory_expansion: layers of the memory MLP (1 = linear memory) and hidden width factor.
        max_lr: upper bound of the per-token inner learning rate theta. The default is
            ``1 / (2 * chunk_size)`` (``1 / (32 * chunk_size)`` with ``memory_norm``). All of a chunk's
            gradients are taken at the chunk start, so their steps add up: on a chunk of equal keys the
            summed step must stay below 1 (linear memory, unit keys), which this bound ensures.
        ema_momentum: make the momentum an exponential moving average of the surprises by passing
            ``theta * (1 - eta)`` as the learning rate. The total step a token ever contributes (before
            forgetting) is then ``theta`` where eta stays constant, against ``theta / (1 - eta)`` with the paper's
            literal ``theta`` (``False``); eta is per token, and later tokens of a larger eta carry it further,
            up to ``theta * (1 - eta_t) / (1 - max of the later eta)``. With the literal form, in our recall runs
            training raised eta until the memory diverged within a few hundred steps.
        momentum, forgetting: ``False`` fixes eta or alpha at 0 (the paper's ablations).
        per_chunk_gates: gates computed once per chunk from its mean input, instead of per token.
        memory_residual, memory_norm: the memory adds its input to its output (``x + MLP(x)``) and normalises
            the MLP's output (``LayerNorm(MLP(x))``); both: ``x + LayerNorm(MLP(x))``.
        conv_kernel: width of the causal convolution (1 = none).
        normalize_values: l2-normalise the values per head like the queries and keys. The paper
            normalises only q and k; since the read-out is RMS-normalised anyway, the values' scale
            carries nothing downstream, and fixing it keeps the inner problem's curvature (and so the
            stable learning rate) independent of the outer weights. ``False`` is the paper's literal form.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        head_dim: int | None = None,
        chunk_size: int = 64,
        memory_depth: int = 2,
        memory_expansion: float = 4.0,
        max_lr: float | None = None,
        momentum: bool = True,
        forgetting: bool = True,
        per_chunk_gates: bool = False,
        memory_residual: bool = False,
        memory_norm: bool = False,
        conv_kernel: int = 4,
        normalize_values: bool = True,
        ema_momentum: bool = True,
    ):
        super().__init__()
        self.dim = positive_int("dim", dim)
        self.heads = positive_int("heads", heads)
        if head_dim is None:
            if dim % heads:
                raise ValueError(f"dim ({dim}) must be divisible by heads ({heads}) unless head_dim is given")
            head_dim = dim // heads
        self.head_dim = positive_int("head_dim", head_dim)
        self.chunk_size = positive_int("chunk_size", chunk_size)
        self.conv_kernel = positive_int("conv_kernel", conv_kernel)
        if max_lr is None:
            # LayerNorm's backward scales gradients by gain / std, ~16x at initialisation (measured).
            max_lr = 1.0 / (2 * chunk_size * (16 if memory_norm else 1))
        self.max_lr = positive_number("max_lr", max_lr)
        self.use_momentum, self.use_forgetting = flag("momentum", momentum), flag("forgetting", forgetting)
        self.per_chunk_gates = flag("per_chunk_gates", per_chunk_gates)
        self.normalize_values, self.ema_momentum = flag("normalize_values", normalize_values), flag("ema_momentum",
                                                                                                    ema_momentum)
        positive_int("memory_depth", memory_depth)
        hidden_width("memory_expansion", memory_expansion, "head_dim", self.head_dim)

        self.inner = inner = self.heads * self.head_dim
        self.input_norm = nn.RMSNorm(dim)
        # One matmul for everything read off the input: q, k, v, the 3 gates per head, the output gate.
        self.to_inputs = nn.Linear(dim, 3 * inner + 3 * self.heads + inner)
        bound = conv_kernel ** -0.5  # nn.Conv1d's default initialisation for a depthwise kernel
        self.conv_weight = nn.Parameter(torch.empty(3 * inner, conv_kernel).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(3 * inner).uniform_(-bound, bound))
        self.memory = MemoryMLP(self.head_dim, memory_depth, memory_expansion, flag("memory_residual", memory_residual),
                                flag("memory_norm", memory_norm))
        self.memory_init = nn.ParameterDict(
            {name: nn.Parameter(value) for name, value in self.memory.init_params(self.heads).items()}
        )
        self.out_norm_weight = nn.Parameter(torch.ones(self.heads, self.head_dim))
        self.to_out = nn.Linear(inner, dim, bias=False)
        self._init_input_projection()

    def _init_input_projection(self) -> None:
        # Start with theta ~ 0.73 max_lr, eta ~ 0.5 and alpha ~ 1e-3 (a half-life of ~800 tokens);
        # the outer loop adapts all three.
        gates = slice(3 * self.inner, 3 * self.inner + 3 * self.heads)
        with torch.no_grad():
            self.to_inputs.bias.zero_()
            self.to_inputs.weight[gates].normal_(std=0.02)
            self.to_inputs.bias[gates] = torch.tensor([1.0, 0.0, -7.0]).repeat(self.heads)

    def initial_state(self, batch: int) -> MemoryState:
        """The state before any token: the learned initial weights, zero momentum, nothing pending."""
        nonnegative_int("batch", batch)
        params = {
            name: p.unsqueeze(0).expand(batch, *p.shape).reshape(batch * self.heads, *p.shape[1:])
            for name, p in self.memory_init.items()
        }
        ref = self.to_out.weight
        empty = ref.new_zeros(batch * self.heads, 0, self.head_dim)
        return MemoryState(
            params=params,
            surprise=None,  # zero, and cheaper for the scan to know it
            pending_keys=empty,
            pending_values=empty,
            pending_gates=ref.new_zeros(batch * self.heads, 0, 3),
            conv_cache=ref.new_zeros(batch, self.conv_kernel - 1, 3 * self.inner),
            position=0,
        )

    def _check(self, name: str, x: Tensor, width: int, state: MemoryState | None) -> None:
        """``x`` (called ``name``) is a float tensor ``(batch, length, width)`` and ``state`` one of this memory's
        for that batch."""
        sequence_input(name, x, width, self.to_out.weight.dtype, "memory")
        if state is None:
            return
        if not isinstance(state, MemoryState):
            raise ValueError(f"state must be a MemoryState or None, got {type(state).__name__}")
        batch = x.shape[0]
        if state.conv_cache.shape[0] != batch:
            raise ValueError(f"state is for batch size {state.conv_cache.shape[0]}, but {name} has {batch}")
        pending = state.pending_keys.shape
        if (state.conv_cache.shape[1:] != (self.conv_kernel - 1, 3 * self.inner)
                or pending[0] != batch * self.heads or pending[1] >= self.chunk_size or pending[2] != self.head_dim):
            raise ValueError("state comes from a memory with other heads, head_dim, chunk_size or conv_kernel")
        if state.position % self.chunk_size != pending[1]:
            raise ValueError(f"state has {pending[1]} pending tokens after {state.position}, which chunks of "
                             f"{self.chunk_size} do not leave: it comes from a memory with another chunk_size")
        expected = {name: (batch * self.heads, *p.shape[1:]) for name, p in self.memory_init.items()}
        if {name: tuple(p.shape) for name, p in state.params.items()} != expected:
            raise ValueError("state's memory weights are not this memory's (another memory_depth, memory_expansion "
                             "or memory model)")
        state_dtype, own_dtype = next(iter(state.params.values())).dtype, next(iter(self.memory_init.values())).dtype
        if update_dtype(state_dtype) != update_dtype(own_dtype):
            raise ValueError(f"state's memory weights are {state_dtype} but this memory's are {own_dtype}: the state "
                             f"comes from before the memory's dtype changed; start from initial_state")

    def _split_heads(self, t: Tensor) -> Tensor:
        batch, length, width = t.shape
        per_head = width // self.heads  # spelled out: a reshape cannot infer it when batch or length is 0
        return t.reshape(batch, length, self.heads, per_head).transpose(1, 2).reshape(batch * self.heads, length,
                                                                                      per_head)

    def _gates(self, logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """theta, eta, alpha from logits ``(B*H, T, 3)``, ``T`` a multiple of the chunk size; in float32 (or
        float64) also under autocast, since the inner update runs in it: in bf16 an eta of 0.999 is 1."""
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        if self.per_chunk_gates:
            rows, length, _ = logits.shape
            chunked = logits.reshape(rows, length // self.chunk_size, self.chunk_size, 3)
            logits = chunked.mean(2, keepdim=True).expand_as(chunked).reshape(rows, length, 3)
        lr, momentum, forget = logits.unbind(-1)
        lr = self.max_lr * torch.sigmoid(lr)
        momentum = torch.sigmoid(momentum) if self.use_momentum else torch.zeros_like(momentum)
        forget = torch.sigmoid(forget) if self.use_forgetting else torch.zeros_like(forget)
        if self.ema_momentum:
            lr = lr * (1 - momentum)
        return lr, momentum, forget

    def _read_inputs(self, x: Tensor, state: MemoryState) -> tuple[Tensor, ...]:
        """Everything read off the input: the projections before the convolution (with the cached
        ones in front), per-head queries, keys and values ``(B*H, N, d)``, gate logits and the output gate."""
        normed = self.input_norm(x.to(self.input_norm.weight.dtype))  # bfloat16 inputs under autocast too
        qkv, gate_logits, out_gate = self.to_inputs(normed).split([3 * self.inner, 3 * self.heads, self.inner], -1)
        projected = torch.cat([state.conv_cache.to(qkv.dtype), qkv], dim=1)
        mixed = causal_depthwise_conv(projected, self.conv_weight.to(qkv.dtype), self.conv_bias.to(qkv.dtype))
        q, k, v = (self._split_heads(t) for t in F.silu(mixed).split(self.inner, dim=-1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if self.normalize_values:
            v = F.normalize(v, dim=-1)
        return projected, q, k, v, self._split_heads(gate_logits), out_gate

    @torch.no_grad()
    def inspect(self, x: Tensor) -> dict[str, Tensor]:
        """A look inside, reading ``x`` ``(B, N, dim)`` from the initial state: per head and token the
        queries, keys and values ``(B*heads, N, head_dim)`` and the gates the update uses, ``lr`` (theta as
        passed to the scan), ``momentum`` (eta) and ``forget`` (alpha), ``(B*heads, N)``; with per-chunk
        gates, only whole chunks."""
        self._check("x", x, self.dim, None)
        _, q, k, v, logits, _ = self._read_inputs(x, self.initial_state(x.shape[0]))
        whole = logits.shape[1] // self.chunk_size * self.chunk_size if self.per_chunk_gates else logits.shape[1]
        lr, momentum, forget = self._gates(logits[:, :whole])
        return {"queries": q, "keys": k, "values": v, "lr": lr, "momentum": momentum, "forget": forget}

    def _read_out(self, retrieved: Tensor, batch: int) -> Tensor:
        """Per-head RMS-normalised read-out ``(B*H, T, d)`` merged into ``(B, T, heads * head_dim)``."""
        out = retrieved.unflatten(0, (batch, self.heads)).transpose(1, 2)
        return (F.rms_norm(out, (self.head_dim,)) * self.out_norm_weight).flatten(2)

    def read(self, queries: Tensor, state: MemoryState | None = None) -> Tensor:
        """Read the memory as of ``state`` without writing to it.

        ``queries`` ``(B, T, heads * head_dim)`` come from the caller's own projection (MAC's ``W_Q``,
        paper eq. 21); they are l2-normalised per head here. Returns ``(B, T, dim)``.
        """
        self._check("queries", queries, self.inner, state)
        batch = queries.shape[0]
        state = state if state is not None else self.initial_state(batch)
        q = F.normalize(self._split_heads(queries), dim=-1)
        # The memory reads in float32 (as it writes); the projection takes the caller's dtype, bf16 in a bf16 model.
        return self.to_out(self._read_out(read_memory(self.memory, state.params, q), batch).to(queries.dtype))

    def forward(self, x: Tensor, state: MemoryState | None = None) -> tuple[Tensor, MemoryState]:
        """Read ``x`` of shape ``(B, N, dim)`` after ``state`` (a fresh memory when ``None``).

        Returns the memory's output ``(B, N, dim)`` and the state after the last token. Token ``t``'s
        output depends on tokens ``<= t`` only.
        """
        self._check("x", x, self.dim, state)
        batch, length, _ = x.shape
        if state is None:
            state = self.initial_state(batch)
        if length == 0:
            return self.to_out(self.to_out.weight.new_zeros(batch, 0, self.inner)), state
        projected, q, k, v, logits, out_gate = self._read_inputs(x, state)

        # Continue the unfinished chunk: its tokens come first; only whole chunks are written now.
        pending = state.pending_keys.shape[1]
        keys, values, logits = (appended(p, t, 1) for p, t in [(state.pending_keys, k), (state.pending_values, v),
                                                               (state.pending_gates, logits)])
        queries = appended(q.new_zeros(q.shape[0], pending, q.shape[2]), q, 1)
        written = (pending + length) // self.chunk_size * self.chunk_size

        retrieved, params, surprise = _scan(
            self.memory, state.params, keys[:, :written], values[:, :written], queries[:, :written],
            *self._gates(logits[:, :written]), chunk_size=self.chunk_size, surprise=state.surprise, read_gates=False,
        )
        if written < pending + length:  # the new unfinished chunk reads the memory as of its start
            retrieved = torch.cat([retrieved, read_memory(self.memory, params, queries[:, written:])], dim=1)
        retrieved = retrieved[:, pending:]

        out = self._read_out(retrieved, batch).to(out_gate.dtype) * F.silu(out_gate)
        new_state = MemoryState(
            params=params,
            surprise=surprise,
            pending_keys=keys[:, written:],
            pending_values=values[:, written:],
            pending_gates=logits[:, written:],
            conv_cache=projected[:, projected.shape[1] - (self.conv_kernel - 1):],
            position=state.position + length,
        )
        return self.to_out(out), new_state
