"""Attention with learnable persistent-memory tokens (paper eq. 19-20), block-local for long inputs.

Two forms share one set of projections (:class:`Attention`):

- :meth:`Attention.sliding` — every position attends to the persistent tokens and to the keys within
  ``window`` steps (before it when causal, on both sides otherwise). Queries are taken in blocks of
  ``window``; each block attends to a ``2 * window - 1`` (causal) or ``3 * window - 2`` (bidirectional)
  span of keys, so cost and memory are ``O(N * window)`` and no ``N x N`` mask is ever built.
- :meth:`Attention.segment` — full attention inside one segment over ``[persistent | context | segment]``
  (the MAC block's form), with context token ``j`` and segment token ``j`` at the same position.

Rotary position embeddings act on the queries and keys of sequence tokens; persistent tokens carry
no position, every query sees them alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from titans_seq._checks import flag, head_width, nonnegative_int, positive_int, present_mask, rate, sequence_input
from titans_seq._tensors import appended
from titans_seq.layers.dropout import dropout

__all__ = ["Attention", "AttentionState", "RotaryEmbedding", "SegmentState"]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021) on the two halves of each head's features.

    The angles are formed in float64 and reduced modulo 2 pi: a stream's positions grow without bound, and
    in float32 an angle at position 10^8 is off by radians (the same input then read 15% differently).
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
        self.head_dim, self.base = head_dim, base

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate ``x`` of shape ``(..., T, head_dim)`` by the angles of ``positions`` ``(T,)``."""
        wide = torch.float32 if positions.device.type == "mps" else torch.float64  # MPS has no float64
        pairs = torch.arange(0, self.head_dim, 2, device=positions.device, dtype=wide)
        inv_freq = self.base ** (-pairs / self.head_dim)
        angles = torch.remainder(positions.to(wide)[:, None] * inv_freq, 2 * math.pi)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


@dataclass
class AttentionState:
    """The last ``window - 1`` keys and values (rotated) and the position reached, for causal streaming."""

    keys: Tensor  # (B, heads, c, head_dim), c <= window - 1
    values: Tensor
    position: int


@dataclass
class SegmentState:
    """A causal segment read in pieces: the (rotated) keys and values of its context and segment tokens so far."""

    context_keys: Tensor  # (B, heads, n, head_dim)
    context_values: Tensor
    keys: Tensor
    values: Tensor


