"""``Forecaster``: the forecasting LightningModule (model, loss, metrics, optimiser)."""

from __future__ import annotations

import itertools
from typing import Literal, get_args

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from titans_seq._checks import flag, is_int, positive_int, weights_dtype
from titans_seq.baselines import DLinear
from titans_seq.data.times import future_index, steps_since_start
from titans_seq.heads import ChannelMixer, ForecastHead, LearnedCycle, PatchEmbedding, RevIN
from titans_seq.layers import EncoderFields, TitansConfig, TitansEncoder
from titans_seq.tasks.metrics import FullPrecisionEvaluation, MeanLoss, float32_default
from titans_seq.tasks.modes import evaluation_mode
from titans_seq.tasks.optim import LRSchedule, adamw_with_schedule, check_optimizer, resume_at_own_rates
from titans_seq.tasks.training import attached_datamodule, plain_hyperparameters, record_class_path

__all__ = ["FORECAST_ENCODER", "Forecaster", "TitansForecastNetwork", "pinball_loss", "quantile_levels"]

# The encoder the forecaster uses unless given another: small (the ETT sets overfit large models),
# bidirectional, the 12 patches of a 96-step lookback within one attention window, memories of chunk 4
# (three chunks per direction) and expansion 2 (half the CPU time of expansion 4).
FORECAST_ENCODER = TitansConfig(variant="mag", dim=64, depth=2, heads=4, window=16, causal=False, segment_len=16,
                                persistent_tokens=4, memory_depth=2, memory_expansion=2.0, memory_chunk=4,
                                ff_mult=2.0, dropout=0.2)

# Literal types, so that the command line rejects a misspelt choice while parsing, naming the choices.
ForecastModel = Literal["titans", "dlinear"]
Loss = Literal["mse", "mae", "huber"]
LOSSES = get_args(Loss)


def quantile_levels(quantiles) -> list[float] | None:
    """``quantiles`` (a list of levels, or ``None``) as the sorted levels a quantile head forecasts, the median
    0.5 among them; a ``ValueError`` unless each is a number strictly between 0 and 1."""
    if quantiles is None:
        return None
    if isinstance(quantiles, (str, bytes)) or not np.iterable(quantiles):
        raise ValueError(f"quantiles must be a list of levels such as [0.1, 0.9], or None, got {quantiles!r}")
    for level in quantiles:
        if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)):
            raise ValueError(f"each of quantiles must be a number, got {level!r}")
    levels = sorted({float(q) for q in quantiles} | {0.5})
    if not all(0 < q < 1 for q in levels):
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {levels}")
    return levels


