"""Baselines trained in the same harness as the Titans models, to validate it and to compare against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from titans_seq._checks import positive_int
from titans_seq.data.dna import PAD

__all__ = ["DLinear"]


class DLinear(nn.Module):
    """DLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?", AAAI 2023).

    The lookback window is split into a trend (a moving average of width ``kernel``, edges repeated) and
    the remainder; each is mapped to the horizon by one linear layer over time, shared by all channels.
    ``(B, L, C) -> (B, H, C)``.
    """

    def __init__(self, lookback: int, horizon: int, kernel: int = 25):
        super().__init__()
        self.lookback, self.kernel = positive_int("lookback", lookback), positive_int("kernel", kernel)
        positive_int("horizon", horizon)
        self.seasonal = nn.Linear(lookback, horizon)
        self.trend = nn.Linear(lookback, horizon)
        for layer in (self.seasonal, self.trend):  # the reference implementation starts from an average
            nn.init.constant_(layer.weight, 1.0 / lookback)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.lookback:
            raise ValueError(f"x must be (batch, lookback={self.lookback}, channels), got {tuple(x.shape)}")
        front, back = (self.kernel - 1) // 2, self.kernel // 2
        padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
        trend = F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1)
        seasonal = x.transpose(1, 2) - trend
        return (self.seasonal(seasonal) + self.trend(trend)).transpose(1, 2)


class GenomicBenchmarksCNN(nn.Module):
    """A variant of the Genomic Benchmarks baseline CNN (Grešová et al. 2023): a token embedding, three blocks
    of [Conv1d (kernel 8), ReLU, BatchNorm, max-pool 2], then two dense layers with ReLU and dropout between
    them and one logit per class. ``(B, L) ids -> (B, classes)``. The package's own PyTorch CNN
    (``genomic_benchmarks.models.torch.CNN``) normalises before the ReLU, has nothing between its dense layers and
    one sigmoid output for two classes. Shorter ids are padded to ``length``."""

    def __init__(self, vocab_size: int, length: int, classes: int, embedding: int = 100,
                 channels: tuple[int, int, int] = (16, 8, 4), hidden: int = 512, dropout: float = 0.3):
        super().__init__()
        self.length = positive_int("length", length)
        self.embed = nn.Embedding(vocab_size, embedding)
        layers, width, size = [], embedding, length
        for out in channels:
            layers += [nn.Conv1d(width, out, kernel_size=8, bias=True), nn.ReLU(), nn.BatchNorm1d(out), nn.MaxPool1d(2)]
            width, size = out, (size - 7) // 2
        if size < 1:
            raise ValueError(f"sequences of length {length} are too short for three conv (8) + pool (2) blocks")
        self.features = nn.Sequential(*layers)
        self.classify = nn.Sequential(nn.Flatten(), nn.Linear(width * size, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, classes))

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dim() != 2 or ids.shape[1] > self.length:
            raise ValueError(f"the CNN reads (batch, {self.length}) token ids (its max_length), got {tuple(ids.shape)}")
        ids = F.pad(ids, (0, self.length - ids.shape[1]), value=PAD)  # a batch padded only to its own longest
        return self.classify(self.features(self.embed(ids).transpose(1, 2)))
