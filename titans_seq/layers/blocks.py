"""The Titans blocks (paper section 4): LMM, MAC, MAG, MAL.

Every block is pre-norm residual, ``x + f(norm(x))``, followed by a feed-forward ``x + FF(norm(x))``,
and maps ``(x, state) -> (x, state)`` on ``(B, T, dim)``. With ``causal=True`` no position sees a
later one and the state lets a long input be fed in pieces with the same result; with
``causal=False`` attention sees both sides and each memory also reads the reversed sequence; there
``present`` ``(B, T)`` marks the positions that hold sequence, so that padding after a sequence (a batch of
different lengths) changes nothing at its positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from titans_seq._checks import hidden_width, present_mask, sequence_input
from titans_seq._tensors import reversed_within
from titans_seq.layers.attention import Attention, AttentionState, SegmentState
from titans_seq.layers.config import TitansConfig
from titans_seq.layers.dropout import Dropout
from titans_seq.memory import MemoryState, NeuralMemory

__all__ = ["BLOCKS", "LMM", "MAC", "MAG", "MAL", "BidirectionalMemory", "FeedForward", "GatedCombination"]


class FeedForward(nn.Module):
    """``Linear -> GELU -> dropout -> Linear``."""

    def __init__(self, dim: int, mult: float, dropout: float):
        super().__init__()
        hidden = hidden_width("mult", mult, "dim", dim)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class GatedCombination(nn.Module):
    """The paper's ``y ⊗ M(x)``: both branches RMS-normalised by learned vectors, mixed per feature by
    an input-dependent gate ``g = sigmoid(W x)`` as ``g * norm(y) + (1 - g) * norm(m)``, then projected."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm_a, self.norm_b = nn.RMSNorm(dim), nn.RMSNorm(dim)
        self.to_gate = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, a: Tensor, b: Tensor, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.to_gate(x))
        # Norm inputs in the weights' dtype, also when autocast made a and b bfloat16.
        dtype = self.norm_a.weight.dtype
        return self.to_out(gate * self.norm_a(a.to(dtype)) + (1 - gate) * self.norm_b(b.to(dtype)))


def _memory_kwargs(config: TitansConfig) -> dict:
    return dict(heads=config.heads, chunk_size=config.memory_chunk, memory_depth=config.memory_depth,
                memory_expansion=config.memory_expansion, max_lr=config.memory_max_lr)


class BidirectionalMemory(nn.Module):
    """Two neural memories, one reading the sequence forwards and one backwards; their outputs are
    concatenated and projected. For encoders that see a whole window; it takes no streaming state."""

    def __init__(self, dim: int, **memory_kwargs):
        super().__init__()
        self.forwards = NeuralMemory(dim, **memory_kwargs)
        self.backwards = NeuralMemory(dim, **memory_kwargs)
        self.combine = nn.Linear(2 * dim, dim, bias=False)

    def forward(self, x: Tensor, state: None = None, present: Tensor | None = None) -> tuple[Tensor, None]:
        """Both readings of ``x``; the backward one reverses each sequence within ``present`` (see
        :func:`reversed_within`), so padding after a sequence reaches neither reading of it."""
        if state is not None:
            raise ValueError("a BidirectionalMemory sees its whole input at once and takes no state")
        sequence_input("x", x, self.combine.out_features, self.combine.weight.dtype, "memory")
        present_mask(present, x)
        ahead, _ = self.forwards(x)
        behind, _ = self.backwards(reversed_within(x, present, 1))
        return self.combine(torch.cat([ahead, reversed_within(behind, present, 1)], dim=-1)), None


def _memory(config: TitansConfig) -> nn.Module:
    kind = NeuralMemory if config.causal else BidirectionalMemory
    return kind(config.dim, **_memory_kwargs(config))


def _attention(config: TitansConfig) -> Attention:
    return Attention(config.dim, config.heads, config.window, config.causal, config.persistent_tokens, config.dropout)


