"""``TitansEncoder``: a stack of Titans blocks on ``(batch, length, dim)`` embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from titans_seq._checks import present_mask, sequence_input
from titans_seq.layers.blocks import BLOCKS
from titans_seq.layers.config import TitansConfig
from titans_seq.memory import detach_state

__all__ = ["EncoderState", "TitansEncoder"]


@dataclass
class EncoderState:
    """One state per block, for feeding a causal encoder a long input in pieces of ``batch`` sequences."""

    blocks: list
    batch: int | None = None  # None: not checked (a state made by hand)

    def detach(self) -> EncoderState:
        """The same state cut from the autograd graph (truncated back-propagation through time)."""
        return detach_state(self)


class TitansEncoder(nn.Module):
    """``config.depth`` blocks of ``config.variant`` and a final RMSNorm.

    ``forward(x, state=None) -> (h, state)`` on embeddings ``x`` of shape ``(B, T, dim)``. In causal mode
    feeding a long input in pieces, passing each call's state to the next, gives the same output as one
    call, so inputs of any length run in bounded memory. In bidirectional mode (``causal=False``) the
    encoder sees its whole input at once; it takes no state and returns ``None``, and ``present`` ``(B, T)``
    (bool, each sequence's positions followed by its padding) keeps every sequence's output independent of
    the padding after it (checked to be of that form in eager mode; under ``torch.compile`` it is taken as
    given, so that padding keeps the graph whole). A causal encoder needs no ``present``: no position sees a
    later one.
    """

    def __init__(self, config: TitansConfig):
        super().__init__()
        if not isinstance(config, TitansConfig):
            raise TypeError(f"config must be a TitansConfig, got {type(config).__name__}")
        self.config = config
        self.blocks = nn.ModuleList([BLOCKS[config.variant](config) for _ in range(config.depth)])
        self.norm = nn.RMSNorm(config.dim)

    def forward(self, x: Tensor, state: EncoderState | None = None,
                present: Tensor | None = None) -> tuple[Tensor, EncoderState | None]:
        sequence_input("x", x, self.config.dim, self.norm.weight.dtype, "encoder")
        if state is not None and not self.config.causal:
            raise ValueError("a bidirectional encoder (causal=False) sees its whole input at once and takes no state")
        if state is not None and (not isinstance(state, EncoderState) or len(state.blocks) != len(self.blocks)):
            raise ValueError(f"state must be an EncoderState of {len(self.blocks)} blocks from this encoder")
        if state is not None and state.batch is not None and state.batch != x.shape[0]:
            raise ValueError(f"state is for batch size {state.batch}, but x has {x.shape[0]}")
        present_mask(present, x)
        if self.config.causal:
            present = None  # nothing to keep out
        # Both read present's values, which would break a compiled graph; compiled, padding is assumed well-formed.
        elif present is not None and not torch.compiler.is_compiling():
            if bool((present[:, 1:] & ~present[:, :-1]).any()):
                raise ValueError("present must mark each sequence's positions first and its padding after them")
            if bool(present.all()):
                present = None
        states = state.blocks if state is not None else [None] * len(self.blocks)
        new_states = []
        for block, block_state in zip(self.blocks, states, strict=True):
            x, block_state = block(x, block_state, present)
            new_states.append(block_state)
        return self.norm(x), (EncoderState(new_states, x.shape[0]) if self.config.causal else None)