class Attention(nn.Module):
    """Multi-head attention with ``persistent_tokens`` learnable tokens that every position attends to.

    Args:
        dim: model width; heads: attention heads (``dim`` divisible by ``heads``, even head width).
        window: how many steps a sliding-window query reaches (itself included).
        causal: attend to the past only (sliding form) / to earlier segment positions only (segment form).
        persistent_tokens: number of learnable, input-independent tokens (0 for none).
        dropout: dropout on the attention weights while training.
    """

    def __init__(self, dim: int, heads: int, window: int, causal: bool = True, persistent_tokens: int = 0,
                 dropout: float = 0.0):
        super().__init__()
        self.dim, self.heads = positive_int("dim", dim), positive_int("heads", heads)
        self.head_dim = head_width(dim, heads)
        self.window, self.causal = positive_int("window", window), flag("causal", causal)
        self.dropout = rate("dropout", dropout)
        nonnegative_int("persistent_tokens", persistent_tokens)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.persistent = nn.Parameter(torch.randn(persistent_tokens, dim) * dim**-0.5)
        self.rotary = RotaryEmbedding(self.head_dim)

    def _heads(self, t: Tensor) -> Tensor:
        return t.unflatten(-1, (self.heads, self.head_dim)).transpose(-3, -2)  # (..., T, dim) -> (..., H, T, d)

    def _project(self, x: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = (self._heads(t) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.rotary(q, positions), self.rotary(k, positions), v

    def _persistent_kv(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Keys and values of the persistent tokens, ``(H, P, d)``: the same projections, no position."""
        _, k, v = (self._heads(t) for t in self.to_qkv(self.persistent.to(dtype)).chunk(3, dim=-1))
        return k, v

    def _seen(self, length: int, device: torch.device, before: int = 0) -> Tensor:
        """Which of ``before + length`` positions each of the last ``length`` sees when all are within reach: all,
        or those not after it."""
        seen = torch.ones(length, before + length, dtype=torch.bool, device=device)
        return seen.tril(before) if self.causal else seen

    def _with_persistent(self, keys: tuple[Tensor, ...], values: tuple[Tensor, ...],
                         masks: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """Keys and values ``(B, H, T_i, d)`` and masks ``(..., Q, T_i)`` joined along ``T``, behind the persistent
        tokens (seen by every query): one concatenation each."""
        pk, pv = self._persistent_kv(keys[0].dtype)
        batch = keys[0].shape[0]
        k = torch.cat([pk.expand(batch, -1, -1, -1), *keys], dim=2)
        v = torch.cat([pv.expand(batch, -1, -1, -1), *values], dim=2)
        return k, v, torch.cat([masks[0].new_ones(*masks[0].shape[:-1], pk.shape[1]), *masks], dim=-1)

    @staticmethod
    def _unpadded(seen: Tensor, present: Tensor | None) -> Tensor:
        """``seen`` ``(Q, T)`` without the padding keys of each sequence, ``(B, 1, Q, T)``; a padding query keeps
        every key it saw (its output is never read, and a query that sees nothing would put NaN into gradients)."""
        if present is None:
            return seen
        return seen & (present[:, None, None, :] | ~present[:, None, :, None])

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        if not (self.training and self.dropout and q.device.type == "cpu"):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  dropout_p=self.dropout if self.training else 0.0)
        # The CPU kernel's dropout draws with bernoulli_; the same attention, written out, uses dropout().
        scores = (q @ k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5).masked_fill_(~mask, float("-inf"))
        return dropout(scores.softmax(-1), self.dropout, True) @ v

    def _merge(self, out: Tensor) -> Tensor:
        return self.to_out(out.transpose(-3, -2).flatten(-2))

    def _check_input(self, x: Tensor, present: Tensor | None) -> None:
        sequence_input("x", x, self.dim, self.to_qkv.weight.dtype, "attention")
        present_mask(present, x)

    def _check_state(self, state: object, kind: type, present: Tensor | None, batch: int,
                     most_keys: int | None = None) -> None:
        """A streaming ``state`` must be of ``kind`` and ``batch``, hold this attention's heads and at most
        ``most_keys`` keys, and only a causal attention without ``present`` takes one."""
        if state is None:
            return
        if not self.causal:
            raise ValueError("a bidirectional attention sees the whole input at once and takes no state")
        if present is not None:
            raise ValueError("present marks the padding of a whole input, which a streamed one (with a state) has not")
        if not isinstance(state, kind) or state.keys.shape[0] != batch:
            got = f"batch size {state.keys.shape[0]}" if isinstance(state, kind) else type(state).__name__
            raise ValueError(f"state must be of type {kind.__name__}, for batch size {batch}; got {got}")
        _, heads, cached, head_dim = state.keys.shape
        if (heads, head_dim) != (self.heads, self.head_dim) or (most_keys is not None and cached > most_keys):
            raise ValueError("state comes from an attention with other heads, head width or window")

    def sliding(self, x: Tensor, state: AttentionState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, AttentionState | None]:
        """Sliding-window attention over ``x`` ``(B, T, dim)``; ``state`` continues a causal stream. ``present``
        ``(B, T)`` (without a state) marks the positions that hold sequence: none of them attends to padding, and
        the output at padding positions is unspecified."""
        self._check_input(x, present)
        self._check_state(state, AttentionState, present, x.shape[0], self.window - 1)
        batch, length, _ = x.shape
        w = self.window
        start = state.position if state is not None else 0
        if length == 0:
            return x.new_zeros(batch, 0, self.dim), state
        q, k, v = self._project(x, torch.arange(start, start + length, device=x.device))
        cached = state.keys.shape[2] if state is not None else 0
        if cached:
            k, v = appended(state.keys, k, 2), appended(state.values, v, 2)
        new_state = None
        if self.causal:
            keep = k.shape[2] - min(w - 1, k.shape[2])
            new_state = AttentionState(k[:, :, keep:], v[:, :, keep:], start + length)
        if not cached and length <= w:
            # Every query reaches every key: one dense block, without the padding of the banded form.
            k, v, mask = self._with_persistent((k,), (v,), (self._unpadded(self._seen(length, x.device), present),))
            return self._merge(self._attend(q, k, v, mask)), new_state

        blocks = -(-length // w)
        span = 2 * w - 1 if self.causal else 3 * w - 2
        # Key index 0 stands for position -(w - 1): pad in front to there, and behind so every block is whole.
        front = w - 1 - cached
        behind = (blocks + 1) * w - 1 + (0 if self.causal else w - 1) - (front + cached + length)
        q = F.pad(q, (0, 0, 0, blocks * w - length)).unflatten(2, (blocks, w))
        k, v = (F.pad(t, (0, 0, front, behind)).unfold(2, span, w).transpose(-1, -2) for t in (k, v))

        # Query i of block b is at position b*w + i, key j of its span at position b*w + j - (w - 1).
        i = torch.arange(w, device=x.device)[:, None]
        j = torch.arange(span, device=x.device)[None, :]
        band = (j >= i) & (j <= i + (w - 1 if self.causal else 2 * w - 2))
        key_pos = torch.arange(blocks, device=x.device)[:, None] * w + torch.arange(span, device=x.device) - (w - 1)
        real_key = (key_pos >= -cached) & (key_pos < length)
        padded_query = torch.arange(blocks * w, device=x.device).view(blocks, w, 1) >= length
        if present is not None:  # per sequence: (B, 1, blocks, ...), padding keys out, padding queries as beyond
            keep = F.pad(present, (w - 1, behind + w)).unfold(1, span, w)[:, :blocks]  # key j of block b present
            real_key = real_key & keep[:, None]
            padded_query = padded_query | ~F.pad(present, (0, blocks * w - length)).view(-1, 1, blocks, w, 1)
            real_key = real_key[..., None, :]
        else:
            real_key = real_key[:, None, :]
        # Padded queries keep their band so no row is empty (an empty row would put NaN into the gradients).
        mask = band & (real_key | padded_query)
        pk, pv = self._persistent_kv(q.dtype)
        if pk.shape[1]:
            k, v = (torch.cat([p[:, None].expand(batch, -1, blocks, -1, -1), t], dim=3)
                    for p, t in ((pk, k), (pv, v)))
            mask = torch.cat([mask.new_ones(*mask.shape[:-1], pk.shape[1]), mask], dim=-1)
        out = self._attend(q, k, v, mask).flatten(2, 3)[:, :, :length]
        return self._merge(out), new_state

    def segment(self, x: Tensor, context: Tensor, present: Tensor | None = None,
                state: SegmentState | None = None) -> tuple[Tensor, SegmentState | None]:
        """Attention of segment ``x`` ``(B, S, dim)`` over ``[persistent | context | x]``.

        ``context`` ``(B, S, dim)`` holds one token per segment position (MAC's memory read-out). When
        causal, position ``i`` sees the persistent tokens and the context and segment tokens ``<= i``, and
        ``state`` continues a segment read in pieces (the returned one, ``None`` when bidirectional, takes
        in this piece). ``present`` ``(B, S)`` (without a state) marks the positions that hold sequence: none of
        them attends to padding tokens, and the output at padding positions is unspecified.
        """
        self._check_input(x, present)
        sequence_input("context", context, self.dim, self.to_qkv.weight.dtype, "attention")
        if context.shape[:2] != x.shape[:2]:
            raise ValueError(f"context must hold one token per position of x {tuple(x.shape[:2])}, got "
                             f"{tuple(context.shape[:2])}")
        self._check_state(state, SegmentState, present, x.shape[0])
        before = state.keys.shape[2] if state is not None else 0
        length = x.shape[1]
        positions = torch.arange(before, before + length, device=x.device)
        q, k, v = self._project(x, positions)
        _, ck, cv = self._project(context, positions)
        if state is not None:
            ck, cv, k, v = (appended(cached, new, 2) for cached, new in ((state.context_keys, ck),
                                                                         (state.context_values, cv),
                                                                         (state.keys, k), (state.values, v)))
        seen = self._unpadded(self._seen(length, x.device, before), present)
        new_state = SegmentState(ck, cv, k, v) if self.causal else None
        k, v, mask = self._with_persistent((ck, k), (cv, v), (seen, seen))
        return self._merge(self._attend(q, k, v, mask)), new_state
