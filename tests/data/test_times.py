"""A series' step, the timestamps after it and its clock, for fixed and calendar steps, with gaps."""

import time

import numpy as np
import pandas as pd
import pytest

from titans_seq.data.times import clock_origin, forecast_clock, future_index, steps_since_start, time_step

MONTHS_WITH_A_GAP = pd.date_range("2000-01-01", periods=120, freq="MS").delete(100)  # May 2008 missing
BUSINESS_DAYS_WITH_HOLIDAYS = pd.bdate_range("2024-01-01", periods=200).delete([20, 45, 80, 150])


@pytest.mark.parametrize("times, step", [
    (pd.date_range("2024-01-01", periods=50, freq="h"), pd.offsets.Hour()),
    (MONTHS_WITH_A_GAP, pd.offsets.MonthBegin()),
    (pd.date_range("2000-01-31", periods=40, freq="ME").delete(7), pd.offsets.MonthEnd()),
    (BUSINESS_DAYS_WITH_HOLIDAYS, pd.offsets.BusinessDay()),
    (pd.date_range("2024-01-01", periods=50, freq="10min").delete(20), pd.Timedelta("10min")),
    (pd.date_range("2024-01-15", periods=40, freq="SMS").delete(9), pd.offsets.SemiMonthBegin()),
    (pd.date_range("2024-01-15", periods=40, freq="SME").delete(9), pd.offsets.SemiMonthEnd()),
    # Other anchors than January's and December's, and months on one day of their own (pandas infers none there):
    # these were taken as 92, 365 or 31 days.
    (pd.date_range("2000-02-01", periods=40, freq="QS-FEB").delete(10), pd.offsets.QuarterBegin(startingMonth=2)),
    (pd.date_range("2000-02-29", periods=40, freq="QE-FEB").delete(10), pd.offsets.QuarterEnd(startingMonth=2)),
    (pd.date_range("2000-07-01", periods=20, freq="YS-JUL").delete(5), pd.offsets.YearBegin(month=7)),
    (pd.date_range("2000-06-30", periods=20, freq="YE-JUN").delete(5), pd.offsets.YearEnd(month=6)),
    (pd.DatetimeIndex([pd.Timestamp(2000 + i // 12, i % 12 + 1, 15) for i in range(120)]),
     pd.DateOffset(months=1, day=15)),
    (pd.date_range("2000-01-10", periods=40, freq="QS").shift(9, "D").delete(5), pd.DateOffset(months=3, day=10)),
])
def test_the_step_is_found_across_gaps(times, step):
    assert time_step(times) == step


def test_a_rare_off_grid_timestamp_keeps_the_calendar_step():
    """A business-day series with one Saturday session in 200 rows keeps business days: its forecasts skip
    weekends, and its clock counts the Saturday as the Friday before it."""
    saturday = pd.Timestamp("2024-03-02")
    times = BUSINESS_DAYS_WITH_HOLIDAYS.insert(int(BUSINESS_DAYS_WITH_HOLIDAYS.searchsorted(saturday)), saturday)
    assert time_step(times) == pd.offsets.BusinessDay()
    assert list(future_index(times, 2).day_of_week) == [0, 1]
    friday = times.get_loc(saturday) - 1
    assert steps_since_start(times)[friday + 1] == steps_since_start(times)[friday]
    # Beyond 1% of the rows the calendar no longer fits: a series with every Saturday is daily.
    with_saturdays = BUSINESS_DAYS_WITH_HOLIDAYS.union(pd.date_range("2024-01-06", periods=40, freq="W-SAT"))
    assert time_step(with_saturdays) == pd.offsets.Day()


def test_future_timestamps_follow_the_calendar():
    assert list(future_index(MONTHS_WITH_A_GAP, 2)) == [pd.Timestamp("2010-01-01"), pd.Timestamp("2010-02-01")]
    until_friday = BUSINESS_DAYS_WITH_HOLIDAYS  # it ends on a Friday, 2024-10-04
    assert until_friday[-1].day_of_week == 4
    assert list(future_index(until_friday, 2).day_of_week) == [0, 1]
    # Two timestamps infer no frequency; the step of the whole series, given, places them.
    last_two = future_index(MONTHS_WITH_A_GAP[-2:], 2, pd.offsets.MonthBegin())
    assert list(last_two) == list(future_index(MONTHS_WITH_A_GAP, 2))


def test_days_and_weeks_keep_their_time_of_day_across_daylight_saving():
    """A day is a calendar day where a series keeps one time of day: across a daylight-saving change the next
    midnight is 23 or 25 hours later, not 24."""
    days = pd.date_range("2026-02-01 09:00", periods=55, freq="D", tz="Europe/Berlin").delete(10)  # a missing day
    ahead = future_index(days, 4)  # 2026-03-29 is the spring change in Berlin
    assert list(ahead.hour) == [9, 9, 9, 9]
    assert steps_since_start(ahead, days[0]).tolist() == [55, 56, 57, 58]
    weeks = pd.date_range("2026-09-06", periods=8, freq="W-SUN", tz="Europe/Berlin").delete(2)
    assert list(future_index(weeks, 4).hour) == [0, 0, 0, 0]  # 2026-10-25 is the autumn change
    shifting = pd.DatetimeIndex(["2024-01-06 09:00", "2024-01-07 10:00", "2024-01-08 09:00", "2024-01-09 09:00"])
    assert time_step(shifting) == pd.Timedelta(days=1)  # no one time of day: a fixed 24 hours


def test_a_calendar_clock_counts_calendar_steps():
    months = pd.date_range("2000-01-01", periods=120, freq="MS")
    januaries = steps_since_start(months)[months.month == 1]
    assert januaries.tolist() == list(range(0, 120, 12))  # 31 days a step would drift by one every 28 months
    assert steps_since_start(MONTHS_WITH_A_GAP)[100] == 101  # June 2008, after the missing May
    days = pd.bdate_range("2024-01-01", periods=10)  # Monday to the next Friday
    assert steps_since_start(days).tolist() == list(range(10))
    assert steps_since_start(days[5:], days[0], pd.offsets.BusinessDay()).tolist() == list(range(5, 10))
    # The time of day does not count: month starts stamped at shifting hours, business days closing at 16:30.
    stamped = months[:6] + pd.to_timedelta([9, 10, 8, 9, 10, 9], unit="h")
    assert steps_since_start(stamped, step=pd.offsets.MonthBegin()).tolist() == list(range(6))
    closing = days + pd.Timedelta("16:30:00")
    assert steps_since_start(closing[1:], closing[0], pd.offsets.BusinessDay()).tolist() == list(range(1, 10))
    between = pd.DatetimeIndex(["2000-01-01", "2000-02-02", "2000-03-01"])  # a date between steps: the one before
    assert steps_since_start(between, step=pd.offsets.MonthBegin()).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="at least two timestamps, got 1"):
        steps_since_start(months[:1])


def test_business_hours_count_hours():
    hours = pd.date_range("2024-01-05 09:00", periods=20, freq="bh")  # a Friday, eight hours a day
    assert time_step(hours) == pd.offsets.BusinessHour()
    assert steps_since_start(hours).tolist() == list(range(20))
    assert forecast_clock(steps_since_start(hours), 3, hours, hours[0]).tolist() == [list(range(23))]


def test_business_hours_since_2000_are_counted_quickly_and_across_a_year_end():
    """The calendar's grid since the clock's origin was built at every call: 0.5 s for each of a forecast's two
    clocks of business hours. Now once a year of the series; counts across a year's end stay exact."""
    hours = pd.date_range("2024-12-30 09:00", periods=40, freq="bh")  # into January 2025
    origin, step = pd.Timestamp("2000-01-01"), pd.offsets.BusinessHour()
    counts = steps_since_start(hours, origin, step)
    # Business hours elapsed since the origin (a Saturday): Monday 3 January 2000, 09:00, is hour 0.
    assert counts[0] == len(pd.date_range(origin, hours[0], freq=step)) - 1 and (np.diff(counts) == 1).all()
    started = time.perf_counter()
    steps_since_start(hours[10:], origin, step)
    assert time.perf_counter() - started < 0.1


def test_calendar_counts_do_not_depend_on_the_clocks_counted_before():
    """The cached grid was shared by steps pandas calls equal (custom business days of other weekdays), and it kept
    its first point's unit, microseconds, in which nanosecond timestamps could not be searched."""
    days, origin = pd.DatetimeIndex(["2024-03-04", "2024-03-11"]), pd.Timestamp("2024-03-01")
    monday_to_friday = pd.offsets.CustomBusinessDay()
    monday_to_saturday = pd.offsets.CustomBusinessDay(calendar=np.busdaycalendar(weekmask="1111110"))
    assert steps_since_start(days, origin, monday_to_friday).tolist() == [1, 6]
    assert steps_since_start(days, origin, monday_to_saturday).tolist() == [2, 8]
    hours = pd.DatetimeIndex(["2024-03-04 09:00:00.000000001", "2024-03-04 11:59:59.999999999"])
    for start in (pd.Timestamp("2000-01-01"), pd.Timestamp("2000-01-01").as_unit("ns")):
        assert steps_since_start(hours, start, pd.offsets.BusinessHour()).tolist() == [50440, 50442]


def test_a_forecast_is_placed_by_its_timestamps_on_a_time_clock():
    days = pd.bdate_range("2024-01-01", periods=10)
    clock = steps_since_start(days)
    placed = forecast_clock(clock[-3:], 4, days[-3:], days[0], pd.offsets.BusinessDay())
    assert placed.tolist() == [[7, 8, 9, 10, 11, 12, 13]]
    hours = pd.date_range("2024-01-01", periods=10, freq="h").delete(8)  # the forecast starts after the last row
    placed = forecast_clock(steps_since_start(hours)[-2:], 2, hours[-2:], hours[0], pd.offsets.Hour())
    assert placed.tolist() == [[7, 9, 10, 11]]
    assert forecast_clock(np.array([4, 5]), 2).tolist() == [[4, 5, 6, 7]]
    with pytest.raises(ValueError, match="needs the clock's start"):
        forecast_clock(clock, 2, days)


def test_months_on_their_15th_keep_their_day_and_count_months():
    """A 31-day step drifted: forecasts on 2010-03-18, two months on one step of the clock."""
    months = pd.DatetimeIndex([pd.Timestamp(2000 + i // 12, i % 12 + 1, 15) for i in range(120)])
    assert list(future_index(months, 3).day) == [15, 15, 15]
    assert list(future_index(months, 3).month) == [1, 2, 3]
    assert steps_since_start(months).tolist() == list(range(120))
    # A first row off the day (the 1% allowed) counts in its month, and does not move the others' day.
    early = months.insert(0, pd.Timestamp("1999-12-16"))
    assert time_step(early) == pd.DateOffset(months=1, day=15)
    assert steps_since_start(early).tolist() == list(range(121))
    assert list(future_index(early, 1)) == [pd.Timestamp("2010-01-15")]


def test_zoned_calendar_steps_stay_on_the_local_calendar():
    """Santiago skips the midnight of 2024-09-08, where the forecast failed; its next day starts at 01:00. A zoned
    business-day series read from another zone keeps its clock."""
    days = pd.date_range("2024-05-01", periods=129, freq="D", tz="America/Santiago")
    ahead = future_index(days, 4)
    assert list(ahead.day) == [7, 8, 9, 10] and list(ahead.hour) == [0, 1, 0, 0]
    business = pd.bdate_range("2024-01-01", periods=200, tz="Europe/Berlin")
    assert list(future_index(business, 2).strftime("%a %H:%M")) == ["Mon 00:00", "Tue 00:00"]
    elsewhere = business.tz_convert("America/New_York")  # local midnights are the evening before there
    assert steps_since_start(elsewhere[-5:], business[0], pd.offsets.BusinessDay()).tolist() == list(range(195, 200))


@pytest.mark.parametrize("times", [
    pd.date_range("2021-01-01 00:30", periods=300, freq="h"),  # half a step from 2000-01-01: rows rounded in pairs
    pd.date_range("2021-01-03", periods=300, freq="2D"),
    pd.date_range("2021-01-01 12:00", periods=300, freq="D"),
    pd.date_range("2010-01-01", periods=300, freq="h", tz="America/Caracas"),  # its offset moved half an hour
    pd.date_range("1999-12-31 21:30", periods=300, freq="h"),
    pd.date_range("2024-01-01", periods=300, freq="D", tz="Europe/Berlin"),
    pd.bdate_range("2024-01-01", periods=300),
])
def test_the_time_clock_gives_each_row_its_own_step_and_every_file_the_same_clock(times):
    step = time_step(times)
    clock = steps_since_start(times, clock_origin(times, step), step)
    assert (np.diff(clock) >= 1).all() and (clock[-1] - clock[0] <= 2 * len(times))
    latest = times[130:]  # a file of the latest rows, from another time of year
    assert steps_since_start(latest, clock_origin(latest, step), step).tolist() == clock[130:].tolist()
