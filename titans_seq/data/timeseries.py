"""Multivariate time series for forecasting: checked tables, the standard splits, stride-1 windows.

The protocol is the literature's (Informer / Autoformer / Time-Series-Library / PatchTST): fixed
train / validation / test borders, each later split starting ``lookback`` rows early so that its first
window has a full context; a ``StandardScaler`` fitted on the training rows only; every window
evaluated (no ``drop_last`` outside training). ``features``: ``M`` (all variables in, all out), ``S``
(the target only) or ``MS`` (all in, the target out).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, Dataset, TensorDataset

from titans_seq._checks import positive_int
from titans_seq.data.files import compression, locate, table_separator
from titans_seq.data.splits import SplitDataModule
from titans_seq.data.times import (
    Step,
    clock_origin,
    forecast_clock,
    one_time_of_day,
    steps_since_start,
    time_step,
)

__all__ = ["CSVDataModule", "ETTDataModule", "Series", "TimeSeriesDataModule", "WeatherDataModule",
           "WindowDataset", "read_series"]

FEATURES = ("M", "S", "MS")


@dataclass
class Series:
    """A checked multivariate series: ``values`` (T, C) float64, column ``names``, ``times`` (or None)."""

    values: np.ndarray
    names: list[str]
    times: pd.DatetimeIndex | None


# How a time column is parsed, in turn until one parses every cell: pandas' guess of one format from the first
# row; ISO 8601 in any of its forms (dates beside date-times); in UTC (offsets or time zones that differ between
# rows, daylight saving among them); both.
_TIME_PARSES = ({}, {"format": "ISO8601"}, {"utc": True}, {"format": "ISO8601", "utc": True})
_UTC_OFFSET = r"(Z|[+-]\d\d:?\d\d)\s*$"  # at the end of a timestamp's text


def _timestamps(column: pd.Series, name: str, time_format: str | None = None) -> pd.Series:
    """A time column parsed as timestamps (``NaT`` where one does not parse; of the ways tried, the one that parses
    the most), in ``time_format`` if given. Numbers are refused rather than read as nanoseconds since 1970; periods
    stand for their start."""
    if time_format is not None and pd.api.types.is_integer_dtype(column):  # dates coded as numbers: 20200131
        column = column.astype(str)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raise ValueError(f"time column {name!r} holds numbers, not timestamps: convert them to dates, or, to number "
                         f"the rows instead, drop the column (or make it the index) and pass time_column=None")
    if isinstance(column.dtype, pd.PeriodDtype):
        return column.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(column):  # parsed already: one zone or none, for every cell
        return column
    offsets = _utc_offsets(column)
    _check_all_zoned(column, name, offsets)
    best = None
    parses = _TIME_PARSES if time_format is None else ({"format": time_format}, {"format": time_format, "utc": True})
    for options in parses:
        try:
            times = pd.to_datetime(column, errors="coerce", **options)
        except ValueError:  # offsets that differ between rows, without utc
            continue
        if not pd.api.types.is_datetime64_any_dtype(times):  # pandas 2 gives such offsets as objects, without utc
            continue
        if not times.isna().any():
            if options.get("utc"):
                wall = _on_one_time_of_day(offsets, times)
                return times if wall is None else wall
            return times
        if best is None or times.isna().sum() < best.isna().sum():
            best = times
    return best


def _on_one_time_of_day(offsets: pd.Series, in_utc: pd.Series) -> pd.Series | None:
    """The wall-clock times of timestamps whose UTC offsets differ (daylight saving), ``in_utc`` as parsed, where all
    show one time of day: the days, business days or months of a zoned series written to a CSV, whose calendar their
    UTC instants would lose (a Berlin midnight is 22:00 or 23:00 UTC the day before). Else ``None``: the UTC instants
    stand."""
    if offsets.isna().any():
        return None
    wall = in_utc.dt.tz_localize(None) + offsets.to_numpy()
    return wall if one_time_of_day(pd.DatetimeIndex(wall)) else None


def _utc_offsets(column: pd.Series) -> pd.Series:
    """Each cell's UTC offset as its text ends with it (``Z``, ``+02:00``, ``-0500``; a zoned datetime's text shows
    its own), ``NaT`` where it shows none."""
    # Read once for each distinct ending (a handful), not for each of millions of cells: an offset ends the text.
    codes, endings = pd.factorize(column.astype(str).str.rstrip().str[-6:], use_na_sentinel=False)
    written = pd.Series(endings).str.extract(_UTC_OFFSET)[0].replace("Z", "+00:00").str.replace(":", "")
    minutes = written.str[1:3].astype(float) * 60 + written.str[3:5].astype(float)
    offsets = pd.to_timedelta(minutes.where(written.str[0] == "+", -minutes), unit="min")
    return pd.Series(offsets.to_numpy()[codes], index=column.index)


def _check_all_zoned(column: pd.Series, name: str, offsets: pd.Series) -> None:
    """Raise a ValueError where some of the time column's cells carry a UTC offset (``offsets``, their
    :func:`_utc_offsets`) and others do not: read in UTC, the naive ones would silently be taken as UTC (and pandas 2
    reads them all as naive)."""
    aware = offsets.notna().to_numpy(dtype=bool)
    if aware.any() and not aware.all():
        row = int(np.flatnonzero(~aware)[0])
        raise ValueError(f"time column {name!r} mixes timestamps with and without a time zone: row {row} "
                         f"({column.iloc[row]!r}) has none; give every row its UTC offset, or none")


def holds_iso_timestamps(values: pd.Index | pd.Series) -> bool:
    """Whether ``values`` (an index or a column) is text of which every cell is an ISO 8601 timestamp, as
    ``to_csv`` writes them: timestamps read back without ``parse_dates``. Other text (labels, "Jan", "00:00") is
    not taken for time."""
    if isinstance(values, pd.MultiIndex) or len(values) == 0 or not pd.api.types.is_string_dtype(values):
        return False
    with warnings.catch_warnings():  # pandas warns where a cell does not parse
        warnings.simplefilter("ignore")
        return bool(pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce").notna().all())


def read_series(data: pd.DataFrame | str | os.PathLike | IO, time_column: str | None = "date",
                columns: list[str] | None = None, allow_duplicate_times: bool = False,
                time_format: str | None = None) -> Series:
    """Read and check a table of time steps: a DataFrame, a CSV path (a TSV by a ``.tsv`` or ``.tab`` name; gzip
    too) or an open CSV file.

    Text timestamps are read in ``time_format`` (``strftime`` codes, e.g. ``"%d/%m/%Y"`` for day-first dates) or,
    by default, in the format pandas guesses from the first row (month first where that is ambiguous), else as
    ISO 8601. Offsets that differ between rows (daylight saving) are read in UTC; where every row shows the same
    time of day (daily or coarser data), on the local calendar they give, without the zone.

    Every problem is a ``ValueError`` that says where it is: a missing time or value column,
    timestamps that do not parse, are not increasing or repeat (unless ``allow_duplicate_times``), a
    non-numeric value, NaN or infinity (with its row and column).
    """
    if not isinstance(data, (pd.DataFrame, str, os.PathLike)) and not hasattr(data, "read"):
        raise TypeError(f"data must be a DataFrame, a CSV file's path or an open file, got {type(data).__name__}")
    if isinstance(columns, str):
        raise TypeError(f"columns must be a list of column names, got the string {columns!r}: use [{columns!r}]")
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        named = isinstance(data, (str, os.PathLike)) and os.path.isfile(data)
        frame = pd.read_csv(data, sep=table_separator(data) if named else ",",
                            compression=compression(data) if named else "infer")
    if isinstance(frame.columns, pd.MultiIndex):  # as pivot and groupby give
        raise ValueError(f"the table's columns have {frame.columns.nlevels} levels, such as "
                         f"{frame.columns[0]!r}: flatten them to one name each first")
    if isinstance(frame.index, pd.PeriodIndex):  # monthly data often comes so: each period by its start
        frame = frame.set_axis(frame.index.to_timestamp())
    # Timestamps in the index: parsed already, or as text (read_csv with index_col but without parse_dates).
    indexed_by_time = isinstance(data, pd.DataFrame) and (isinstance(frame.index, pd.DatetimeIndex)
                                                          or holds_iso_timestamps(frame.index))
    if indexed_by_time and time_column is not None and time_column not in frame.columns:
        frame = frame.reset_index(names=time_column)
    times = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise ValueError(f"time column {time_column!r} not found; the columns are {list(frame.columns)}")
        times = _timestamps(frame[time_column], time_column, time_format)
        if times.isna().any():
            row = int(np.flatnonzero(times.isna().to_numpy())[0])
            raise ValueError(f"time column {time_column!r}: row {row} ({frame[time_column].iloc[row]!r}) "
                             f"is not a timestamp")
        steps = times.diff().iloc[1:]
        if (steps < pd.Timedelta(0)).any():
            row = int(np.flatnonzero((steps < pd.Timedelta(0)).to_numpy())[0]) + 1
            raise ValueError(f"timestamps must increase: row {row} ({times.iloc[row]}) comes before "
                             f"row {row - 1} ({times.iloc[row - 1]})")
        if not allow_duplicate_times and (steps == pd.Timedelta(0)).any():
            row = int(np.flatnonzero((steps == pd.Timedelta(0)).to_numpy())[0]) + 1
            raise ValueError(f"duplicated timestamp {times.iloc[row]} at rows {row - 1} and {row}")
        times = pd.DatetimeIndex(times)
    names = [c for c in frame.columns if c != time_column] if columns is None else list(columns)
    unnamed = [c for c in names if columns is None and str(c).startswith("Unnamed: ")]
    if unnamed:  # pandas' name for a column without a header: most often a row index saved by DataFrame.to_csv
        raise ValueError(f"column {unnamed[0]!r} has no name in the header (a row index saved with the table?): "
                         f"drop it (pandas: read_csv(..., index_col=0), or to_csv(..., index=False)), name it, or "
                         f"choose the value columns")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found; the columns are {list(frame.columns)}")
    if time_column is not None and time_column in names:
        raise ValueError(f"the time column {time_column!r} cannot also be a value column")
    chosen = pd.Index(names)  # a name chosen twice, or twice in the table
    twice = [*chosen[chosen.duplicated()],
             *(c for c in frame.columns[frame.columns.duplicated()] if c in chosen or c == time_column)]
    if twice:
        raise ValueError(f"column {twice[0]!r} appears twice; every column must be named once")
    if not names:
        raise ValueError("the table has no value columns besides the time column")
    columns = []
    for name in names:
        if pd.api.types.is_datetime64_any_dtype(frame[name]) or pd.api.types.is_timedelta64_dtype(frame[name]):
            raise ValueError(f"column {name!r} holds {frame[name].dtype} values, not numbers: drop it, or make it "
                             f"the time column")
        if pd.api.types.is_complex_dtype(frame[name]):
            raise ValueError(f"column {name!r} holds {frame[name].dtype} values, not real numbers: split them into "
                             f"a real and an imaginary column, or take their magnitude")
        column = pd.to_numeric(frame[name], errors="coerce")
        bad = column.isna() & frame[name].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            hint = (f": it holds timestamps, so pass time_column={name!r}"
                    if time_column is None and holds_iso_timestamps(frame[name]) else "")
            raise ValueError(f"column {name!r} is not numeric: row {row} holds {frame[name].iloc[row]!r}{hint}")
        columns.append(column.to_numpy(dtype=float))
    values = np.stack(columns, axis=1)  # written a column at a time into rows, it took 1.4 s at 2M rows x 20
    if not np.isfinite(values).all():
        row, j = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise ValueError(f"column {names[j]!r} holds {values[row, j]} at row {row}; NaN and infinity are not "
                         f"allowed (fill or drop them first)")
    return Series(values, names, times)


class WindowDataset(Dataset):
    """Stride-1 windows over rows ``[start, stop)``: input ``lookback`` rows, target the next ``horizon``,
    and where those rows lie on the series' ``clock`` (one entry per row of the series: a model's clock, e.g.
    for a learned daily cycle)."""

    def __init__(self, values: np.ndarray, start: int, stop: int, lookback: int, horizon: int,
                 inputs: list[int], targets: list[int], clock: np.ndarray):
        self.data = torch.as_tensor(values[start:stop], dtype=torch.float32)
        self.lookback, self.horizon = lookback, horizon
        self.inputs, self.targets = inputs, targets
        self.start, self.clock = start, torch.as_tensor(clock, dtype=torch.long)

    def __len__(self) -> int:
        return max(0, len(self.data) - self.lookback - self.horizon + 1)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cut, row = i + self.lookback, self.start + i
        return (self.data[i:cut, self.inputs], self.data[cut: cut + self.horizon, self.targets],
                self.clock[row: row + self.lookback + self.horizon])


CLOCKS = ("rows", "time")


class TimeSeriesDataModule(SplitDataModule):
    """Windows of a series for training, validation and test, scaled by the training rows' statistics.

    Subclasses say where the series comes from (:meth:`load`) and where the splits lie (:meth:`borders`).
    A batch is ``(x, y, clock)``: inputs ``(B, lookback, C)``, targets ``(B, horizon, targets)`` and where
    each of those rows lies on the series' clock ``(B, lookback + horizon)``.

    Args:
        lookback: input window length. horizon: steps to forecast.
        features: ``"M"``, ``"S"`` or ``"MS"`` (see the module docstring). target: the target column.
        batch_size: windows per batch. num_workers: DataLoader workers.
        clock: what places a row on the clock: ``"rows"`` (its index in the file, as CycleNet takes it) or
            ``"time"`` (steps since about 2000-01-01, :func:`~titans_seq.data.times.clock_origin` and
            :func:`~titans_seq.data.times.steps_since_start`: the same phase for the same time of day across gaps
            and repeated timestamps, as Weather's file has, and across files, so that a model trained on one
            file forecasts from another, such as its latest days; calendar steps such as months or business days
            counted as such). The rows after the series' end (a forecast's) follow its last one step by step on
            the row clock, and by their timestamps on the time clock.
        validation_limit: at most this many validation windows, evenly spaced over the validation part's time
            (default: all), which bounds validation on a long series; Lightning's ``limit_val_batches`` would read
            the part's earliest windows only.

    After :meth:`setup`, ``series`` holds the checked series, ``step`` its time step
    (:func:`~titans_seq.data.times.time_step`; ``None`` without timestamps), which places its forecast, and
    ``clock_origin`` where the time clock counts from (``None`` on the row clock).
    """

    drop_last_train = True

    def __init__(self, lookback: int = 96, horizon: int = 96, features: str = "M", target: str = "OT",
                 batch_size: int = 32, num_workers: int = 0, clock: str = "rows", validation_limit: int | None = None):
        super().__init__(validation_limit)
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        self.clock = clock
        lookback, horizon, batch_size = (positive_int(name, value) for name, value in
                                         (("lookback", lookback), ("horizon", horizon), ("batch_size", batch_size)))
        if features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")
        self.lookback, self.horizon, self.features, self.target = lookback, horizon, features, target
        self.batch_size, self.num_workers = batch_size, num_workers
        self.series: Series | None = None
        self.step: Step | None = None
        self.clock_origin: pd.Timestamp | None = None

    def load(self) -> Series:
        """The whole series, read and checked (subclasses)."""
        raise NotImplementedError

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        """Rows ``[first, last)`` whose values are forecast in each split (before the lookback shift)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.series is not None:
            return
        series = self.load()
        if self.features != "M" and self.target not in series.names:
            raise ValueError(f"target {self.target!r} is not a column; the columns are {series.names}")
        names = [self.target] if self.features == "S" else series.names
        if names != series.names:
            series = Series(series.values[:, [series.names.index(n) for n in names]], names, series.times)
        needed = self.lookback + self.horizon
        if len(series.values) < needed:
            raise ValueError(f"the series has {len(series.values)} rows, fewer than lookback + horizon = {needed}")
        self.split_rows = self.borders(len(series.values))
        for split, (first, last) in self.split_rows.items():
            start = max(0, first - self.lookback) if split != "train" else first
            if last - start < needed:
                raise ValueError(f"the {split} split (rows {start} to {last}) is shorter than lookback + horizon "
                                 f"= {needed}; use a shorter lookback or horizon")
        train_first, train_last = self.split_rows["train"]
        self.scaler = StandardScaler().fit(series.values[train_first:train_last])
        if self.clock == "time" and series.times is None:
            raise ValueError("clock='time' needs a series with timestamps")
        self.series = series
        # In the models' float32, which each split's windows then view rather than copy: the DataModule held the
        # series' values 2.5 times over (778 MiB for 305 MiB of values at 2M rows x 20), now 1.5 times.
        self.scaled = self.scaler.transform(series.values).astype(np.float32)
        self.step = None if series.times is None else time_step(series.times)
        self.clock_origin = clock_origin(series.times, self.step) if self.clock == "time" else None
        self.clock_rows = (steps_since_start(series.times, self.clock_origin, self.step) if self.clock == "time"
                           else np.arange(len(series.values)))
        inputs = list(range(len(names)))
        self.target_index = [names.index(self.target)] if self.features in ("S", "MS") else inputs
        self.datasets = {}
        for split, (first, last) in self.split_rows.items():
            start = max(0, first - self.lookback) if split != "train" else first
            self.datasets[split] = WindowDataset(self.scaled, start, last, self.lookback, self.horizon,
                                                 inputs, self.target_index, self.clock_rows)

    def predict_dataloader(self) -> DataLoader:
        """One batch: the latest ``lookback`` rows (scaled), the context of a forecast beyond the data, and the
        clock of those rows and of the ``horizon`` after them."""
        latest = torch.as_tensor(self.scaled[-self.lookback:], dtype=torch.float32).unsqueeze(0)
        times = self.series.times
        placed = (times[-self.lookback:], self.clock_origin, self.step) if self.clock == "time" else ()
        clock = forecast_clock(self.clock_rows[-self.lookback:], self.horizon, *placed)
        return DataLoader(TensorDataset(latest, clock), batch_size=1)

    @property
    def windows(self) -> dict[str, int]:
        """Number of windows in each split."""
        return {split: len(d) for split, d in self.datasets.items()}

    @property
    def n_inputs(self) -> int:
        """Channels the model reads."""
        return len(self.series.names)

    @property
    def n_targets(self) -> int:
        """Channels the model forecasts."""
        return len(self.target_index)

    def inverse_transform(self, scaled: np.ndarray | torch.Tensor) -> np.ndarray:
        """Target values back in original units (last axis: the target columns)."""
        if isinstance(scaled, torch.Tensor):  # at least float32: numpy has no bfloat16, as bf16-mixed outputs are
            scaled = scaled.detach().cpu().to(torch.promote_types(scaled.dtype, torch.float32)).numpy()
        scaled = np.asarray(scaled)
        mean, scale = self.scaler.mean_[self.target_index], self.scaler.scale_[self.target_index]
        return scaled * scale + mean


