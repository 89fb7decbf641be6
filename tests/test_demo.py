"""The demo's claims hold: reading alone trains the memory, and depth buys capacity."""

import pytest

from titans_seq import demo
from titans_seq.demo import main, recall_curve


def test_reading_alone_trains_the_memory_and_depth_adds_capacity():
    linear = recall_curve(pairs=64, dim=32, passes=16, depth=1)
    mlp = recall_curve(pairs=64, dim=32, passes=16, depth=2)
    assert linear[0].relative_error > 0.9 and mlp[0].relative_error > 0.9  # nothing stored yet
    assert mlp[-1].relative_error < 0.2 and mlp[-1].accuracy == 1.0
    # 64 pairs in 32 dimensions exceed what a matrix can hold exactly.
    assert linear[-1].relative_error > 0.4 > mlp[-1].relative_error


def test_memory_demo_prints_its_measurements(capsys):
    main(["--memory", "--passes", "3"])
    out = capsys.readouterr().out
    assert "linear memory" in out and "MLP memory" in out and "recall acc." in out
    passes = [line.split()[0] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert passes == ["0", "2", "3"] * 2  # every other pass, and the last


@pytest.mark.parametrize("flag", ["--epochs", "--passes", "--pairs", "--dim"])
def test_the_demo_refuses_counts_below_one(flag, capsys):
    with pytest.raises(SystemExit):
        main([flag, "0"])
    assert f"{flag}: must be a positive integer, got 0" in capsys.readouterr().err


def test_forecasting_demo_takes_the_seed_given(monkeypatch, capsys):
    seeds = []

    def forecast(epochs, path, seed):
        seeds.append(seed)
        return {"windows": 2785, "seconds": 1.0, "mse": 0.4, "mae": 0.4}

    monkeypatch.setattr(demo, "forecast_etth1", forecast)
    main([])
    main(["--seed", "7"])
    assert seeds == [2021, 7] and "titans_seq (MAG), here" in capsys.readouterr().out


@pytest.mark.slow
def test_forecasting_demo_trains_and_reports_next_to_published_numbers(shared_data, capsys):
    main(["--epochs", "1"])
    out = capsys.readouterr().out
    assert "Test windows evaluated: 2785" in out and "iTransformer (published)" in out
    mse = float(out.split("titans_seq (MAG), here")[1].split()[0])
    assert mse < 0.45
