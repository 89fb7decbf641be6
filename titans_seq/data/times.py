"""A series' timestamps: its step (a fixed length or a calendar one), the timestamps after it, and where each
timestamp lies on a clock counted in steps from a start (the phase a learned cycle reads)."""

from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np
import pandas as pd
import torch

__all__ = ["clock_origin", "forecast_clock", "future_index", "median_step", "one_time_of_day", "steps_since_start",
           "time_step"]

Step = pd.Timedelta | pd.DateOffset

# Calendar steps tried where no frequency can be inferred (a missing month, a holiday; pandas infers none for a
# month on its 15th): the range of a series' median gap in days for which each applies, the offsets its timestamps
# must lie on, all but a share of at most _OFF_GRID_SHARE (a rare Saturday session of a business-day series), each of
# which the clock counts as the step before it, and the step of as many months where they share a day of the month
# instead (one that every month has).
_CALENDAR_STEPS = (
    (28, 31, (pd.offsets.MonthBegin(), pd.offsets.MonthEnd(), pd.offsets.BusinessMonthBegin(),
              pd.offsets.BusinessMonthEnd()), 1),
    (13, 17, (pd.offsets.SemiMonthBegin(), pd.offsets.SemiMonthEnd()), None),
    (89, 92, tuple(offset(startingMonth=month) for offset in (pd.offsets.QuarterBegin, pd.offsets.QuarterEnd)
                   for month in (1, 2, 3)), 3),
    (365, 366, tuple(offset(month=month) for offset in (pd.offsets.YearBegin, pd.offsets.YearEnd)
                     for month in range(1, 13)), 12),
    (1, 1, (pd.offsets.BusinessDay(),), None),
)
_OFF_GRID_SHARE = 0.01
# Calendar steps shorter than a day, whose clock must not drop the time of day.
_INTRADAY_STEPS = (pd.offsets.BusinessHour, pd.offsets.CustomBusinessHour)


def clock_origin(times: pd.DatetimeIndex, step: Step) -> pd.Timestamp:
    """Where a time clock of ``step`` starts: 2000-01-01 (in ``times``' zone, if any), or for a fixed-length step
    the first moment after it on the series' own grid, so that its rows lie whole steps from it (rows at half past
    the hour, half a step from midnight, would round in pairs onto one step). The same for every file of the series:
    a model whose clock counts from it places the rows of any of them, not only of the file it was trained on, at the
    same phase of a cycle."""
    base = pd.Timestamp("2000-01-01", tz=times.tz)
    length = _fixed_length(step)
    if length is None:
        return base
    if times.tz is None or _elapsed(step):
        return base + (times[0] - base) % length
    # Days and weeks on the wall clock, as steps_since_start counts them: a daylight-saving hour is no part of a step.
    wall = base.tz_localize(None)
    wall += (times[0].tz_localize(None) - wall) % length
    return wall.tz_localize(times.tz, nonexistent="shift_forward", ambiguous=True)


def median_step(times: pd.DatetimeIndex) -> pd.Timedelta:
    """The median gap between consecutive timestamps."""
    return (times[1:] - times[:-1]).median()


def one_time_of_day(times: pd.DatetimeIndex) -> bool:
    """Whether every timestamp shows the same time of day on the wall clock (of its time zone, if any)."""
    wall = times if times.tz is None else times.tz_localize(None)
    return (wall - wall.normalize()).nunique() == 1


def time_step(times: pd.DatetimeIndex) -> Step:
    """The series' step: its inferred frequency (an offset); where a gap hides it, the calendar step (months,
    half months, quarters, years of any anchor, business days) on which all timestamps lie but at most 1%, or as many
    months where they share a day of the month (the 15th); else the median gap, as calendar days where it is whole
    days at one time of day (so that a daylight-saving change keeps midnight at midnight), else as a fixed length."""
    if len(times) < 2:
        raise ValueError(f"a series' step needs at least two timestamps, got {len(times)}")
    with warnings.catch_warnings():  # pandas 3.1 warns that infer_freq will return an offset; both work here
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(times[-min(len(times), 100):]) if len(times) >= 3 else None
    if freq:
        return pd.tseries.frequencies.to_offset(freq)
    median = median_step(times)
    off_grid_allowed = int(_OFF_GRID_SHARE * len(times))
    for shortest, longest, offsets, months in _CALENDAR_STEPS:
        if pd.Timedelta(days=shortest) <= median <= pd.Timedelta(days=longest):
            for offset in offsets:
                off_grid = (t for t in times if not offset.is_on_offset(t))
                if next(itertools.islice(off_grid, off_grid_allowed, None), None) is None:
                    return offset
            days = pd.Series(times.day)
            day = int(days.mode()[0])
            if months and day <= 28 and (days != day).sum() <= off_grid_allowed:
                return pd.DateOffset(months=months, day=day)
    whole_days, rest = divmod(median, pd.Timedelta(days=1))
    if whole_days >= 1 and rest == pd.Timedelta(0) and one_time_of_day(times):
        return pd.offsets.Day(whole_days)
    return median


def _fixed_length(step: Step) -> pd.Timedelta | None:
    """The step's length where every step has the same (hours, minutes, days, weeks), else ``None`` (months,
    business days)."""
    if isinstance(step, pd.Timedelta):
        return step
    if isinstance(step, pd.offsets.Tick):
        return pd.Timedelta(step)
    if isinstance(step, pd.offsets.Day):
        return pd.Timedelta(days=step.n)
    if isinstance(step, pd.offsets.Week):
        return pd.Timedelta(weeks=step.n)
    return None


