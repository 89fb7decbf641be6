"""DNA adapters around the encoder: token (or k-base patch) embedding and pooling (the class heads are
:class:`~titans_seq.tasks.SequenceNetwork`'s)."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from titans_seq.data.dna import A

__all__ = ["POOLINGS", "DNAEmbedding", "Pooling", "kmer_codes", "masked_pool"]

Pooling = Literal["mean", "cls", "last"]
POOLINGS = get_args(Pooling)


class DNAEmbedding(nn.Module):
    """Token ids ``(B, L)`` to embeddings ``(B, ceil(L / patch), dim)``, and which positions hold sequence.

    ``patch=1``: one learned vector per base. ``patch>1``: a convolution over the ``2 * patch + 1``
    bases ending at every position (motifs wherever they lie, not only inside a patch), then a strided
    one merging each run of ``patch`` positions. A last partial patch is padded and read like any other,
    so a sequence's embedding does not depend on how much padding follows it. ``kmer=k>0`` adds a learned
    vector for the k-mer ending at every base (averaged over each patch; zero where the k bases hold ``N``
    or padding), the overlapping k-mer tokens of DNABERT: their mean over a sequence is a learned summary
    of its k-mer counts, which a few thousand training sequences can fit where single bases leave the
    encoder to discover every motif. Everything looks back only, so a long sequence can be read in pieces: pass
    the ``context`` (the :attr:`context` bases before the piece) and the result is that of one pass.
    """

    def __init__(self, vocab_size: int, dim: int, patch: int = 1, pad_id: int = 0, kmer: int = 0):
        super().__init__()
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        if not 0 <= kmer <= 12:
            raise ValueError(f"kmer must be between 0 (off) and 12, got {kmer}")
        self.patch, self.pad_id, self.kmer = patch, pad_id, kmer
        self.context = max(2 * patch if patch > 1 else 0, kmer - 1)
        self.embed = nn.Embedding(vocab_size, dim if patch == 1 else dim // 2)
        self.motifs = None if patch == 1 else nn.Conv1d(dim // 2, dim, kernel_size=2 * patch + 1)
        self.merge = None if patch == 1 else nn.Conv1d(dim, dim, kernel_size=patch, stride=patch)
        self.kmers = nn.Embedding(4**kmer + 1, dim, padding_idx=4**kmer) if kmer else None

    def forward(self, ids: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ids = F.pad(ids, (0, -ids.shape[1] % self.patch), value=self.pad_id)
        present = ids != self.pad_id
        padded = self._after_context(ids, context)
        if self.merge is None:
            h = self.embed(ids)
        else:
            x = self.embed(padded[:, self.context - 2 * self.patch:]).transpose(1, 2)
            h = self.merge(F.gelu(self.motifs(x))).transpose(1, 2)
            present = present.unflatten(1, (-1, self.patch)).any(-1)
        if self.kmers is not None:
            k = self.kmers(self._kmer_codes(padded))
            if self.patch > 1:
                k = k.unflatten(1, (-1, self.patch)).mean(2)
            h = h + k
        return h, present

    def kmer_ids(self, ids: Tensor, context: Tensor | None = None) -> Tensor:
        """Index ``(B, L)`` of the k-mer ending at each base of ``ids``, ``4**kmer`` where one is not
        all A/C/G/T (``N``, padding, or the sequence's first ``kmer - 1`` bases without ``context``)."""
        if not self.kmer:
            raise ValueError("kmer_ids needs an embedding built with kmer > 0")
        return self._kmer_codes(self._after_context(ids, context))

    def _after_context(self, ids: Tensor, context: Tensor | None) -> Tensor:
        """``ids`` with the :attr:`context` bases before them; without (enough) context the sequence
        starts here, so padding stands in (no base, no k-mer)."""
        before = context if context is not None else ids[:, :0]
        missing = self.context - before.shape[1]
        before = F.pad(before, (missing, 0), value=self.pad_id) if missing > 0 else before[:, -missing:]
        return torch.cat([before, ids], dim=1)

    def _kmer_codes(self, padded: Tensor) -> Tensor:
        """The k-mer index ending at each base after the context of ``padded`` (see :meth:`kmer_ids`)."""
        return kmer_codes(padded[:, self.context - self.kmer + 1:], self.kmer)


def kmer_codes(ids: Tensor, k: int) -> Tensor:
    """Index ``(B, L - k + 1)`` of the k-mer starting at each of the first ``L - k + 1`` bases of ``ids``
    ``(B, L)``, its bases read as base-4 digits (A=0, C=1, G=2, T=3, the first the most significant);
    ``4**k`` where the k bases are not all A/C/G/T (``N`` or padding)."""
    if ids.shape[1] < k:  # no k-mer fits
        return ids.new_full((ids.shape[0], 0), 4**k)
    base = ids - A  # A, C, G, T are consecutive token ids
    valid = ((base >= 0) & (base < 4)).unfold(1, k, 1).all(-1)
    place_values = 4 ** torch.arange(k - 1, -1, -1, device=ids.device)
    code = (base.clamp(0, 3).unfold(1, k, 1) * place_values).sum(-1)
    return torch.where(valid, code, 4**k)


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
