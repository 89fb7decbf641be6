"""Tensor helpers shared by the data, the layers and the memory."""

from __future__ import annotations

import torch
from torch import Tensor


def reversed_within(x: Tensor, present: Tensor | None, dim: int) -> Tensor:
    """``x`` in reverse order along ``dim``, each sequence within its own length.

    ``present`` has the shape of ``x`` up to and including ``dim`` and marks each sequence's positions, followed
    by its padding; the padding stays at the end, so that a backward reading meets the sequence before any
    padding. ``present=None`` reverses the whole axis. Applied twice, it gives ``x`` back.
    """
    if present is None:
        return x.flip(dim)
    dim %= x.dim()
    if present.shape != x.shape[:dim + 1]:
        raise ValueError(f"present must have shape {tuple(x.shape[:dim + 1])}, got {tuple(present.shape)}")
    lengths = present.sum(-1, keepdim=True)
    positions = torch.arange(present.shape[-1], device=present.device).expand_as(present)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return x.gather(dim, source.view(*source.shape, *[1] * (x.dim() - dim - 1)).expand_as(x))


def appended(earlier: Tensor, later: Tensor, dim: int) -> Tensor:
    """``later`` appended to ``earlier`` along ``dim`` in ``later``'s dtype (a stream's cache, then its new
    piece); ``later`` itself, without a copy, when nothing came earlier."""
    return torch.cat([earlier.to(later.dtype), later], dim=dim) if earlier.shape[dim] else later