def future_index(times: pd.DatetimeIndex | None, horizon: int, step: Step | None = None,
                 first_position: int = 0) -> pd.Index:
    """``horizon`` timestamps after ``times`` at ``step`` (default: :func:`time_step` of ``times``); when there are
    no timestamps, the positions ``first_position`` (the row after the data's last) onward."""
    if times is None:
        return pd.RangeIndex(first_position, first_position + horizon)
    step = time_step(times) if step is None else step
    if times.tz is None or _elapsed(step):
        return pd.date_range(times[-1] + step, periods=horizon, freq=step)
    # Calendar steps on the wall clock, then in the zone: a midnight that a daylight-saving change skips (Santiago's)
    # is the hour after it, one it repeats the first.
    wall = pd.date_range(times[-1].tz_localize(None) + step, periods=horizon, freq=step)
    return wall.tz_localize(times.tz, nonexistent="shift_forward", ambiguous=np.ones(horizon, dtype=bool))


def _elapsed(step: Step) -> bool:
    """Whether ``step`` is a length of elapsed time (hours, minutes), not a calendar one (days, months)."""
    return isinstance(step, pd.Timedelta) or (isinstance(step, pd.offsets.Tick)
                                              and not isinstance(step, pd.offsets.Day))


def steps_since_start(times: pd.DatetimeIndex, start: pd.Timestamp | None = None,
                      step: Step | None = None) -> np.ndarray:
    """Each timestamp's distance from ``start`` (default: the first) in ``step`` (default: :func:`time_step`):
    the phase a cycle needs, which a row index loses at a gap or a repeated timestamp. A fixed-length step is
    rounded to the nearest; a calendar one (a month, a business day) counts the steps between the dates, so the
    time of day (month ends stamped 23:00, say) does not matter and a date between steps counts as the one before.
    Business hours count the steps between the timestamps themselves. Zoned timestamps count days and calendar
    steps on the wall clock of ``start``'s zone, and elapsed time otherwise: hourly data's local hours move by one
    on the cycle at a daylight-saving change.
    """
    start = times[0] if start is None else start
    step = time_step(times) if step is None else step
    if times.tz is not None and start.tz is not None and not _elapsed(step):  # on the wall clock of start's zone
        times, start = times.tz_convert(start.tz).tz_localize(None), start.tz_localize(None)
    length = _fixed_length(step)
    if length is not None:
        return np.round(((times - start) / length).to_numpy()).astype(np.int64)
    if type(step) is pd.DateOffset:  # months on one day of their own: counted, from that day to the day before it
        months = _months_since_year_0(times, step.kwds["day"]) - _months_since_year_0(start, step.kwds["day"])
        return (np.asarray(months) // step.kwds["months"]).astype(np.int64)
    dates = times
    if not isinstance(step, _INTRADAY_STEPS):
        dates, start = times.normalize(), start.normalize()
    calendar = getattr(step, "calendar", None)  # a custom business day's, which pandas leaves out of its equality
    workdays = None if calendar is None else (calendar.weekmask.tobytes(), calendar.holidays.tobytes())
    grid = _calendar_grid(step, workdays, step.rollback(min(start, dates.min())), max(start, dates.max()).year)
    return (grid.searchsorted(dates, side="right") - grid.searchsorted(start, side="right")).astype(np.int64)


@functools.lru_cache(maxsize=16)
def _calendar_grid(step: pd.DateOffset, workdays: tuple | None, first: pd.Timestamp, year: int) -> pd.DatetimeIndex:
    """The timestamps of the calendar ``step`` (whose ``workdays`` calendar, if any, is only part of the cache's
    key) from ``first`` (one of them) past the end of ``year``, in nanoseconds, which any timestamps are searched in
    losslessly: one grid for a series' clocks until its year ends. Built at each call, business hours since 2000
    took 0.5 s a call, twice a forecast."""
    return pd.date_range(first, step.rollforward(pd.Timestamp(year + 1, 1, 1, tz=first.tz)), freq=step).as_unit("ns")


def _months_since_year_0(times, day: int):
    """Months since January of year 0, a month counting from its ``day`` (a date before it is in the month before)."""
    return times.year * 12 + times.month - 1 - (times.day < day)


def forecast_clock(clock: np.ndarray, horizon: int, times: pd.DatetimeIndex | None = None,
                   start: pd.Timestamp | None = None, step: Step | None = None) -> torch.Tensor:
    """``(1, len(clock) + horizon)``: a context's rows on the clock, then the ``horizon`` rows of its forecast.
    With ``times`` (the context's timestamps, on a clock of ``step``s since ``start``) the forecast's rows are
    placed by their timestamps (:func:`future_index`), so a business day's Monday follows its Friday; without,
    they follow the context's last row one step apart."""
    if times is None:
        ahead = int(clock[-1]) + np.arange(1, horizon + 1)
    elif start is None:
        raise ValueError("forecast_clock needs the clock's start to place a forecast by its timestamps")
    else:
        step = time_step(times) if step is None else step  # the context's: a few future timestamps can look hourly
        ahead = steps_since_start(future_index(times, horizon, step), start, step)
    return torch.as_tensor(np.concatenate([clock, ahead]), dtype=torch.long).unsqueeze(0)