class ETTDataModule(TimeSeriesDataModule):
    """ETTh1, ETTh2 (hourly) or ETTm1, ETTm2 (15 min), with the standard 12 / 4 / 4-month splits.

    ``path``: an explicit file; otherwise found as :func:`titans_seq.data.files.locate` describes.
    ``verify``: check the file's SHA-256 against the manifest (``False`` for an explicit subset).
    """

    NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2")

    def __init__(self, name: str = "ETTh1", path: str | None = None, verify: bool = True, **kwargs):
        if name not in self.NAMES:
            raise ValueError(f"name must be one of {', '.join(self.NAMES)}, got {name!r}")
        super().__init__(**kwargs)
        self.name, self.path, self.verify = name, path, verify

    def load(self) -> Series:
        return read_series(locate(self.name, self.path, verify=self.verify))

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        month = 30 * 24 * (4 if self.name.startswith("ETTm") else 1)
        if rows < 20 * month:
            raise ValueError(f"{self.name} needs {20 * month} rows for its standard splits, the file has {rows}")
        return {"train": (0, 12 * month), "val": (12 * month, 16 * month), "test": (16 * month, 20 * month)}


def proportional_borders(rows: int, train: float = 0.7, test: float = 0.2) -> dict[str, tuple[int, int]]:
    """``Dataset_Custom``'s split: ``int(0.7 N)`` training rows, ``int(0.2 N)`` test rows, the rest validation."""
    n_train, n_test = int(rows * train), int(rows * test)
    return {"train": (0, n_train), "val": (n_train, rows - n_test), "test": (rows - n_test, rows)}


