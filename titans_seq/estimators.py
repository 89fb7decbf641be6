"""scikit-learn style estimators: ``TitansForecaster`` and ``TitansSequenceClassifier``.

They wrap the Lightning models (:class:`~titans_seq.tasks.Forecaster`,
:class:`~titans_seq.tasks.SequenceClassifier`) and add no model code of their own. Parameters are
validated in ``fit``; fitted attributes end in ``_``; ``save``/``load`` and pickling keep weights,
hyper-parameters, scaler or class names, and the versions that wrote them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import io
import logging
import math
import os
import pickle
import platform
import random
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from titans_seq import __version__
from titans_seq._checks import is_int, native
from titans_seq._io import replacing
from titans_seq.data.dna import DNATokenizer, read_fasta
from titans_seq.data.genomics import SequenceDataModule, stratified_split
from titans_seq.data.times import forecast_clock, future_index, median_step, steps_since_start
from titans_seq.data.timeseries import Series, TimeSeriesDataModule, holds_iso_timestamps, read_series
from titans_seq.layers import VARIANTS
from titans_seq.tasks import (
    DNA_ENCODER,
    FORECAST_ENCODER,
    Forecaster,
    SequenceClassifier,
    best_checkpoint_trainer,
)
from titans_seq.tasks.classifier import check_uncropped
from titans_seq.tasks.forecaster import LOSSES, quantile_levels
from titans_seq.tasks.optim import check_lr_schedule

__all__ = ["TitansForecaster", "TitansSequenceClassifier", "load"]


def _check(name: str, value, kind: type | tuple, low=None, high=None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    value = native(value)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Lightning's informational log lines (devices, tips, why fit stopped) off while ``enabled``."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    if enabled:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _keeping_determinism():
    """Put back torch's process-wide deterministic-algorithms setting, cuDNN's benchmark switch and cuBLAS'
    workspace variable, which a Lightning Trainer sets from its ``deterministic`` argument, so that fitting leaves
    the user's as they were."""
    enabled, warn_only = (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled())
    workspace, benchmark = os.environ.get("CUBLAS_WORKSPACE_CONFIG"), torch.backends.cudnn.benchmark
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


def _versions() -> dict:
    return {"titans_seq": __version__, "torch": torch.__version__, "lightning": L.__version__,
            "python": platform.python_version()}


def _check_random_state(random_state) -> None:
    if random_state is None or isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return
    if not is_int(random_state):
        raise ValueError(f"random_state must be an int, a numpy RandomState or Generator, or None, got "
                         f"{random_state!r}")
    _check("random_state", random_state, int, 0, 2**32 - 1)


