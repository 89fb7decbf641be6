"""Time-series data: the standard protocol's splits, scaling, windows, and every bad-data error."""

import gzip
import io

import numpy as np
import pandas as pd
import pytest
import torch

from titans_seq.data import CSVDataModule, ETTDataModule, WeatherDataModule, read_series
from titans_seq.data.times import steps_since_start


def frame(rows=400, channels=3, start="2021-01-01", freq="h", seed=0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, channels)), columns=[f"c{i}" for i in range(channels - 1)] + ["OT"])
    data.insert(0, "date", pd.date_range(start, periods=rows, freq=freq))
    return data


@pytest.mark.parametrize(("name", "train", "val", "test"), [("ETTh1", 8449, 2785, 2785), ("ETTh2", 8449, 2785, 2785),
                                                            ("ETTm1", 34369, 11425, 11425)])
def test_ett_windows_match_the_standard_protocol(shared_data, name, train, val, test):
    data = ETTDataModule(name, lookback=96, horizon=96)
    data.setup()
    months = 30 * 24 * (4 if name.startswith("ETTm") else 1)
    assert data.split_rows == {"train": (0, 12 * months), "val": (12 * months, 16 * months),
                               "test": (16 * months, 20 * months)}
    assert data.windows == {"train": train, "val": val, "test": test}
    assert data.n_inputs == 7 and len(data.test_dataloader().dataset) == test


def test_weather_windows_and_split(shared_data):
    data = WeatherDataModule(lookback=96, horizon=720)
    data.setup()
    assert data.split_rows == {"train": (0, 36887), "val": (36887, 42157), "test": (42157, 52696)}
    assert data.windows["test"] == 52696 - 42157 - 720 + 1 and data.n_inputs == 21


def test_weather_sentinels_kept_or_interpolated(tmp_path):
    table = frame(300)
    table.loc[150, "OT"] = -9999.0
    table.to_csv(tmp_path / "w.csv", index=False)
    kept = WeatherDataModule(path=tmp_path / "w.csv", verify=False, lookback=24, horizon=24)
    kept.setup()
    assert kept.series.values[150, -1] == -9999.0
    filled = WeatherDataModule(path=tmp_path / "w.csv", verify=False, sentinels="interpolate", lookback=24, horizon=24)
    filled.setup()
    assert filled.series.values[150, -1] == pytest.approx((table.OT[149] + table.OT[151]) / 2)


def test_the_scaler_never_sees_validation_or_test_rows():
    table = frame(1000)
    table.iloc[700:, 1:] += 1000.0  # validation and test rows far away from the training rows
    data = CSVDataModule(table, lookback=24, horizon=12)
    data.setup()
    np.testing.assert_allclose(data.scaler.mean_, table.iloc[:700, 1:].mean().to_numpy())
    assert data.split_rows == {"train": (0, 700), "val": (700, 800), "test": (800, 1000)}
    assert data.windows == {"train": 700 - 36 + 1, "val": 100 - 12 + 1, "test": 200 - 12 + 1}


def test_inverse_transform_gives_the_original_units_for_arrays_and_every_float_tensor():
    table = frame(300)
    data = CSVDataModule(table, lookback=24, horizon=12)
    data.setup()
    original = table.iloc[:5, 1:].to_numpy()
    scaled = data.scaler.transform(original)
    np.testing.assert_allclose(data.inverse_transform(scaled), original)
    assert data.inverse_transform(torch.tensor(scaled)).dtype == np.float64  # not rounded to float32
    np.testing.assert_allclose(data.inverse_transform(torch.tensor(scaled)), original)
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 1e-2)):  # bfloat16: a TypeError before
        np.testing.assert_allclose(data.inverse_transform(torch.tensor(scaled, dtype=dtype)), original,
                                   rtol=tolerance)