class WeatherDataModule(TimeSeriesDataModule):
    """The 21-variable Weather set with the 0.7 / 0.1 / 0.2 split.

    The standard file holds ``-9999`` sentinels (50 in ``OT``, 30 in ``max. PAR``, 1 in ``wv``).
    ``sentinels="keep"`` (default) uses the file as every published result did; ``"interpolate"``
    replaces them by linear interpolation in time before scaling (not comparable to published numbers).
    Its one duplicated timestamp is kept, as the standard protocol does.
    """

    def __init__(self, path: str | None = None, sentinels: str = "keep", verify: bool = True, **kwargs):
        if sentinels not in ("keep", "interpolate"):
            raise ValueError(f"sentinels must be 'keep' or 'interpolate', got {sentinels!r}")
        super().__init__(**kwargs)
        self.path, self.sentinels, self.verify = path, sentinels, verify

    def load(self) -> Series:
        series = read_series(locate("weather", self.path, verify=self.verify), allow_duplicate_times=True)
        if self.sentinels == "interpolate":
            frame = pd.DataFrame(series.values).mask(series.values == -9999.0)
            series.values = frame.interpolate(limit_direction="both").to_numpy()
        return series

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        return proportional_borders(rows)


class CSVDataModule(TimeSeriesDataModule):
    """Any table of time steps: a CSV path or a DataFrame (with a time column or a DatetimeIndex).

    Args:
        data: the CSV file's path (gzip too; a TSV by a ``.tsv`` or ``.tab`` name) or a DataFrame.
        time_column: its timestamp column (None: none). time_format: how its text is written, in ``strftime``
            codes (``"%d/%m/%Y"``; default: as :func:`read_series` guesses).
        columns: value columns to use (default: all but the time column).
        train_fraction, test_fraction: the proportional split (validation is the rest).
    """

    # ``data`` is typed Any: with a DataFrame in a type union, jsonargparse (the CLI) reads a path's file
    # contents in place of the path.
    def __init__(self, data: Any, time_column: str | None = "date", columns: list[str] | None = None,
                 train_fraction: float = 0.7, test_fraction: float = 0.2, time_format: str | None = None, **kwargs):
        if not (0 < train_fraction < 1 and 0 < test_fraction < 1 and train_fraction + test_fraction < 1):
            raise ValueError(f"train_fraction and test_fraction must be in (0, 1) with a sum below 1, got "
                             f"{train_fraction} and {test_fraction}")
        if not isinstance(data, (pd.DataFrame, str, os.PathLike)):  # read at every setup: not an open file
            raise TypeError(f"data must be a DataFrame or the path of a CSV file, got {type(data).__name__}")
        super().__init__(**kwargs)
        if time_format is not None and not isinstance(time_format, str):
            raise TypeError(f"time_format must be a string of strftime codes or None, got {type(time_format).__name__}")
        self.data, self.time_column, self.columns, self.time_format = data, time_column, columns, time_format
        self.fractions = (train_fraction, test_fraction)

    def load(self) -> Series:
        if not isinstance(self.data, pd.DataFrame) and not os.path.isfile(self.data):
            raise FileNotFoundError(f"no CSV file at {self.data}")
        return read_series(self.data, self.time_column, self.columns, time_format=self.time_format)

    def borders(self, rows: int) -> dict[str, tuple[int, int]]:
        return proportional_borders(rows, *self.fractions)