def _fit_seed(random_state) -> int | None:
    """The seed of one fit: ``random_state`` itself where it is an integer, or drawn from it where it is a numpy
    ``RandomState`` or ``Generator``, so that each fit draws its own and advances it (scikit-learn's convention)."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**32, dtype=np.uint64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    return native(random_state)


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Seeded by ``seed`` where one is given, with the process's random generators (Python's, numpy's, torch's)
    and Lightning's seed variables put back afterwards: a fit does not restart the user's own draws, as a
    scikit-learn estimator never touches the global ones."""
    if seed is None:
        yield
        return
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)
    variables = {name: os.environ.get(name) for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")}
    L.seed_everything(seed, workers=True, verbose=False)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_UNSET = object()


def _checked_and_seeded(fit):
    """``fit`` after the parameters' checks, under :func:`_seeded` by the fit's seed, kept as ``seed_``."""
    @functools.wraps(fit)
    def wrapped(self, *args, **kwargs):
        self._validate_params()
        before = self.__dict__.get("seed_", _UNSET)
        self.seed_ = _fit_seed(self.random_state)
        try:
            with _seeded(self.seed_):
                return fit(self, *args, **kwargs)
        except BaseException:  # a failed fit leaves no seed_ of its own: scikit-learn would take it as fitted
            if before is _UNSET:
                del self.seed_
            else:
                self.seed_ = before
            raise
    return wrapped


class _LightningEstimator(BaseEstimator):
    """What both estimators share: validation, the trainer, device choice, seeding, saving, loading, pickling.

    ``random_state`` seeds each fit: an integer repeats it, a numpy ``RandomState`` or ``Generator`` gives each fit
    a seed drawn from it, ``None`` leaves it unseeded (and not deterministic). ``seed_`` is the seed a fit ran under.
    A fit seeds and restores the process's random generators and Lightning's logging, so fits do not run in
    threads of one process side by side (joblib's threading backend); processes (its default) do."""

    _positive_ints: tuple[str, ...] = ()  # the parameters that must be integers >= 1

    def _validate_params(self) -> None:
        for name in self._positive_ints:
            _check(name, getattr(self, name), int, 1)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        _check("learning_rate", self.learning_rate, (int, float), 1e-12)
        _check("weight_decay", self.weight_decay, (int, float), 0)
        _check("dropout", self.dropout, (int, float), 0, 0.99)
        _check("validation_fraction", self.validation_fraction, (int, float), 0.01, 0.9)
        _check("max_steps_per_epoch", self.max_steps_per_epoch, int, 1, allow_none=True)
        _check_random_state(self.random_state)
        if not isinstance(native(self.verbose), bool):  # scikit-learn's convention: an integer level, 0 for silence
            _check("verbose", self.verbose, int, 0)
        check_lr_schedule(self.lr_schedule)
        self._accelerator()

    def _native_params(self) -> SimpleNamespace:
        """The parameters with numpy scalars as Python numbers, which the DataModules and layers check for
        (the parameters themselves stay as given: scikit-learn's ``clone`` checks that they are the same objects)."""
        return SimpleNamespace(**{k: native(v) for k, v in self.get_params(deep=False).items()})

    def _accelerator(self) -> str:
        if self.device not in ("auto", "cpu", "cuda", "gpu"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "auto":
            return "gpu" if torch.cuda.is_available() else "cpu"
        if self.device in ("cuda", "gpu") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r}, but torch sees no CUDA GPU here; use 'cpu' or 'auto'")
        return "gpu" if self.device in ("cuda", "gpu") else "cpu"

    def _train(self, model: L.LightningModule, datamodule, monitor: str) -> None:
        """Fit with early stopping on ``monitor`` and keep the best weights; silent unless ``verbose``. With
        ``max_steps_per_epoch``, an epoch trains on that many batches (the loader shuffles: others each epoch)
        and validates on as many examples, those the DataModule's ``validation_subset`` picks."""
        p = self._native_params()
        if p.max_steps_per_epoch is not None:
            datamodule.validation_limit = p.max_steps_per_epoch * p.batch_size
        with warnings.catch_warnings(), _quiet(not p.verbose), _keeping_determinism():
            if not p.verbose:
                warnings.simplefilter("ignore")
            with best_checkpoint_trainer(monitor, p.max_epochs, p.patience, self._accelerator(),
                                         bool(p.verbose), weights_only=True,
                                         deterministic=self.seed_ is not None,
                                         limit_train_batches=p.max_steps_per_epoch) as (trainer, best):
                trainer.fit(model, datamodule=datamodule)
                score = best.best_model_score
                if score is None or not torch.isfinite(score):
                    raise ValueError(f"training diverged: {monitor} was never finite ({score}); lower "
                                     f"learning_rate (now {p.learning_rate})")
                model.load_state_dict(torch.load(best.best_model_path, weights_only=True)["state_dict"])
        model.trainer = None  # which holds the DataModule: the training data would live as long as the estimator
        model.eval()

    # Saving, loading and pickling share one representation: plain values, tensors and arrays.
    def _state(self) -> dict:
        check_is_fitted(self, "model_")
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_") and k != "model_"}
        return {"estimator": type(self).__name__, "params": self.get_params(), "fitted": fitted,
                "hparams": dict(self.model_.hparams), "state_dict": self.model_.state_dict(), "versions": _versions()}

    @classmethod
    def _from_state(cls, state: dict):
        if state.get("estimator") != cls.__name__:
            raise ValueError(f"this file holds a {state.get('estimator')}, not a {cls.__name__}")
        estimator = cls(**state["params"])
        for name, value in state["fitted"].items():
            setattr(estimator, name, value)
        estimator._complete_fitted()
        with torch.random.fork_rng(devices=[]):  # the weights' initial draws, replaced next, leave the user's alone
            estimator.model_ = cls._module(**{k: v for k, v in state["hparams"].items() if k != "_class_path"})
        estimator.model_.load_state_dict(state["state_dict"])
        estimator.model_.eval()
        return estimator

    def _complete_fitted(self) -> None:
        """Fill in fitted attributes that files saved by earlier versions lack."""
        if not hasattr(self, "seed_"):  # files saved before 2026-12-05 (evening) took integer seeds only
            self.seed_ = native(self.random_state)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted estimator to ``path`` (a temporary file renamed into place)."""
        state, path = self._state(), Path(path)  # NotFittedError before anything touches the disk
        with replacing(path) as tmp:
            torch.save(state, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """An estimator saved by :meth:`save`."""
        return cls._from_state(_saved_state(path))

    def __getstate__(self):
        if not hasattr(self, "model_"):
            return self.__dict__.copy()
        buffer = io.BytesIO()
        torch.save(self._state(), buffer)
        # Beside it, pickled as usual, the rest of the instance: scikit-learn's own, such as set_score_request's.
        params = self.get_params()
        other = {k: v for k, v in vars(self).items() if k not in params and not k.endswith("_")}
        return {"__titans_state__": buffer.getvalue(), **other}

    def __setstate__(self, state):
        if "__titans_state__" in state:
            state = dict(state)
            # On the CPU as load() does: a model trained on a GPU unpickles on a machine without one.
            loaded = self._from_state(torch.load(io.BytesIO(state.pop("__titans_state__")), weights_only=False,
                                                 map_location="cpu"))
            state = {**loaded.__dict__, **state}
        self.__dict__.update(state)
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if name != "self":  # a parameter added since an unfitted estimator was pickled: its default
                self.__dict__.setdefault(name, parameter.default)


def _saved_state(path: str | os.PathLike) -> dict:
    """What ``save`` wrote at ``path`` (on the CPU); a ``ValueError`` naming ``path`` for any other file."""
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError) as error:
        raise ValueError(f"{path} is not a file that save() wrote, or it was cut short: {error}") from None
    if not isinstance(state, dict) or state.get("estimator") not in _ESTIMATORS:
        raise ValueError(f"{path} does not hold a titans_seq estimator")
    return state


def load(path: str | os.PathLike):
    """Load an estimator of either kind saved by ``save``."""
    state = _saved_state(path)
    return _ESTIMATORS[state["estimator"]]._from_state(state)


# ---------------------------------------------------------------------------------------------- forecasting

class _SeriesDataModule(TimeSeriesDataModule):
    """A checked series split in time: the last ``validation_fraction`` of windows validate."""

    def __init__(self, series: Series, validation_fraction: float, **kwargs):
        super().__init__(**kwargs)
        self._series, self.validation_fraction = series, validation_fraction

    def load(self) -> Series:
        return self._series

    @staticmethod
    def validation_rows(rows: int, horizon: int, validation_fraction: float) -> int:
        """Rows of the validation part: the last ``validation_fraction`` of them, at least one horizon."""
        return max(horizon, int(rows * validation_fraction))

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        val_rows = self.validation_rows(rows, self.horizon, self.validation_fraction)
        return {"train": (0, rows - val_rows), "val": (rows - val_rows, rows)}


class TitansForecaster(_LightningEstimator):
    """Multivariate forecaster: ``fit(y)`` on a series, ``predict()`` the next ``horizon`` steps.

    ``y`` is a DataFrame indexed by time (a DatetimeIndex, a PeriodIndex, ISO 8601 timestamps as text, or a
    ``time_column``; their text is read in ``time_format`` where it is given, in ``strftime`` codes, e.g.
    ``"%d/%m/%Y"`` for day-first dates, the index's then too; by default as pandas guesses, month first where that
    is ambiguous), a Series (one channel) or a 2-D array (time x channels). Training uses the series' first rows,
    early-stopped on its last ``validation_fraction`` (the scaler sees only the training rows). Forecasts come
    back as a DataFrame indexed by the future timestamps, in original units: at the training series' step
    (``freq_``: its inferred frequency, or where gaps hide it the calendar step all timestamps but at most 1% lie
    on, such as month starts, business days or the 15th of each month, else the median gap). A zoned series is
    dated in the zone it was fitted in, whatever zone a later zoned ``y`` is given in.
    ``dropout`` (the encoder's, the patch embedding's and the head's) and ``weight_decay`` (AdamW's) set the
    regularisation; ``channel_mixing``, ``linear_skip``, ``cycle``, ``head_patches`` and ``lr_schedule`` are the
    :class:`~titans_seq.tasks.Forecaster`'s options of those names. ``max_steps_per_epoch`` bounds an epoch on a
    long series: that many batches of training windows, drawn anew each epoch, and as many windows of validation,
    evenly spaced over its time (by default an epoch reads every window).
    With a ``cycle``, each row of a timed series is placed on the cycle by its timestamp: ``freq_`` steps since
    ``clock_origin_`` (2000-01-01), in training and in ``predict`` and ``score`` (the forecast's rows too),
    so rows after a gap keep their time of day and a Monday its place after a Friday. A series without timestamps
    is placed by its index where that counts rows one by one (integers, each one more than the last, as a slice of
    the training frame keeps them), taking the training series' first index as its first row; an array (or another
    index) is taken to start at the training series' first row. Forecasts of a series without timestamps are
    indexed by the positions after its last row on that count.

    Fitted on a DataFrame or Series, ``feature_names_in_`` holds its columns, which later frames must have; fitted
    on an array, there is none (scikit-learn's convention), forecasts are columns ``x0, x1, ...`` and a frame's
    columns are taken in order, with a warning.

    ``score(y)`` is the negative MSE over every window of ``y``, on data scaled by the training
    statistics — the quantity the forecasting literature reports — so that higher is better.
    """

    _module = Forecaster
    _positive_ints = ("lookback", "horizon", "dim", "depth", "heads", "patch_len", "stride", "max_epochs",
                      "batch_size", "patience")

    def __init__(self, lookback: int = 96, horizon: int = 96, variant: str = "mag", dim: int = 64, depth: int = 2,
                 heads: int = 4, patch_len: int = 16, stride: int = 8, channel_mixing: bool = False,
                 linear_skip: bool = False, cycle: int | None = None, head_patches: int | None = None,
                 loss: str = "mse", quantiles: list[float] | None = None,
                 time_column: str | None = None, time_format: str | None = None, max_epochs: int = 10,
                 max_steps_per_epoch: int | None = None, batch_size: int = 32,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, dropout: float = FORECAST_ENCODER.dropout,
                 lr_schedule: str = "cosine", validation_fraction: float = 0.2, patience: int = 3,
                 random_state: int | np.random.RandomState | np.random.Generator | None = None,
                 device: str = "auto", verbose: bool = False):
        self.lookback, self.horizon, self.variant, self.dim, self.depth, self.heads = (lookback, horizon, variant,
                                                                                      dim, depth, heads)
        self.patch_len, self.stride, self.channel_mixing, self.loss, self.quantiles = (patch_len, stride,
                                                                                      channel_mixing, loss, quantiles)
        self.time_column, self.time_format, self.max_epochs = time_column, time_format, max_epochs
        self.max_steps_per_epoch = max_steps_per_epoch
        self.batch_size, self.learning_rate = batch_size, learning_rate
        self.weight_decay, self.dropout, self.linear_skip, self.cycle = weight_decay, dropout, linear_skip, cycle
        self.head_patches, self.lr_schedule = head_patches, lr_schedule
        self.validation_fraction, self.patience, self.random_state = validation_fraction, patience, random_state
        self.device, self.verbose = device, verbose

    def _validate_params(self) -> None:
        super()._validate_params()
        _check("channel_mixing", self.channel_mixing, bool)
        _check("linear_skip", self.linear_skip, bool)
        _check("cycle", self.cycle, int, 2, allow_none=True)
        _check("head_patches", self.head_patches, int, 1, allow_none=True)
        _check("time_format", self.time_format, str, allow_none=True)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        quantile_levels(self.quantiles)

    def _series(self, y, fitted: bool, depth: int = 1) -> tuple[Series, np.ndarray | None]:
        """Check ``y`` (against the fit's columns when ``fitted``) and return it as a Series, with its rows'
        positions where its index gives them (see :func:`_row_positions`). ``depth``: how many of this class's
        calls lie between the user's line and this one, where a warning points."""
        named = _has_column_names(y)
        if isinstance(y, pd.Series):  # one channel, keeping its name and its time index
            y = y.to_frame(name="x0" if y.name is None else y.name)
        if isinstance(y, pd.DataFrame):
            time_column = self.time_column
            dated = [c for c in y.columns if pd.api.types.is_datetime64_any_dtype(y[c])]
            if time_column is None and isinstance(y.index, (pd.DatetimeIndex, pd.PeriodIndex)):
                time_column = "the index"  # a name for it, which read_series makes the time column
            elif time_column is None and dated:
                time_column = dated[0]
            elif time_column is None and holds_iso_timestamps(y.index):  # timestamps read back as text
                time_column = "the index"
            elif time_column is None and self.time_format is not None:  # text dates in the index, say day first
                y, time_column = y.reset_index(names="the index"), "the index"
            series = read_series(y, time_column, time_format=self.time_format)
        elif isinstance(y, (str, os.PathLike)):
            raise TypeError(f"y must be a series, not a file's path ({str(y)!r}): read it first, for example with "
                            f"pd.read_csv(path, index_col=0, parse_dates=True)")
        else:
            array = np.asarray(y)
            if array.ndim == 1:
                array = array[:, None]
            if array.ndim != 2:
                raise ValueError(f"y must be a DataFrame, a Series or a 2-D array (time x channels), got "
                                 f"{type(y).__name__} of shape {array.shape}")
            series = read_series(pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])]), None)
        if fitted:
            if len(series.names) != self.n_features_in_:
                raise ValueError(f"y has {len(series.names)} columns, but the forecaster was fitted on "
                                 f"{self.n_features_in_}")
            if named and not hasattr(self, "feature_names_in_"):
                warnings.warn("y has column names, but the forecaster was fitted on an array without them; its "
                              "columns are taken in order", UserWarning, stacklevel=2 + depth)
            elif not named and hasattr(self, "feature_names_in_"):
                warnings.warn(f"y has no column names, but the forecaster was fitted with "
                              f"{list(self.feature_names_in_)}; its columns are taken in that order", UserWarning,
                              stacklevel=2 + depth)
            elif named and series.names != list(self.feature_names_in_):
                raise ValueError(f"y's columns {series.names} differ from those seen in fit "
                                 f"{list(self.feature_names_in_)}")
            series = self._in_fitted_zone(series)
        return series, _row_positions(y) if series.times is None else None

    def _in_fitted_zone(self, series: Series) -> Series:
        """``series`` with its timestamps in the time zone of the fit's (forecasts are dated in it); refused where
        one has a zone and the other none."""
        if series.times is None or self.first_time_ is None:
            return series
        if series.times.tz is None and self.first_time_.tz is not None:
            zone = self.first_time_.tz
            raise ValueError(f"y's timestamps are without a time zone, but the forecaster was fitted on timestamps "
                             f"with a time zone ({zone}): give y's, y.tz_localize('{zone}')")
        if series.times.tz is not None and self.first_time_.tz is None:
            raise ValueError("y's timestamps are with a time zone, but the forecaster was fitted on timestamps "
                             "without a time zone: y.tz_localize(None) keeps their local times, as a CSV's daily "
                             "timestamps whose offsets change with daylight saving are read")
        if series.times.tz is None:
            return series
        return dataclasses.replace(series, times=series.times.tz_convert(self.first_time_.tz))

    @_checked_and_seeded
    def fit(self, y, X=None):
        """Train on the series ``y``. Returns ``self``. ``X`` is not read (a warning where it is given): the
        forecaster reads the series' own past, no exogenous inputs."""
        _no_exogenous(X, stacklevel=4)  # past this method and the decorator's wrapper
        p = self._native_params()
        series, positions = self._series(y, fitted=False)
        rows, needed = len(series.values), p.lookback + p.horizon
        train_rows = max(0, rows - _SeriesDataModule.validation_rows(rows, p.horizon, p.validation_fraction))
        if train_rows < needed:
            raise ValueError(f"y has {rows} rows, {train_rows} of them before the validation part (the last "
                             f"validation_fraction={p.validation_fraction}, at least one horizon); fitting needs "
                             f"lookback + horizon = {needed} there: give a longer series or a shorter lookback, "
                             f"horizon or validation_fraction")
        data = _SeriesDataModule(series, p.validation_fraction, lookback=p.lookback, horizon=p.horizon,
                                 batch_size=p.batch_size, clock="rows" if series.times is None else "time")
        data.setup()
        encoder = dataclasses.replace(FORECAST_ENCODER, variant=p.variant, dim=p.dim, depth=p.depth,
                                      heads=p.heads, dropout=float(p.dropout))
        model = Forecaster(channels=len(series.names), lookback=p.lookback, horizon=p.horizon, encoder=encoder,
                           patch_len=p.patch_len, stride=p.stride, channel_mixing=p.channel_mixing,
                           linear_skip=p.linear_skip, cycle=p.cycle, head_patches=p.head_patches,
                           loss=p.loss, quantiles=p.quantiles,
                           learning_rate=p.learning_rate, weight_decay=float(p.weight_decay),
                           lr_schedule=p.lr_schedule)
        self._train(model, data, "val_mse")
        self.model_ = model.cpu()
        self.scaler_mean_, self.scaler_scale_ = data.scaler.mean_.copy(), data.scaler.scale_.copy()
        self.n_features_in_ = len(series.names)
        if _has_column_names(y):  # scikit-learn's convention: names only where y had them
            self.feature_names_in_ = np.array(series.names, dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)  # an earlier fit's
        self.freq_ = data.step  # the step the DataModule inferred for its clock
        self.last_window_ = series.values[-p.lookback:].copy()
        self.last_times_ = None if series.times is None else series.times[-p.lookback:]
        self.lookback_, self.horizon_ = p.lookback, p.horizon
        self.last_clock_ = data.clock_rows[-p.lookback:].copy()
        self.first_time_ = None if series.times is None else series.times[0]
        self.clock_origin_ = data.clock_origin
        self.first_position_ = None if series.times is not None else int(positions[0]) if positions is not None else 0
        return self

    def _complete_fitted(self) -> None:
        super()._complete_fitted()
        # Files saved before 2026-12-05 lack these; their models trained on the row clock, which last_clock_ continues.
        if not hasattr(self, "lookback_"):
            self.lookback_, self.horizon_ = self.lookback, self.horizon
        if not hasattr(self, "last_clock_"):
            self.last_clock_ = np.arange(self.n_rows_ - self.lookback_, self.n_rows_)
        if not hasattr(self, "first_position_"):  # and their untimed y were read from the training series' start
            self.first_position_ = None
        if not hasattr(self, "clock_origin_"):  # and their time clock counted from the first timestamp
            self.clock_origin_ = self.first_time_

    def _clock(self, series: Series, positions: np.ndarray | None) -> np.ndarray:
        """Where each of ``series``' rows lies on the training series' clock (see the class docstring)."""
        if series.times is not None and self.first_time_ is not None:
            gap, fitted_gap = (median_step(t) if len(t) > 1 else None for t in (series.times, self.last_times_))
            # A quarter's slack for calendar steps of uneven lengths (February against a 31-day month).
            if gap is not None and fitted_gap is not None and gap < 0.75 * fitted_gap:
                raise ValueError(f"y's timestamps lie {gap} apart (the median), closer than the fitted series' "
                                 f"{fitted_gap}: give y at the fitted step ({self.freq_}) or a coarser one")
            return steps_since_start(series.times, self.clock_origin_, self.freq_)
        if positions is not None and self.first_position_ is not None:
            return positions - self.first_position_
        # Taken to start at the training series' first row, where a timed fit's clock did not start at 0.
        start = 0 if self.first_time_ is None else int(
            steps_since_start(pd.DatetimeIndex([self.first_time_]), self.clock_origin_, self.freq_)[0])
        return start + np.arange(len(series.values))

    def _columns(self) -> list[str]:
        """The forecasts' column names: the fitted frame's, or ``x0, x1, ...`` for a fitted array."""
        return list(getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]))

    def _scaled(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((values - self.scaler_mean_) / self.scaler_scale_, dtype=torch.float32)

    def _raw_forecast(self, y) -> tuple[np.ndarray, pd.Index]:
        check_is_fitted(self, "model_")
        if y is None:
            window, times, clock = self.last_window_, self.last_times_, self.last_clock_
        else:
            series, positions = self._series(y, fitted=True, depth=2)
            if len(series.values) < self.lookback_:
                raise ValueError(f"y has {len(series.values)} rows, fewer than lookback = {self.lookback_}")
            window = series.values[-self.lookback_:]
            times = None if series.times is None else series.times[-self.lookback_:]
            clock = self._clock(series, positions)[-self.lookback_:]
        # A timed series on a timed fit's clock: the forecast's rows and timestamps at the training series' step.
        timed = times is not None and self.first_time_ is not None
        clock = forecast_clock(clock, self.horizon_, *((times, self.clock_origin_, self.freq_) if timed else ()))
        with torch.no_grad():
            out = self.model_(self._scaled(window).unsqueeze(0), clock)[0].numpy()
        scale = self.scaler_scale_.reshape(1, -1, *([1] * (out.ndim - 2)))
        mean = self.scaler_mean_.reshape(1, -1, *([1] * (out.ndim - 2)))
        if times is None:  # the positions after the last row, on the count of the training series' index
            first = (self.first_position_ or 0) + int(clock[0, -self.horizon_])
            index = future_index(None, self.horizon_, first_position=first)
        else:
            index = future_index(times, self.horizon_, self.freq_ if timed else None)
        return out * scale + mean, index

    def predict(self, y=None) -> pd.DataFrame:
        """The next ``horizon`` steps after the end of ``y`` (default: the training series)."""
        values, index = self._raw_forecast(y)
        if values.ndim == 3:
            values = values[..., self.model_.quantiles.index(0.5)]
        return pd.DataFrame(values, index=index, columns=self._columns())

    def predict_quantiles(self, y=None) -> pd.DataFrame:
        """Quantile forecasts: columns ``(feature, quantile)``. Needs ``quantiles`` at fit."""
        check_is_fitted(self, "model_")
        if not self.model_.quantiles:
            raise ValueError("predict_quantiles needs a forecaster fitted with quantiles, e.g. [0.1, 0.9]")
        values, index = self._raw_forecast(y)
        columns = pd.MultiIndex.from_product([self._columns(), self.model_.quantiles],
                                             names=["feature", "quantile"])
        return pd.DataFrame(values.reshape(len(index), -1), index=index, columns=columns)

    def score(self, y, X=None) -> float:
        """Negative MSE of every stride-1 window of ``y``, on scaled data (higher is better); ``X`` as in
        :meth:`fit`."""
        _no_exogenous(X, stacklevel=3)
        check_is_fitted(self, "model_")
        series, positions = self._series(y, fitted=True)
        scaled = self._scaled(series.values)
        if len(scaled) < self.lookback_ + self.horizon_:
            raise ValueError(f"y has {len(scaled)} rows, fewer than lookback + horizon = "
                             f"{self.lookback_ + self.horizon_}")
        windows = scaled.unfold(0, self.lookback_ + self.horizon_, 1).transpose(1, 2)
        clocks = torch.as_tensor(self._clock(series, positions)).unfold(0, self.lookback_ + self.horizon_, 1)
        total, count = 0.0, 0  # summed batch by batch: every window's errors together take horizon x channels each
        with torch.no_grad():
            for batch, clock in zip(windows.split(256), clocks.split(256), strict=True):
                errors = self.model_.point(self.model_(batch[:, :self.lookback_], clock)) - batch[:, self.lookback_:]
                total, count = total + errors.double().square().sum().item(), count + errors.numel()
        return -total / count


def _no_exogenous(X, stacklevel: int) -> None:
    """A warning where ``X`` is given: it is not read, and ``fit(X, y)`` in scikit-learn's order trains on X.
    (Not an error: scikit-learn's own checks call ``fit(X, y)`` with the series first.)"""
    if X is not None:
        warnings.warn("TitansForecaster forecasts one series, the first argument y, from its own past: the second "
                      "argument X (exogenous inputs) is not read; put every channel to read in y", UserWarning,
                      stacklevel=stacklevel)


def _has_column_names(y) -> bool:
    """Whether ``y`` names its columns: a DataFrame, or a Series with a name."""
    return isinstance(y, pd.DataFrame) or (isinstance(y, pd.Series) and y.name is not None)


def _row_positions(y) -> np.ndarray | None:
    """The index of a DataFrame or Series where it counts rows one by one (integers, each one more than the last):
    where each row lies on its series; else ``None``."""
    index = getattr(y, "index", None)
    if not isinstance(index, pd.Index) or not pd.api.types.is_integer_dtype(index.dtype) or len(index) == 0:
        return None
    positions = index.to_numpy(dtype=np.int64)
    return positions if bool((np.diff(positions) == 1).all()) else None


# ---------------------------------------------------------------------------------------------- genomics

def _sequences(X) -> tuple[list[str], list[str]]:
    """Sequences and their names from a list of strings, Biopython Seqs or SeqRecords, or a FASTA/FASTQ path."""
    from Bio.Seq import MutableSeq, Seq

    if isinstance(X, pd.DataFrame):  # iterating one gives its column names
        example = f", X[{X.columns.tolist()[0]!r}] for example" if len(X.columns) else ""
        raise ValueError(f"X is a DataFrame; give its column of sequences{example}")
    if isinstance(X, os.PathLike) or (isinstance(X, str) and os.path.isfile(X)):
        records = read_fasta(X)
        return [s for _, s in records], [n for n, _ in records]
    if isinstance(X, (str, bytes, dict, Seq)) or hasattr(X, "seq"):
        raise ValueError(f"X must be a list of sequences or the path of a FASTA file, got a single "
                         f"{type(X).__name__}" + (f" ({X[:40]!r}, not a file)" if isinstance(X, str) else ""))
    sequences, names = [], []
    for i, item in enumerate(X):
        if hasattr(item, "seq"):  # a Biopython SeqRecord
            sequence, name = str(item.seq), getattr(item, "id", str(i))
        elif isinstance(item, (str, Seq, MutableSeq)):
            sequence, name = str(item), str(i)
        else:
            raise ValueError(f"X[{i}] is a {type(item).__name__}; give DNA strings or Biopython SeqRecords")
        if not sequence:
            raise ValueError(f"X[{i}] ({name!r}) is an empty sequence")
        sequences.append(sequence)
        names.append(name)
    if not sequences:
        raise ValueError("X holds no sequences")
    return sequences, names


class _ArraysDataModule(SequenceDataModule):
    """Sequences given in memory, a stratified validation part carved off by the seed; the classes indexed in the
    order of ``class_names`` (the estimator's ``classes_``)."""

    def __init__(self, sequences, names, labels, validation_fraction: float, class_names: list[str], **kwargs):
        super().__init__(**kwargs)
        self.inputs, self.validation_fraction = (names, sequences, labels), validation_fraction
        self.given_class_names = class_names

    def load_splits(self):
        fractions = (1 - self.validation_fraction, self.validation_fraction)
        try:
            return stratified_split(self.inputs, fractions, self.seed)
        except ValueError as error:
            raise ValueError(f"validation_fraction={self.validation_fraction} cannot carve a validation part that "
                             f"holds every class from {len(self.inputs[0])} sequences of "
                             f"{len(self.given_class_names)} classes ({error})") from error

    def class_order(self, names: set[str]) -> list[str]:
        missing = [name for name in self.given_class_names if name not in names]
        if missing:
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no training sequence of "
                             f"class(es) {missing}")
        return list(self.given_class_names)


