"""DNA adapters around the encoder: token (or k-base patch) embedding, pooling, the class head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["POOLINGS", "DNAEmbedding", "masked_pool"]

POOLINGS = ("mean", "cls", "last")


class DNAEmbedding(nn.Module):
    """Token ids ``(B, L)`` to embeddings ``(B, L / patch, dim)``: one vector per base (``patch=1``) or a
    strided convolution over each run of ``patch`` bases. Also returns which positions hold sequence
    (not padding)."""

    def __init__(self, vocab_size: int, dim: int, patch: int = 1, pad_id: int = 0):
        super().__init__()
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        self.patch, self.pad_id = patch, pad_id
        self.embed = nn.Embedding(vocab_size, dim if patch == 1 else dim // 2)
        self.stem = None if patch == 1 else nn.Conv1d(dim // 2, dim, kernel_size=patch, stride=patch)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        present = ids != self.pad_id
        x = self.embed(ids)
        if self.stem is None:
            return x, present
        cut = ids.shape[1] // self.patch * self.patch
        x = self.stem(x[:, :cut].transpose(1, 2)).transpose(1, 2)
        return x, present[:, :cut].unflatten(1, (-1, self.patch)).any(-1)


def masked_pool(h: Tensor, present: Tensor, how: str) -> Tensor:
    """Pool ``(B, T, D)`` over the positions marked in ``present`` ``(B, T)``: their mean, the first
    position (a CLS token put there by the caller), or the last one present."""
    if how == "mean":
        weights = present.unsqueeze(-1).to(h.dtype)
        return (h * weights).sum(1) / weights.sum(1).clamp_min(1)
    if how == "cls":
        return h[:, 0]
    last = (present.cumsum(1) * present).argmax(1)
    return h[torch.arange(h.shape[0], device=h.device), last]
