"""Inverted dropout whose CPU mask comes from uniform draws.

On the CPU, ``torch.bernoulli_`` (behind ``nn.Dropout`` and the attention kernel's dropout) draws one
element at a time: at dropout 0.3 it was 17% of a genomics training step on the 2-core machine.
``torch.rand`` draws the same mask in a vectorised loop, twice as fast for the whole dropout. On other
devices the fused ``F.dropout`` is used. Same distribution either way, another random stream on the CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Dropout", "dropout"]


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Zero each element with probability ``p`` (in ``[0, 1]``) and scale the rest by ``1 / (1 - p)`` while
    ``training``."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability p must lie in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p == 1:
        return F.dropout(x, p, training=True)
    # Float32 draws, whatever x's dtype: a bf16 uniform would quantise the keep probability.
    keep = torch.rand_like(x, dtype=torch.float32).ge_(p).div_(1 - p)
    return x * keep.to(x.dtype)


class Dropout(nn.Dropout):
    """``nn.Dropout`` by :func:`dropout`."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