class TitansSequenceClassifier(ClassifierMixin, _LightningEstimator):
    """DNA sequence classifier: ``fit(X, y)`` with ``X`` a list of DNA strings, Biopython SeqRecords or a
    FASTA path and ``y`` any labels (strings too); ``predict``, ``predict_proba``, ``score`` (accuracy).

    Sequences are cropped to ``max_length`` (default: the longest sequence left for training once the validation
    part is split off; with a position term, the longest of all), a batch padded to its longest, and read ``patch``
    bases per token,
    each base also carrying its ``kmer`` (the k bases ending there; 0: off).
    ``kmer_linear_gain`` > 0 adds a linear term in each sequence's k-mer frequencies, learning that many
    times faster than the network (see :class:`~titans_seq.tasks.SequenceNetwork`; 0: off).
    ``position_linear_gain`` > 0 adds one in the dinucleotide at each position, for sequences of one length
    aligned on a landmark such as a TSS (0: off); such a model is fitted on and predicts sequences of at most its
    ``max_length_`` (none is cropped).
    ``rc_average`` averages each prediction with its reverse complement's; ``rc_augment`` trains on random
    reverse complements. Both make the classifier blind to the strand, right where the label does not
    depend on it (enhancers). ``strand_aware`` trains on both strands with a class head per strand
    instead, for sequences read in a meaningful orientation (promoters from their TSS), the k-mer term
    then counting the given strand's k-mers; it takes ``rc_augment=False``. ``dropout`` (the encoder's)
    and ``weight_decay`` (AdamW's) set the regularisation: on a few thousand sequences the benchmark's
    0.3 and 0.1 did better than the defaults (benchmarks/RESULTS.md). ``lr_schedule`` is the
    :class:`~titans_seq.tasks.SequenceClassifier`'s: ``"cosine"`` or ``"halving"``. ``max_steps_per_epoch`` bounds
    an epoch on many sequences: that many batches, drawn anew each epoch, and as many sequences of validation,
    each class in about its share (by default an epoch reads every sequence).
    """

    _module = SequenceClassifier
    _positive_ints = ("patch", "dim", "depth", "heads", "max_epochs", "batch_size", "patience")

    def __init__(self, variant: str = "mac", max_length: int | None = None, patch: int = 4, kmer: int = 6,
                 kmer_linear_gain: float = 0.0, position_linear_gain: float = 0.0, dim: int = 64, depth: int = 2,
                 heads: int = 4, pooling: str = "mean",
                 rc_average: bool = True, rc_augment: bool = True, strand_aware: bool = False, max_epochs: int = 10,
                 max_steps_per_epoch: int | None = None, batch_size: int = 64, learning_rate: float = 1e-3,
                 weight_decay: float = 0.01,
                 dropout: float = DNA_ENCODER.dropout, lr_schedule: str = "cosine",
                 validation_fraction: float = 0.1, patience: int = 3,
                 random_state: int | np.random.RandomState | np.random.Generator | None = None,
                 device: str = "auto", verbose: bool = False):
        self.variant, self.max_length, self.patch, self.kmer = variant, max_length, patch, kmer
        self.kmer_linear_gain, self.position_linear_gain = kmer_linear_gain, position_linear_gain
        self.dim, self.depth, self.heads = dim, depth, heads
        self.pooling, self.rc_average, self.rc_augment = pooling, rc_average, rc_augment
        self.strand_aware = strand_aware
        self.max_epochs, self.batch_size, self.learning_rate = max_epochs, batch_size, learning_rate
        self.max_steps_per_epoch = max_steps_per_epoch
        self.weight_decay, self.dropout, self.lr_schedule = weight_decay, dropout, lr_schedule
        self.validation_fraction, self.patience, self.random_state = validation_fraction, patience, random_state
        self.device, self.verbose = device, verbose

    def _validate_params(self) -> None:
        super()._validate_params()
        _check("max_length", self.max_length, int, 1, allow_none=True)
        _check("kmer", self.kmer, int, 0, 12)
        _check("kmer_linear_gain", self.kmer_linear_gain, (int, float), 0)
        _check("position_linear_gain", self.position_linear_gain, (int, float), 0)
        if self.kmer_linear_gain and not self.kmer:
            raise ValueError("kmer_linear_gain needs kmer > 0 (the k-mers it weighs)")
        for name in ("rc_average", "rc_augment", "strand_aware"):
            _check(name, getattr(self, name), bool)
        if self.strand_aware and self.rc_augment:
            raise ValueError("strand_aware=True reverse-complements training sequences itself, knowing which "
                             "strand it reads: set rc_augment=False")

    @_checked_and_seeded
    def fit(self, X, y):
        """Train on sequences ``X`` with labels ``y``. Returns ``self``."""
        p = self._native_params()
        sequences, names = _sequences(X)
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = column_or_1d(labels, warn=True)  # as scikit-learn's classifiers take a column, with a warning
        check_classification_targets(labels)
        if labels.ndim != 1 or len(labels) != len(sequences):
            raise ValueError(f"X has {len(sequences)} sequences but y has {labels.shape} labels; they must match")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"y has a single class ({classes.tolist()[0]!r}); classification needs at least two")
        tokenizer = DNATokenizer()
        for sequence, name in zip(sequences, names, strict=True):
            tokenizer.encode(sequence, name)  # every bad character is reported before any training
        if counts.min() < 2:
            raise ValueError(f"class {classes.tolist()[counts.argmin()]!r} has a single sequence; every class needs "
                             f"at least two, one to train on and one to validate")
        max_length = p.max_length
        if p.position_linear_gain:  # reads every sequence whole, those that validation takes too
            max_length = max(map(len, sequences)) if max_length is None else max_length
            check_uncropped(sequences, names, max_length, "max_length")
        # The DataModule indexes the classes in the order of class_names: np.unique's, which scikit-learn's
        # classes_ follows, where sorting the labels' strings would not ("10" < "2").
        class_names = [str(c) for c in classes]
        data = _ArraysDataModule(sequences, names, [class_names[i] for i in np.searchsorted(classes, labels)],
                                 p.validation_fraction, class_names, max_length=max_length,
                                 batch_size=p.batch_size, rc_augment=p.rc_augment, seed=self.seed_ or 0)
        data.setup()
        encoder = dataclasses.replace(DNA_ENCODER, variant=p.variant, dim=p.dim, depth=p.depth,
                                      heads=p.heads, dropout=float(p.dropout))
        model = SequenceClassifier(classes=len(classes), class_names=class_names, encoder=encoder,
                                   pooling=p.pooling, patch=p.patch, kmer=p.kmer,
                                   kmer_linear_gain=float(p.kmer_linear_gain),
                                   position_linear_gain=float(p.position_linear_gain), max_length=data.max_length,
                                   rc_average=p.rc_average, strand_aware=p.strand_aware,
                                   learning_rate=p.learning_rate,
                                   weight_decay=float(p.weight_decay), lr_schedule=p.lr_schedule)
        self._train(model, data, "val_loss")
        self.model_ = model.cpu()
        self.classes_ = classes
        self.max_length_ = data.max_length
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_sequences, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self, "model_")
        sequences, names = _sequences(X)
        if self.model_.hparams.position_linear_gain:
            check_uncropped(sequences, names, self.max_length_, "max_length_")
        probabilities = []
        with torch.no_grad():
            for i in range(0, len(sequences), 256):  # tokenised as read, padded to the batch's longest, cropped as fit
                group = sequences[i: i + 256]
                ids = self.model_.tokenizer.batch(group, min(self.max_length_, max(map(len, group))), names[i: i + 256])
                probabilities.append(self.model_.probabilities(ids))
        return torch.cat(probabilities).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sequence."""
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(1)]


# The estimators by the name a saved file records (``save``'s "estimator").
_ESTIMATORS = {cls.__name__: cls for cls in (TitansForecaster, TitansSequenceClassifier)}