class _Block(nn.Module):
    """Shared tail of every block: dropout on the mixer's output and the feed-forward sub-layer."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.config = config
        self.norm = nn.RMSNorm(config.dim)
        self.ff_norm = nn.RMSNorm(config.dim)
        self.ff = FeedForward(config.dim, config.ff_mult, config.dropout)
        self.drop = Dropout(config.dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.ff(self.ff_norm(x)))

    def _check(self, x: Tensor, state: object, present: Tensor | None) -> None:
        """``x`` is ``(batch, length, dim)`` in the weights' dtype, ``present`` fits it, and only a causal block takes
        a state (a bidirectional one would drop it)."""
        sequence_input("x", x, self.config.dim, self.norm.weight.dtype, type(self).__name__)
        present_mask(present, x)
        if state is not None and not self.config.causal:
            raise ValueError(f"a bidirectional {type(self).__name__} (causal=False) sees its whole input at once and "
                             f"takes no state")

    def _remember(self, x: Tensor, state: MemoryState | None, present: Tensor | None) -> tuple[Tensor, MemoryState]:
        """The block's memory on ``x``: causal with its state, or both readings within ``present``."""
        return self.memory(x, state) if self.config.causal else self.memory(x, None, present)


class LMM(_Block):
    """The long-term memory alone as the sequence mixer (the paper's LMM)."""

    def __init__(self, config: TitansConfig):
        super().__init__(config)
        self.memory = _memory(config)

    def forward(self, x: Tensor, state: MemoryState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, MemoryState | None]:
        self._check(x, state, present)
        out, state = self._remember(self.norm(x), state, present)
        return self._feed_forward(x + self.drop(out)), state


def _own_state(state: object, kind: type):
    """``state`` if it is a ``kind`` (a block's own state); ``None`` gives an empty one."""
    if state is None:
        return kind()
    if not isinstance(state, kind):
        raise ValueError(f"state must be a {kind.__name__} (this block's) or None, got {type(state).__name__}")
    return state


@dataclass
class PairState:
    """State of a block with an attention and a memory (MAG, MAL)."""

    attention: AttentionState | None = None
    memory: MemoryState | None = None


class MAG(_Block):
    """Memory as a gate (eq. 26-28): sliding-window attention over ``[persistent | x]`` and the memory
    in parallel, combined by :class:`GatedCombination`. The memory reads ``x`` alone; the paper prepends the
    persistent tokens to what it reads too (see the README's departures from the paper)."""

    def __init__(self, config: TitansConfig):
        super().__init__(config)
        self.attention = _attention(config)
        self.memory = _memory(config)
        self.combine = GatedCombination(config.dim)

    def forward(self, x: Tensor, state: PairState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, PairState | None]:
        self._check(x, state, present)
        state = _own_state(state, PairState)
        normed = self.norm(x)
        attended, attention_state = self.attention.sliding(normed, state.attention, present)
        remembered, memory_state = self._remember(normed, state.memory, present)
        x = x + self.drop(self.combine(attended, remembered, normed))
        return self._feed_forward(x), (PairState(attention_state, memory_state) if self.config.causal else None)


class MAL(_Block):
    """Memory as a layer (eq. 29-31): the memory, then sliding-window attention over its output. The persistent
    tokens are the attention's prefix, seen by every query, as in MAG; the paper prepends them to the sequence the
    memory reads (see the README's departures from the paper)."""

    def __init__(self, config: TitansConfig):
        super().__init__(config)
        self.memory = _memory(config)
        self.attention_norm = nn.RMSNorm(config.dim)
        self.attention = _attention(config)

    def forward(self, x: Tensor, state: PairState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, PairState | None]:
        self._check(x, state, present)
        state = _own_state(state, PairState)
        remembered, memory_state = self._remember(self.norm(x), state.memory, present)
        x = x + self.drop(remembered)
        attended, attention_state = self.attention.sliding(self.attention_norm(x), state.attention, present)
        x = x + self.drop(attended)
        return self._feed_forward(x), (PairState(attention_state, memory_state) if self.config.causal else None)


@dataclass
class MACState:
    """Where MAC stopped: its memory as of the start of the unfinished segment, and of that segment so far the
    memory written with its attention outputs and its attention's keys and values."""

    memory: MemoryState | None = None
    written: MemoryState | None = None
    attention: SegmentState | None = None


