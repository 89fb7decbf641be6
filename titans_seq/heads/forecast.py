"""Forecasting adapters around the encoder: RevIN, channel-independent patches, the forecast head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from titans_seq.layers.dropout import Dropout

__all__ = ["ChannelMixer", "ForecastHead", "LearnedCycle", "PatchEmbedding", "RevIN"]


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al. 2022): each series of each window is standardised
    by its own mean and std over time before the model, and the forecast is mapped back after it."""

    def __init__(self, channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x`` ``(B, L, C)`` -> normalised ``x`` and the statistics to undo it."""
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.weight is not None:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor], channels: list[int] | None = None) -> Tensor:
        """``y`` ``(B, H, C', ...)`` back to the input's scale; ``channels`` picks the statistics' columns."""
        mean, std = stats
        weight, bias = self.weight, self.bias
        if channels is not None:
            mean, std = mean[:, :, channels], std[:, :, channels]
            weight, bias = (None, None) if weight is None else (weight[channels], bias[channels])
        extra = (1,) * (y.dim() - 3)  # a trailing quantile axis
        if weight is not None:
            y = (y - bias.view(-1, *extra)) / (weight.view(-1, *extra) + self.eps * self.eps)
        return y * std.view(*std.shape, *extra) + mean.view(*mean.shape, *extra)


class LearnedCycle(nn.Module):
    """A learned periodic pattern per channel, ``cycle`` steps long (CycleNet's residual cycle forecasting,
    Lin et al., NeurIPS 2024): the model removes it from the lookback and adds it back to the forecast, and
    so only has to forecast what the cycle does not explain. It starts at zero (the model without it).

    A row's phase is its position on the series' clock (its row index, or its steps since the time clock's
    origin, :func:`~titans_seq.data.times.clock_origin`) modulo ``cycle``, so the pattern lines up with the data's
    own period (96 steps for a day of 15-minute data) whatever the batch. :meth:`start_at_mean` sets it to the mean
    pattern of some windows, a warm start.
    """

    def __init__(self, cycle: int, channels: int):
        super().__init__()
        self.cycle = cycle
        self.values = nn.Parameter(torch.zeros(cycle, channels))

    def forward(self, clock: Tensor) -> Tensor:
        """The pattern at rows whose positions on the clock are ``clock``: ``(B, T) -> (B, T, channels)``."""
        if clock.is_floating_point():
            raise TypeError(f"clock must hold integer positions, got {clock.dtype}")
        return self.values[clock.long() % self.cycle]

    @torch.no_grad()
    def start_at_mean(self, windows) -> None:
        """Set the pattern to the mean value at each phase of ``windows``, pairs of ``(values (B, L, channels),
        clock (B, L))``; a phase no window covers stays as it was."""
        sums, counts = torch.zeros_like(self.values), torch.zeros(self.cycle, device=self.values.device)
        for values, clock in windows:
            phases = (clock.to(sums.device).long() % self.cycle).flatten()
            sums.index_add_(0, phases, values.to(sums).flatten(0, 1))
            counts += torch.bincount(phases, minlength=self.cycle)
        seen = counts > 0
        self.values[seen] = sums[seen] / counts[seen, None]


class PatchEmbedding(nn.Module):
    """Each channel's lookback window cut into (overlapping) patches, each embedded linearly, plus a
    learned position embedding: ``(B, L, C) -> (B * C, patches, dim)``. The last value is repeated
    ``stride`` times at the end, as in PatchTST, so the most recent steps fill a whole patch."""

    def __init__(self, lookback: int, patch_len: int, stride: int, dim: int, dropout: float = 0.0):
        super().__init__()
        self.check(lookback, patch_len, stride)
        self.patch_len, self.stride = patch_len, stride
        self.patches = (lookback + stride - patch_len) // stride + 1
        self.project = nn.Linear(patch_len, dim)
        self.position = nn.Parameter(torch.randn(self.patches, dim) * 0.02)
        self.dropout = Dropout(dropout)

    @staticmethod
    def check(lookback: int, patch_len: int, stride: int) -> None:
        """Raise a ValueError unless patches of ``patch_len`` at ``stride`` read the whole ``lookback``."""
        if patch_len < 1 or stride < 1 or patch_len > lookback + stride:
            raise ValueError(f"patch_len ({patch_len}) and stride ({stride}) must be >= 1 and fit the lookback "
                             f"({lookback})")
        if stride > patch_len:
            raise ValueError(f"stride ({stride}) must not exceed patch_len ({patch_len}): the rows between patches, "
                             f"the latest among them, would never be read")

    def forward(self, x: Tensor) -> Tensor:
        batch, _, channels = x.shape
        series = x.transpose(1, 2).reshape(batch * channels, -1)
        series = torch.cat([series, series[:, -1:].expand(-1, self.stride)], dim=1)
        patches = series.unfold(1, self.patch_len, self.stride)
        return self.dropout(self.project(patches) + self.position)


class ChannelMixer(nn.Module):
    """Optional mixing across channels between patch embedding and encoder: a residual linear map over
    the channel axis, so each channel's patch also sees the other channels at the same time."""

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Linear(channels, channels)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, tokens: Tensor, channels: int) -> Tensor:
        grouped = tokens.unflatten(0, (-1, channels))  # (B, C, P, D)
        return (grouped + self.mix(grouped.movedim(1, -1)).movedim(-1, 1)).flatten(0, 1)


class ForecastHead(nn.Module):
    """The last ``patches`` encoded patches of one channel, flattened, mapped linearly to ``horizon`` steps
    (a point forecast; with ``outputs=Q``, ``Q`` values per step, one per quantile). Reading only the latest
    patches keeps the head's size fixed however long the lookback; the encoder carries the earlier ones into
    them."""

    def __init__(self, patches: int, dim: int, horizon: int, outputs: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.patches, self.horizon, self.outputs = patches, horizon, outputs
        self.dropout = Dropout(dropout)
        self.project = nn.Linear(patches * dim, horizon * (outputs or 1))

    def forward(self, encoded: Tensor, channels: int) -> Tensor:
        """``(B * C, P, D) -> (B, H, C)``, or ``(B, H, C, Q)`` with ``outputs=Q`` (also ``Q = 1``)."""
        out = self.project(self.dropout(encoded[:, -self.patches:].flatten(1)))
        out = out.view(-1, channels, self.horizon, self.outputs or 1).transpose(1, 2)
        return out if self.outputs else out.squeeze(-1)
