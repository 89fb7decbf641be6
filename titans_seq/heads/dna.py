"""DNA adapters around the encoder: token (or k-base patch) embedding, pooling, the class head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["POOLINGS", "DNAEmbedding", "masked_pool"]

POOLINGS = ("mean", "cls", "last")


class DNAEmbedding(nn.Module):
    """Token ids ``(B, L)`` to embeddings ``(B, L / patch, dim)``, and which positions hold sequence.

    ``patch=1``: one learned vector per base. ``patch>1``: a convolution over the ``2 * patch + 1``
    bases ending at every position (motifs wherever they lie, not only inside a patch), then a strided
    one merging each run of ``patch`` positions. The first looks back only, so a long sequence can be
    read in pieces: pass the ``context`` (the ``2 * patch`` bases before the piece) and the result is
    that of one pass.
    """

    def __init__(self, vocab_size: int, dim: int, patch: int = 1, pad_id: int = 0):
        super().__init__()
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        self.patch, self.pad_id = patch, pad_id
        self.context = 2 * patch if patch > 1 else 0
        self.embed = nn.Embedding(vocab_size, dim if patch == 1 else dim // 2)
        self.motifs = None if patch == 1 else nn.Conv1d(dim // 2, dim, kernel_size=self.context + 1)
        self.merge = None if patch == 1 else nn.Conv1d(dim, dim, kernel_size=patch, stride=patch)

    def forward(self, ids: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        present = ids != self.pad_id
        if self.merge is None:
            return self.embed(ids), present
        before = (self.embed(context) if context is not None
                  else self.embed.weight.new_zeros(ids.shape[0], self.context, self.embed.embedding_dim))
        x = torch.cat([before.to(self.embed.weight.dtype), self.embed(ids)], dim=1).transpose(1, 2)
        cut = ids.shape[1] // self.patch * self.patch
        h = self.merge(F.gelu(self.motifs(x))[..., :cut]).transpose(1, 2)
        return h, present[:, :cut].unflatten(1, (-1, self.patch)).any(-1)


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