class _MACDirection(nn.Module):
    """The memory of one reading direction of MAC and its retrieval query projection ``W_Q``."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.memory = NeuralMemory(config.dim, **_memory_kwargs(config))
        self.to_query = nn.Linear(config.dim, self.memory.inner, bias=False)


class MAC(_Block):
    """Memory as context (eq. 21-25), per segment ``S`` of ``segment_len`` tokens:

    1. ``h = M*(S W_Q)``: read the memory as of the segment start, without writing;
    2. ``y = Attn([persistent | h | S])``: attention inside the segment;
    3. write ``y`` into the memory and read ``M*(y)``;
    4. output ``y ⊗ M*(y)`` (:class:`GatedCombination`).

    Causality. Read literally, the paper leaks inside a segment twice: in step 2 every position attends
    to all of ``h``, and ``h_j`` is computed from token ``j``; in step 4 position ``i`` reads a memory
    already written with ``y_j`` for later ``j``. In causal mode position ``i`` therefore attends only to
    ``h_j`` and ``S_j`` with ``j <= i``, and ``M*(y_i)`` reads the memory as written by the segment's
    earlier memory chunks (the chunked scan's retrieval), never by ``y_j`` with ``j >= i``. A memory
    chunk shorter than the segment lets later positions read more of the segment.

    With ``causal=False`` attention is full inside the segment, and a second memory runs the same
    recurrence over the reversed sequence; the two outputs are concatenated and projected.
    """

    def __init__(self, config: TitansConfig):
        super().__init__(config)
        self.segment_len = config.segment
        self.attention = _attention(config)
        self.directions = nn.ModuleList([_MACDirection(config) for _ in range(1 if config.causal else 2)])
        self.combine = GatedCombination(config.dim)
        self.merge_directions = None if config.causal else nn.Linear(2 * config.dim, config.dim, bias=False)

    def _read(self, x: Tensor, direction: _MACDirection, state: MACState,
              present: Tensor | None = None) -> tuple[Tensor, MACState]:
        """One direction over ``x``, segment by segment, the first continuing the state's unfinished one, so that
        each token is read once however the input is cut. ``present`` (bidirectional only: no state) marks the
        positions that hold sequence."""
        outputs, start = [], 0
        memory_state, written, attention = state.memory, state.written, state.attention
        while start < x.shape[1]:
            done = attention.keys.shape[2] if attention is not None else 0  # of the unfinished segment
            piece = x[:, start:start + self.segment_len - done]
            piece_present = present[:, start:start + piece.shape[1]] if present is not None else None
            context = direction.memory.read(direction.to_query(piece), memory_state)
            attended, attention = self.attention.segment(piece, context, piece_present, attention)
            remembered, written = direction.memory(attended, written if done else memory_state)
            outputs.append(self.combine(attended, remembered, piece))
            start += piece.shape[1]
            if done + piece.shape[1] == self.segment_len:
                memory_state, written, attention = written, None, None
        return torch.cat(outputs, dim=1), MACState(memory_state, written, attention)

    def forward(self, x: Tensor, state: MACState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, MACState | None]:
        self._check(x, state, present)
        state = _own_state(state, MACState) if self.config.causal else None
        if state is not None and state.attention is not None and state.attention.keys.shape[2] >= self.segment_len:
            raise ValueError(f"state is in a segment longer than this MAC's segment_len ({self.segment_len})")
        if x.shape[1] == 0:
            return x, state
        normed = self.norm(x)
        if self.config.causal:
            out, state = self._read(normed, self.directions[0], state)
        else:
            ahead, _ = self._read(normed, self.directions[0], MACState(), present)
            backward_input = reversed_within(normed, present, 1)
            behind, _ = self._read(backward_input, self.directions[1], MACState(), present)
            out = self.merge_directions(torch.cat([ahead, reversed_within(behind, present, 1)], dim=-1))
            state = None
        return self._feed_forward(x + self.drop(out)), state


BLOCKS: dict[str, type[_Block]] = {"lmm": LMM, "mac": MAC, "mag": MAG, "mal": MAL}