def pinball_loss(prediction: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """Mean quantile (pinball) loss of ``prediction`` ``(..., Q)`` against ``target`` ``(...)``."""
    error = target.unsqueeze(-1) - prediction
    return torch.maximum(quantiles * error, (quantiles - 1) * error).mean()


class TitansForecastNetwork(nn.Module):
    """RevIN, channel-independent patch embedding, a bidirectional Titans encoder over each channel's
    patches, and a linear head to the horizon: ``(B, L, C) -> (B, H, C)`` (or ``(B, H, C, Q)``).

    With quantiles, the head predicts the median and positive gaps to the neighbouring quantiles, so
    the quantiles are ordered by construction (and sorted once more after RevIN, whose learned scale could
    flip them). With ``linear_skip``, one linear map over time, shared by
    the channels, takes each normalised lookback straight to the horizon and is added to the forecast (to
    every quantile alike): RLinear (Li et al. 2023) beside the encoder, as LSTNet's autoregressive component.
    With ``cycle``, a :class:`~titans_seq.heads.LearnedCycle` of that many steps is removed from the normalised
    lookback and added to the forecast; ``forward`` then needs where each row lies on the series' clock, and
    :meth:`start_cycle` gives the cycle a warm start from training windows. With ``head_patches``, the head
    reads only that many of the latest patches (default: all of them).
    """

    def __init__(self, channels: int, lookback: int, horizon: int, encoder: TitansConfig, patch_len: int = 16,
                 stride: int = 8, channel_mixing: bool = False, quantiles: int = 0, median_index: int = 0,
                 linear_skip: bool = False, cycle: int | None = None, head_patches: int | None = None):
        super().__init__()
        self.channels, self.lookback, self.horizon = channels, lookback, horizon
        self.revin = RevIN(channels)
        self.cycle = LearnedCycle(cycle, channels) if cycle else None
        self.patches = PatchEmbedding(lookback, patch_len, stride, encoder.dim, encoder.dropout)
        self.mixer = ChannelMixer(channels) if channel_mixing else None
        self.encoder = TitansEncoder(encoder)
        self.quantiles, self.median_index = quantiles, median_index
        patches = self.patches.patches
        if head_patches is not None and (isinstance(head_patches, bool) or not isinstance(head_patches, int)
                                         or not 1 <= head_patches <= patches):
            raise ValueError(f"head_patches must be an integer from 1 to the lookback's {patches} patches (or None), "
                             f"got {head_patches!r}")
        self.head = ForecastHead(head_patches or patches, encoder.dim, horizon, quantiles or None, encoder.dropout)
        self.skip = None
        if linear_skip:  # starts at zero: the network begins as the one without it
            self.skip = nn.Linear(lookback, horizon)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def forward(self, x: Tensor, clock: Tensor | None = None) -> Tensor:
        """Forecast from ``x`` ``(B, L, C)``; ``clock`` (with a cycle): see :meth:`window_clock`."""
        normed, stats = self.revin.normalize(x)
        if self.cycle is not None:
            clock = self.window_clock(clock)
            normed = normed - self.cycle(clock[:, :self.lookback])
        tokens = self.patches(normed)
        if self.mixer is not None:
            tokens = self.mixer(tokens, self.channels)
        encoded, _ = self.encoder(tokens)
        out = self.head(encoded, self.channels)
        if self.quantiles:
            out = self._ordered(out)
        if self.skip is not None:
            direct = self.skip(normed.transpose(1, 2)).transpose(1, 2)
            out = out + (direct.unsqueeze(-1) if self.quantiles else direct)
        if self.cycle is not None:
            pattern = self.cycle(clock[:, self.lookback:])
            out = out + (pattern.unsqueeze(-1) if self.quantiles else pattern)
        out = self.revin.denormalize(out, stats)
        if self.quantiles:
            # RevIN's learned scale may turn a channel's sign; sorting puts its quantiles back in order
            # (a rearrangement, which never raises the pinball loss) and changes nothing otherwise.
            out = out.sort(dim=-1).values
        return out

    @torch.no_grad()
    def start_cycle(self, windows) -> None:
        """Start the cycle at the mean normalised lookback at each phase of ``windows``, pairs of ``(x (B, L, C),
        clock)`` (see :meth:`window_clock`): the average daily profile (say) in the units the cycle is removed in."""
        self.cycle.start_at_mean((self.revin.normalize(x)[0], self.window_clock(clock)[:, :self.lookback])
                                 for x, clock in windows)

    def window_clock(self, clock: Tensor | None) -> Tensor:
        """Each row's position on the series' clock, ``(B, lookback + horizon)``, the forecast's rows after the
        window's: ``clock`` itself, or from each window's first position ``(B,)`` with the rows consecutive."""
        if clock is None:
            raise ValueError(f"this forecaster removes a learned cycle of {self.cycle.cycle} steps and needs each "
                             "window's clock (the third item of a TimeSeriesDataModule batch)")
        span = self.lookback + self.horizon
        if clock.dim() == 1:
            return clock.view(-1, 1) + torch.arange(span, device=clock.device)
        if clock.dim() != 2 or clock.shape[1] != span:
            raise ValueError(f"clock must be (batch,) first positions or (batch, lookback + horizon = {span}) "
                             f"positions, got shape {tuple(clock.shape)}")
        return clock

    def _ordered(self, raw: Tensor) -> Tensor:
        median = raw[..., self.median_index: self.median_index + 1]
        above = median + _running_sum(F.softplus(raw[..., self.median_index + 1:]))
        below = median - _running_sum(F.softplus(raw[..., :self.median_index].flip(-1))).flip(-1)
        return torch.cat([below, median, above], dim=-1)


def _running_sum(steps: Tensor) -> Tensor:
    """``steps.cumsum(-1)`` by additions one quantile at a time (there are a few), in the steps' precision: CUDA's
    floating-point cumsum has no deterministic kernel, so a ``Trainer(deterministic=True)`` (an estimator given
    ``random_state``) refuses it. (The CPU's cumsum adds in float64: beyond two quantiles on a side the two can
    differ in the last bit.)"""
    return torch.stack(list(itertools.accumulate(steps.unbind(-1))), -1) if steps.shape[-1] else steps


class Forecaster(FullPrecisionEvaluation, L.LightningModule):
    """Multivariate forecaster: lookback window ``(B, L, C)`` in, ``horizon`` steps of the target
    channels out. Metrics are MSE and MAE on the scaled data (as the literature reports them) and, once
    the target scaler is known, in original units: the scaler of the DataModule in hand (taken as each fit,
    validation, test or prediction starts), else one given to :meth:`set_target_scaler`. The metrics and the
    scaler stay in float32 in a model cast to bfloat16 (``precision="bf16-true"``), where Lightning hands them the
    targets in bfloat16.

    Args:
        channels: input channels ``C`` (``None``: taken from the DataModule when training starts).
        lookback, horizon: window lengths.
        model: ``"titans"`` or ``"dlinear"`` (the baseline, trained in the same harness).
        encoder: the Titans encoder's configuration (default: ``FORECAST_ENCODER``, a small bidirectional MAG),
            or a dict of the fields to change in it.
        patch_len, stride: patching of each channel's lookback. channel_mixing: mix channels before encoding.
        linear_skip: add a linear map from each channel's normalised lookback to the horizon (Titans only).
        cycle: learn a periodic pattern of this many steps per channel, removed from the lookback and added
            to the forecast (CycleNet; Titans only; e.g. 24 for a day of hourly data, 96 of 15-minute data).
            Batches then carry each row's position on the series' clock, as a ``TimeSeriesDataModule``'s do.
            When training starts with a DataModule and the pattern is still at its zero start, it starts at the mean
            normalised training lookback of each phase (so it is in use from the first step; a pattern that
            starts at zero, as CycleNet's, is still small when early stopping ends a short training). The model
            keeps (also in checkpoints) the DataModule's clock and, on the row clock, its first timestamp, and
            refuses data on the other clock, or a file that starts at another phase of the cycle.
        head_patches: the head reads only this many of the latest patches (Titans only; default all), so
            its size does not grow with the lookback; the encoder carries the earlier patches into them.
        target_channels: indices of the channels to forecast (default: all, or the DataModule's target
            for ``features="MS"``/``"S"``).
        loss: ``"mse"``, ``"mae"`` or ``"huber"`` (point forecasts). quantiles: e.g. ``[0.1, 0.5, 0.9]``:
            trains a quantile head with the pinball loss instead; the 0.5 quantile is the point forecast.
        learning_rate, weight_decay: AdamW. lr_schedule: ``"cosine"`` (annealed over the epochs;
            over the steps where the trainer sets ``max_steps``) or ``"halving"``
            (two epochs at the full rate, then halved after every epoch: the reference code's schedule for DLinear
            and the baselines of its era).
    """

    full_precision = ("metrics", "target_mean", "target_std", "quantile_levels")

    def __init__(self, channels: int | None = None, lookback: int = 96, horizon: int = 96,
                 model: ForecastModel = "titans",
                 encoder: EncoderFields | TitansConfig | None = FORECAST_ENCODER, patch_len: int = 16, stride: int = 8,
                 channel_mixing: bool = False, target_channels: list[int] | None = None, loss: Loss = "mse",
                 quantiles: list[float] | None = None, learning_rate: float = 3e-4, weight_decay: float = 1e-4,
                 linear_skip: bool = False, cycle: int | None = None, head_patches: int | None = None,
                 lr_schedule: LRSchedule = "cosine"):
        super().__init__()
        if model not in get_args(ForecastModel):
            raise ValueError(f"model must be one of {', '.join(get_args(ForecastModel))}, got {model!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        check_optimizer(learning_rate, weight_decay, lr_schedule)
        if channels is not None:
            positive_int("channels", channels)
        for name, value in (("lookback", lookback), ("horizon", horizon), ("patch_len", patch_len),
                            ("stride", stride)):
            positive_int(name, value)
        if model == "titans":
            PatchEmbedding.check(lookback, patch_len, stride)
        for name, value in (("channel_mixing", channel_mixing), ("linear_skip", linear_skip)):
            flag(name, value)
        quantiles = quantile_levels(quantiles)
        if quantiles is not None and model != "titans":
            raise ValueError("quantile forecasts need model='titans'")
        if model != "titans" and (channel_mixing or linear_skip or cycle or head_patches):
            raise ValueError("channel_mixing, linear_skip, cycle and head_patches need model='titans'")
        if cycle is not None and (not is_int(cycle) or cycle < 2):
            raise ValueError(f"cycle must be an integer of at least 2 steps (or None), got {cycle!r}")
        encoder = TitansConfig.coerce(encoder, FORECAST_ENCODER)
        if encoder.causal:
            raise ValueError("the forecaster's encoder reads the whole lookback: set causal=False")
        self.encoder_config, encoder = encoder, encoder.to_dict()  # checkpoints hold plain values
        self.save_hyperparameters()
        plain_hyperparameters(self)
        record_class_path(self)
        self.quantiles = quantiles
        with float32_default():
            self.register_buffer("quantile_levels", torch.tensor(quantiles or []), persistent=False)
            self.metrics = nn.ModuleDict({
                f"{split}_{name}": metric() for split in ("val", "test")
                for name, metric in (("loss", MeanLoss), ("mse", MeanSquaredError), ("mae", MeanAbsoluteError),
                                     ("mse_original", MeanSquaredError), ("mae_original", MeanAbsoluteError))
            })
        self.network = None
        self.cycle_placing: dict | None = None  # how the training data placed rows on the cycle (_cycle_placing)
        if channels is not None:
            self._build(channels, target_channels)

    def _build(self, channels: int, target_channels: list[int] | None) -> None:
        """Create the network for ``channels`` inputs (recorded in the hyper-parameters for checkpoints)."""
        h = self.hparams
        h.channels = channels
        self._set_targets(target_channels)
        plain_hyperparameters(self)  # channels and targets as given: numpy's too
        if h.model == "titans":
            q = self.quantiles
            self.network = TitansForecastNetwork(channels, h.lookback, h.horizon, self.encoder_config, h.patch_len,
                                                 h.stride, h.channel_mixing, quantiles=len(q) if q else 0,
                                                 median_index=q.index(0.5) if q else 0, linear_skip=h.linear_skip,
                                                 cycle=h.cycle, head_patches=h.head_patches)
        else:
            self.network = DLinear(h.lookback, h.horizon)

    def _set_targets(self, target_channels: list[int] | None) -> None:
        """Forecast ``target_channels`` (``None``: every channel), with the target scaler reset to none (NaN: no
        metrics in original units until one is known)."""
        channels = self.hparams.channels
        if target_channels is not None and (
                not isinstance(target_channels, (list, tuple)) or not target_channels
                or not all(is_int(c) and 0 <= c < channels for c in target_channels)
                or len(set(target_channels)) < len(target_channels)):
            raise ValueError(f"target_channels must be distinct channel indices from 0 to {channels - 1}, got "
                             f"{target_channels!r}")
        self.hparams.target_channels = target_channels
        self.target_channels = list(range(self.hparams.channels)) if target_channels is None else list(target_channels)
        for name in ("target_mean", "target_std"):
            self.register_buffer(name, torch.full((len(self.target_channels),), float("nan"), dtype=torch.float32))

    def set_target_scaler(self, mean, std) -> None:
        """Means and standard deviations of the target channels, to report metrics in original units."""
        self.target_mean.copy_(torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.target_std.copy_(torch.as_tensor(np.asarray(std), dtype=torch.float32))

    def setup(self, stage: str) -> None:
        self.setup_with(attached_datamodule(self), stage)

    def setup_with(self, datamodule, stage: str) -> None:
        """``setup`` with ``datamodule`` given, not the trainer's: builds the network from the data where it is not
        built, checks that the data fits it and, to ``fit`` with a cycle, starts the cycle from the training batches
        an epoch reads (the attached trainer's ``limit_train_batches``). The command line calls it before a run, so
        that data that does not fit stops it before Lightning makes its log folders."""
        self._check_windows(datamodule)
        if self.network is None:
            if datamodule is None:
                raise ValueError("channels was not given and there is no DataModule to take it from")
            datamodule.setup(stage)
            given = self.hparams.target_channels
            self._build(datamodule.n_inputs, given if given is not None or datamodule.features == "M"
                        else datamodule.target_index)
        if getattr(datamodule, "features", None) is not None:  # a TimeSeriesDataModule: its data fits the model
            self._check_data(datamodule, stage)
        cycle = getattr(self.network, "cycle", None)
        if stage == "fit" and cycle is not None and getattr(datamodule, "features", None) is not None:
            self.cycle_placing = _cycle_placing(datamodule)
        if stage == "fit" and cycle is not None and datamodule is not None and not cycle.values.any():
            limit = self._trainer.limit_train_batches if self._trainer is not None else None
            batches = _epoch_batches(datamodule.train_dataloader(), limit)
            self.network.start_cycle((x, clock) for x, _, clock in map(_windows, batches))

    def _take_data(self) -> None:
        """The target scaler of the DataModule in hand, also for a model trained on other data, and the check that
        it places rows on the cycle as the training data did. Done as each run starts, not at setup: a checkpoint
        restored after setup (``ckpt_path``) brings its training data's scaler and placing."""
        datamodule = attached_datamodule(self)
        scaler = getattr(datamodule, "scaler", None)
        if scaler is not None:
            index = datamodule.target_index
            self.set_target_scaler(scaler.mean_[index], scaler.scale_[index])
        if getattr(datamodule, "features", None) is not None:
            self._check_cycle_placing(datamodule)

    on_fit_start = on_validation_start = on_test_start = on_predict_start = _take_data  # after any restore

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.cycle_placing is not None:
            checkpoint["cycle_placing"] = self.cycle_placing

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.cycle_placing = checkpoint.get("cycle_placing")
        resume_at_own_rates(checkpoint, self.hparams.learning_rate, self.hparams.weight_decay)

    def _check_cycle_placing(self, datamodule) -> None:
        """A cycle learned on one clock is read on the same: on the row clock, from a file that starts at the
        training file's phase of the cycle (where both have timestamps to tell)."""
        learned = self.cycle_placing
        if learned is None or self.hparams.cycle is None:
            return
        given = _cycle_placing(datamodule)
        if given["clock"] != learned["clock"]:
            raise ValueError(f"the model's cycle was learned on the {learned['clock']} clock but the DataModule "
                             f"places rows on the {given['clock']} clock: give it clock={learned['clock']!r}")
        if learned["first_time"] is None or given["first_time"] is None:
            return
        start, first = pd.Timestamp(learned["first_time"]), datamodule.series.times[:1]
        if (start.tz is None) != (first.tz is None):
            return
        off = int(steps_since_start(first, start, datamodule.step)[0]) % self.hparams.cycle
        if off:
            raise ValueError(f"the model's cycle counts rows from its training file's first row ({start}); this "
                             f"file starts {off} steps off that phase of the {self.hparams.cycle}-step cycle, so "
                             f"every row would be read at another phase: use a file that starts at the training "
                             f"file's phase, or train and forecast with clock='time' (rows placed by timestamp)")

    def _check_built(self) -> None:
        if self.network is None:
            raise ValueError("the network is not built yet: give channels, or fit with a DataModule first")

    def _check_windows(self, datamodule) -> None:
        """The DataModule's lookback and horizon, where it has them, are the model's."""
        for name in ("lookback", "horizon"):
            theirs = getattr(datamodule, name, None)
            if theirs is not None and theirs != self.hparams[name]:
                raise ValueError(f"the model's {name} is {self.hparams[name]} but the data's is {theirs}: "
                                 f"give both the same {name}")

    def _check_data(self, datamodule, stage: str) -> None:
        """The DataModule's channels are the model's, and its targets those the model forecasts. A model given
        ``channels`` but no ``target_channels`` takes the targets of the data it is first fitted on (the target
        of ``features="MS"``)."""
        if datamodule.n_inputs != self.hparams.channels:
            raise ValueError(f"the model reads {self.hparams.channels} channels but the data has {datamodule.n_inputs}")
        targets = list(datamodule.target_index)  # every channel for features "M"
        if stage == "fit" and self.hparams.target_channels is None and targets != self.target_channels:
            self._set_targets(targets)
        if targets != self.target_channels:
            raise ValueError(f"the model forecasts channels {self.target_channels} but the data's targets are "
                             f"{targets} (features={datamodule.features!r})")

    def forward(self, x: Tensor, clock: Tensor | None = None) -> Tensor:
        """Forecast ``(B, H, targets)``, or ``(B, H, targets, quantiles)`` with a quantile head; ``clock``
        (needed with a ``cycle``): each row's position on the series' clock ``(B, lookback + horizon)``, or each
        window's first ``(B,)`` with its rows consecutive (:meth:`TitansForecastNetwork.window_clock`)."""
        self._check_built()
        expected = (self.hparams.lookback, self.hparams.channels)
        if not isinstance(x, Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (batch, lookback, channels) = (batch, {expected[0]}, "
                             f"{expected[1]}), got {got}")
        weights_dtype("x", x, next(self.network.parameters()).dtype, "forecaster")
        if self.hparams.model == "dlinear":
            return self.network(x)[:, :, self.target_channels]
        return self.network(x, clock)[:, :, self.target_channels]

    def point(self, prediction: Tensor) -> Tensor:
        """The point forecast in ``prediction``: itself, or its median with a quantile head."""
        return prediction[..., self.quantiles.index(0.5)] if self.quantiles else prediction

    def _loss(self, prediction: Tensor, target: Tensor) -> Tensor:
        if self.quantiles:
            return pinball_loss(prediction, target, self.quantile_levels)
        fn = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}[self.hparams.loss]
        return fn(prediction, target)

    def training_step(self, batch, batch_idx):
        x, y, clock = _windows(batch)
        loss = self._loss(self(x, clock), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _evaluate(self, batch, split: str) -> None:
        x, y, clock = _windows(batch)
        prediction, y = self(x, clock).float(), y.float()
        self.metrics[f"{split}_loss"].update(self._loss(prediction, y), x.shape[0])
        point = self.point(prediction)
        self.metrics[f"{split}_mse"].update(point, y)
        self.metrics[f"{split}_mae"].update(point, y)
        names = ["loss", "mse", "mae"]
        if not self.target_std.isnan().any():  # a scaler is known
            original = lambda t: t * self.target_std + self.target_mean  # noqa: E731
            self.metrics[f"{split}_mse_original"].update(original(point), original(y))
            self.metrics[f"{split}_mae_original"].update(original(point), original(y))
            names += ["mse_original", "mae_original"]
        for name in names:
            self.log(f"{split}_{name}", self.metrics[f"{split}_{name}"],
                     prog_bar=name == "mse" or (name == "loss" and split == "val"))

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def predict_step(self, batch, batch_idx):
        if not isinstance(batch, (list, tuple)):
            return self(batch)
        last = batch[-1]  # the clock is the integer item: (x, clock) or (x, y, clock), not (x, y)
        return self(batch[0], last if len(batch) > 1 and not last.is_floating_point() else None)

    def configure_optimizers(self):
        return adamw_with_schedule(self, self.hparams.lr_schedule)

    @torch.no_grad()
    def forecast(self, datamodule) -> pd.DataFrame:
        """The next ``horizon`` steps after the end of the DataModule's series, in original units,
        indexed by the future timestamps (step inferred from the series); quantiles as extra columns. The
        DataModule must hold the model's channels, targets, lookback and horizon."""
        self._check_built()
        datamodule.setup("predict")
        self._check_windows(datamodule)
        self._check_data(datamodule, "predict")
        self._check_cycle_placing(datamodule)
        context, clock = next(iter(datamodule.predict_dataloader()))
        with evaluation_mode(self):  # in the weights' dtype: bfloat16 for a model trained in bf16-true
            prediction = self(context.to(self.device, next(self.parameters()).dtype), clock.to(self.device))
        return self.predictions_frame([prediction], datamodule)

    def predictions_frame(self, predictions: list[Tensor], datamodule) -> pd.DataFrame:
        """``predict``'s output on the DataModule's latest window as a frame (see :meth:`forecast`)."""
        series = datamodule.series
        prediction = predictions[0][0].detach().float().cpu().numpy()
        names = [series.names[i] for i in datamodule.target_index]
        index = future_index(series.times, self.hparams.horizon, datamodule.step, first_position=len(series.values))
        # Named, so that a CSV of it has a header for every column and reads back as a series.
        index.name = (series.times.name or "time") if series.times is not None else "row"
        if not self.quantiles:
            return pd.DataFrame(datamodule.inverse_transform(prediction), index=index, columns=names)
        columns = {}
        for q_index, level_columns in enumerate(self._forecast_columns(names)):
            values = datamodule.inverse_transform(prediction[..., q_index])
            columns.update(zip(level_columns, values.T, strict=True))
        return pd.DataFrame(columns, index=index)

    def _forecast_columns(self, names: list[str]) -> list[list[str]]:
        """The forecast frame's columns for each quantile level: the targets' ``names`` at the median,
        ``{name}_q{level}`` at the others. A ValueError where a name comes twice, and one forecast would overwrite
        another (rename the column and forecast again: the names do not enter the model)."""
        columns = [[name if q == 0.5 else f"{name}_q{q:g}" for name in names] for q in self.quantiles]
        every = [column for level in columns for column in level]
        twice = sorted({column for column in every if every.count(column) > 1})
        if twice:
            raise ValueError(f"forecast column(s) {twice} would be named twice: a target named as another target's "
                             f"quantile forecast (name_q<level>), or two quantile levels alike to 6 digits; rename "
                             f"the target or give distinct levels")
        return columns


def _cycle_placing(datamodule) -> dict:
    """How a TimeSeriesDataModule places rows on a cycle, as a checkpoint keeps it: its clock and, on the row clock,
    its series' first timestamp (``None`` without timestamps)."""
    times = datamodule.series.times
    first = times[0].isoformat() if datamodule.clock == "rows" and times is not None else None
    return {"clock": datamodule.clock, "first_time": first}


def _epoch_batches(loader, limit: int | float | None):
    """The batches of ``loader`` that an epoch under Lightning's ``limit_train_batches`` of ``limit`` reads: that
    many (an integer), that share of them (a float), or all (``None``)."""
    if limit is None or (isinstance(limit, float) and limit >= 1.0):
        return loader
    return itertools.islice(loader, limit if isinstance(limit, int) else int(len(loader) * limit))


def _windows(batch) -> tuple[Tensor, Tensor, Tensor | None]:
    """A batch's inputs, targets and clock (``None`` for a batch of ``(x, y)`` only)."""
    x, y, *rest = batch
    return x, y, rest[0] if rest else None