def test_training_drops_a_last_partial_batch_unless_it_is_the_only_one():
    def train_batches(rows, batch_size):
        data = CSVDataModule(frame(rows), lookback=24, horizon=12, batch_size=batch_size)
        data.setup()
        return [len(x) for x, _, _ in data.train_dataloader()], data.windows["train"]

    assert train_batches(300, 32) == ([32] * 5, 175)  # 175 windows: the last 15 are dropped
    assert train_batches(120, 64) == ([49], 49)  # fewer windows than a batch: one batch of them, not none


def test_a_validation_limit_reads_windows_evenly_spaced_over_the_validation_time(windows_read):
    data = CSVDataModule(frame(1000), lookback=24, horizon=12, batch_size=8, validation_limit=10)
    data.setup()
    windows = data.windows["val"]
    assert sum(len(x) for x, _, _ in data.val_dataloader()) == 10
    assert windows_read[data.datasets["val"].start] == [i * windows // 10 for i in range(10)]
    assert sum(len(x) for x, _, _ in data.test_dataloader()) == data.windows["test"]  # test is never limited
    with pytest.raises(ValueError, match="validation_limit must be a positive integer, got 0"):
        CSVDataModule(frame(300), validation_limit=0)


def test_windows_have_no_look_ahead():
    table = frame(300)
    data = CSVDataModule(table, lookback=24, horizon=12)
    data.setup()
    x, y, _ = data.datasets["test"][5]
    changed = table.copy()
    start = data.datasets["test"].start + 5 + 24  # the first forecast row of that window
    changed.iloc[start:, 1:] = 99.0
    again = CSVDataModule(changed, lookback=24, horizon=12)
    again.setup()
    x2, y2, _ = again.datasets["test"][5]
    assert (x2 == x).all() and not (y2 == y).all()


def test_windows_carry_their_rows_in_the_series():
    table = frame(300)
    data = CSVDataModule(table, lookback=24, horizon=12)
    data.setup()
    test = data.datasets["test"]
    x, _, clock = test[5]
    first_row = data.split_rows["test"][0] - 24 + 5
    assert clock.tolist() == list(range(first_row, first_row + 36))
    np.testing.assert_allclose(x.numpy(), data.scaled[first_row: first_row + 24], rtol=1e-6)
    _, _, rows = next(iter(data.val_dataloader()))
    val_first = data.split_rows["val"][0] - 24
    assert rows[:, 0].tolist() == list(range(val_first, val_first + len(rows)))
    # The values are held once as read and once scaled in float32, which every split's windows view (they were
    # held 2.5 times: a copy selecting every column, the scaled values in float64 and each split's in float32).
    assert data.scaled.dtype == np.float32
    assert all(np.shares_memory(dataset.data.numpy(), data.scaled) for dataset in data.datasets.values())
    again = CSVDataModule(table, lookback=24, horizon=12)
    loaded = again.load()
    again.load = lambda: loaded
    again.setup()
    assert again.series.values is loaded.values
    latest, latest_rows = next(iter(data.predict_dataloader()))
    assert latest_rows.tolist() == [list(range(300 - 24, 300 + 12))] and latest.shape == (1, 24, 3)


def test_the_time_clock_keeps_the_time_of_day_across_gaps_and_repeats():
    times = pd.DatetimeIndex(["2020-01-01 00:10", "2020-01-01 00:20", "2020-01-01 00:20", "2020-01-01 00:30",
                              "2020-01-01 02:10", "2020-01-01 02:20"])  # a repeat, then 100 minutes
    assert steps_since_start(times).tolist() == [0, 1, 1, 2, 12, 13]
    table = frame(300).drop(index=range(100, 110)).reset_index(drop=True)  # ten hours missing at row 100
    rows, time = (CSVDataModule(table, lookback=24, horizon=12, clock=clock) for clock in ("rows", "time"))
    for data in (rows, time):
        data.setup()
    first = int(time.clock_rows[0])  # hours since 2000-01-01
    assert first == (pd.Timestamp("2021-01-01") - pd.Timestamp("2000-01-01")) // pd.Timedelta("1h")
    test_rows = [rows.datasets["test"][i][2] for i in (0, 5)]
    assert [(time.datasets["test"][i][2] - first).tolist() for i in (0, 5)] == [(r + 10).tolist() for r in test_rows]
    assert rows.datasets["train"][3][2].tolist() == list(range(3, 39))
    assert (time.datasets["train"][3][2] - first).tolist() == list(range(3, 39))
    across = (time.datasets["train"][90][2] - first).tolist()  # rows 90-125: ten hours missing after row 99
    assert across == list(range(90, 100)) + list(range(110, 136))
    assert (next(iter(time.predict_dataloader()))[1] - first).tolist() == [list(range(290 - 24 + 10, 290 + 12 + 10))]
    # Any file of the series is on the same clock: it counted from each file's first row.
    tail = CSVDataModule(table.iloc[13:], lookback=24, horizon=12, clock="time")
    tail.setup()
    assert tail.clock_rows.tolist() == time.clock_rows[13:].tolist()
    with pytest.raises(ValueError, match="clock must be one of rows, time"):
        CSVDataModule(table, clock="hours")
    no_times = CSVDataModule(table.drop(columns="date"), time_column=None, lookback=24, horizon=12, clock="time")
    with pytest.raises(ValueError, match="clock='time' needs a series with timestamps"):
        no_times.setup()


def test_features_s_and_ms():
    table = frame(300)
    for features, inputs, targets in (("M", 3, 3), ("MS", 3, 1), ("S", 1, 1)):
        data = CSVDataModule(table, lookback=24, horizon=12, features=features)
        data.setup()
        x, y, _ = data.datasets["train"][0]
        assert x.shape == (24, inputs) and y.shape == (12, targets)


def test_dataframe_with_datetime_index_and_samples(samples):
    indexed = frame(300).set_index("date")
    data = CSVDataModule(indexed, lookback=24, horizon=12)
    data.setup()
    assert data.series.times[0] == pd.Timestamp("2021-01-01")
    as_text = indexed.set_axis(indexed.index.astype(str))  # read_csv(index_col=0) without parse_dates
    data = CSVDataModule(as_text, lookback=24, horizon=12)
    data.setup()
    assert (data.series.times == indexed.index).all()
    sample = ETTDataModule("ETTh1", path=samples / "ETTh1_first2000.csv", verify=False, lookback=96, horizon=96)
    with pytest.raises(ValueError, match="needs 14400 rows"):
        sample.setup()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="date"), "time column 'date' not found"),
        (lambda t: t.assign(date=t.date.astype(str).where(t.index != 7, "yesterday")), "row 7 .*not a timestamp"),
        (lambda t: t.iloc[[0, 2, 1, *range(3, len(t))]], "must increase: row 2"),
        (lambda t: t.assign(date=t.date.where(t.index != 5, t.date[4])), "duplicated timestamp .* rows 4 and 5"),
        (lambda t: t.assign(c0=t.c0.astype(object).where(t.index != 9, "n/a")), "column 'c0' is not numeric: row 9"),
        (lambda t: t.assign(c1=t.c1.where(t.index != 11, np.nan)), "column 'c1' holds nan at row 11"),
        (lambda t: t.assign(OT=t.OT.where(t.index != 3, np.inf)), "column 'OT' holds inf at row 3"),
        (lambda t: t.iloc[:30], "fewer than lookback \\+ horizon = 36"),
        (lambda t: t.assign(date=np.arange(len(t))), "time column 'date' holds numbers.* drop the column"),
        (lambda t: t.assign(c0=t.c0 + 1j), "column 'c0' holds complex128 values, not real numbers"),
        (lambda t: t.assign(date=[d.isoformat() + ("Z" if i % 2 == 0 else "") for i, d in enumerate(t.date)]),
         "mixes timestamps with and without a time zone: row 1 .* has none"),
        (lambda t: t.assign(date=pd.Series([d.tz_localize("UTC") if i != 3 else d for i, d in enumerate(t.date)],
                                           dtype=object)), "row 3 .* has none"),
        (lambda t: t.assign(date=[d.isoformat() + "Z" if i != 6 else None for i, d in enumerate(t.date)]),
         "mixes timestamps with and without a time zone: row 6 .* has none"),  # offsets read per distinct ending
        (lambda t: t.rename(columns={"c1": "c0"}), "column 'c0' appears twice"),  # was pandas' TypeError
        # A row index saved with the table: it was read as one more channel, a ramp.
        (lambda t: t.reset_index().rename(columns={"index": "Unnamed: 0"}), "column 'Unnamed: 0' has no name"),
    ],
)
def test_bad_data_gets_a_clear_error(change, message):
    data = CSVDataModule(change(frame(300)), lookback=24, horizon=12)
    with pytest.raises(ValueError, match=message):
        data.setup()


