"""Baselines trained in the same harness as the Titans models, to validate it and to compare against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DLinear"]


class DLinear(nn.Module):
    """DLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?", AAAI 2023).

    The lookback window is split into a trend (a moving average of width ``kernel``, edges repeated) and
    the remainder; each is mapped to the horizon by one linear layer over time, shared by all channels.
    ``(B, L, C) -> (B, H, C)``.
    """

    def __init__(self, lookback: int, horizon: int, kernel: int = 25):
        super().__init__()
        self.kernel = kernel
        self.seasonal = nn.Linear(lookback, horizon)
        self.trend = nn.Linear(lookback, horizon)
        for layer in (self.seasonal, self.trend):  # the reference implementation starts from an average
            nn.init.constant_(layer.weight, 1.0 / lookback)

    def forward(self, x: Tensor) -> Tensor:
        front, back = (self.kernel - 1) // 2, self.kernel // 2
        padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
        trend = F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1)
        seasonal = x.transpose(1, 2) - trend
        return (self.seasonal(seasonal) + self.trend(trend)).transpose(1, 2)