def test_offsets_that_change_with_daylight_saving_are_read_in_utc():
    local = pd.date_range("2021-03-27", periods=300, freq="h", tz="Europe/Berlin")
    data = CSVDataModule(frame(300).assign(date=[t.isoformat() for t in local]), lookback=24, horizon=12)
    data.setup()
    assert data.series.times.equals(pd.DatetimeIndex(local.tz_convert("UTC"), name="date"))


def test_time_columns_in_other_common_forms():
    """ISO dates beside date-times, time stamps of two time zones (as a concat of two frames gives) and periods."""
    hourly = pd.date_range("2021-01-01", periods=300, freq="h")
    iso = [t.isoformat(sep=" ") if t.hour else t.strftime("%Y-%m-%d") for t in hourly]  # midnights as dates
    zones = [t.tz_localize("UTC") if i < 150 else t.tz_localize("UTC").tz_convert("Asia/Tokyo")
             for i, t in enumerate(hourly)]
    periods = pd.period_range("2001-01", periods=300, freq="M")
    for column, expected in ((iso, hourly), (pd.Series(zones, dtype=object), hourly.tz_localize("UTC")),
                             (periods, periods.to_timestamp())):
        data = CSVDataModule(frame(300).assign(date=column), lookback=24, horizon=12)
        data.setup()
        assert data.series.times.equals(pd.DatetimeIndex(expected, name="date"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="target 'power' is not a column"):
        CSVDataModule(frame(300), target="power", features="MS").setup()
    with pytest.raises(ValueError, match="features must be one of"):
        CSVDataModule(frame(300), features="X")
    with pytest.raises(ValueError, match="lookback must be a positive integer"):
        CSVDataModule(frame(300), lookback=0)
    with pytest.raises(ValueError, match="name must be one of"):
        ETTDataModule("ETTh3")
    with pytest.raises(FileNotFoundError, match="no CSV file"):
        CSVDataModule("/nowhere/x.csv").setup()
    with pytest.raises(ValueError, match=r"column\(s\) \['nope'\] not found"):
        read_series(frame(10), columns=["nope"])
    # Before: a string was read letter by letter ("['O', 'T'] not found"), twice a column gave two channels of it,
    # and an array was taken for a path ("no CSV file at [[0. 0.] ...").
    with pytest.raises(TypeError, match=r"columns must be a list of column names, got the string 'OT': use \['OT'\]"):
        read_series(frame(10), columns="OT")
    with pytest.raises(ValueError, match="column 'OT' appears twice"):
        read_series(frame(10), columns=["OT", "OT"])
    with pytest.raises(ValueError, match="the time column 'date' cannot also be a value column"):
        read_series(frame(10), columns=["date", "OT"])
    read_series(frame(10).assign(c2=1.0).rename(columns={"c2": "c0"}), columns=["c1", "OT"])  # unused: no matter
    with pytest.raises(TypeError, match="data must be a DataFrame or the path of a CSV file, got ndarray"):
        CSVDataModule(np.zeros((300, 3)))
    with pytest.raises(TypeError, match="data must be a DataFrame, a CSV file's path or an open file, got list"):
        read_series([[0.0, 1.0]])
    assert read_series(io.StringIO(frame(10).to_csv(index=False))).names == ["c0", "c1", "OT"]


@pytest.mark.parametrize("name", ["steps.tsv", "steps.tab.gz"])
def test_a_tsv_file_is_read_by_its_name(tmp_path, name):
    """Read as a CSV, a TSV was one column holding the whole line."""
    expected = frame(10)
    expected.to_csv(tmp_path / name, sep="\t", index=False)
    series = read_series(tmp_path / name)
    assert series.names == ["c0", "c1", "OT"]
    np.testing.assert_allclose(series.values, expected[["c0", "c1", "OT"]].to_numpy())


def test_zoned_text_timestamps_keep_their_local_calendar_where_they_share_a_time_of_day():
    """Berlin's business days written to a CSV read back in UTC as 22:00 or 23:00 the day before: the forecaster
    then stepped one day at a time, onto Saturdays. Hourly data, whose local hours repeat, stays in UTC."""
    days = pd.bdate_range("2024-01-01", periods=200, tz="Europe/Berlin")
    text = io.StringIO(pd.DataFrame({"v": np.arange(200.0)}, index=days).to_csv(index_label="date"))
    series = read_series(text)
    assert series.times.equals(pd.DatetimeIndex(days.tz_localize(None), name="date"))
    hours = pd.date_range("2024-10-26", periods=60, freq="h", tz="Europe/Berlin")  # 2024-10-27 repeats 02:00
    text = io.StringIO(pd.DataFrame({"v": np.arange(60.0)}, index=hours).to_csv(index_label="date"))
    assert read_series(text).times.equals(pd.DatetimeIndex(hours.tz_convert("UTC"), name="date"))


def test_a_time_format_reads_day_first_dates():
    """Without it, 01/02/2015 is the 2nd of January: monthly data came out as twelve days a year."""
    months = pd.date_range("2015-01-01", periods=36, freq="MS")
    table = pd.DataFrame({"date": months.strftime("%d/%m/%Y"), "v": np.arange(36.0)})
    assert read_series(table, time_format="%d/%m/%Y").times.equals(pd.DatetimeIndex(months, name="date"))
    data = CSVDataModule(table, lookback=8, horizon=2, time_format="%d/%m/%Y")
    data.setup()
    assert data.step == pd.offsets.MonthBegin()
    with pytest.raises(ValueError, match=r"time column 'date': row 0 \('01/01/2015'\) is not a timestamp"):
        read_series(table, time_format="%Y-%m-%d")
    with pytest.raises(TypeError, match="time_format must be a string of strftime codes or None, got int"):
        CSVDataModule(table, time_format=1)
    # Dates coded as numbers were refused as numbers; zoned day-first dates were read in UTC, onto Saturdays.
    coded = table.assign(date=months.strftime("%Y%m%d").astype(int))
    assert read_series(coded, time_format="%Y%m%d").times.equals(pd.DatetimeIndex(months, name="date"))
    days = pd.bdate_range("2024-01-01", periods=200, tz="Europe/Berlin")
    zoned = pd.DataFrame({"date": days.strftime("%d/%m/%Y %H:%M%z"), "v": np.arange(200.0)})
    assert read_series(zoned, time_format="%d/%m/%Y %H:%M%z").times.equals(
        pd.DatetimeIndex(days.tz_localize(None), name="date"))


@pytest.mark.parametrize("name", ["steps.csv", "steps.bgz"])
def test_a_gzipped_csv_is_read_whatever_its_name(tmp_path, name):
    """pandas goes by the name: a gzipped steps.csv was a UnicodeDecodeError."""
    (tmp_path / name).write_bytes(gzip.compress(frame(10).to_csv(index=False).encode()))
    assert read_series(tmp_path / name).names == ["c0", "c1", "OT"]
    (tmp_path / "plain.csv.gz").write_text(frame(10).to_csv(index=False))  # and a plain one named .gz is plain
    assert read_series(tmp_path / "plain.csv.gz").names == ["c0", "c1", "OT"]
