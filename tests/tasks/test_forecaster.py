"""Forecaster: learns a sinusoid, orders its quantiles, forecasts future timestamps in original units."""

import warnings

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from titans_seq.data import CSVDataModule
from titans_seq.layers import TitansConfig
from titans_seq.tasks import Forecaster

TINY = TitansConfig(variant="mag", dim=16, depth=1, heads=2, window=8, causal=False, memory_chunk=2,
                    persistent_tokens=2, ff_mult=2.0)


def sinusoid(rows=600, offset=100.0):
    t = np.arange(rows)
    return pd.DataFrame({"date": pd.date_range("2022-03-01", periods=rows, freq="h"),
                         "a": offset + 5 * np.sin(2 * np.pi * t / 24), "OT": offset + 3 * np.cos(2 * np.pi * t / 12)})


def fit(model, data, epochs):
    L.seed_everything(0, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = L.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                            enable_checkpointing=False, accelerator="cpu")
        trainer.fit(model, datamodule=data)
        return trainer.test(model, datamodule=data, verbose=False)[0]


def test_fits_a_noiseless_sinusoid():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16)
    L.seed_everything(0, verbose=False)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, learning_rate=5e-3)
    result = fit(model, data, epochs=15)
    assert result["test_mse"] < 0.01
    assert result["test_mse_original"] == pytest.approx(result["test_mse"] * np.mean(data.scaler.var_), rel=0.5)


def test_quantiles_are_ordered_and_forecasts_have_future_timestamps():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16, features="MS")
    L.seed_everything(0, verbose=False)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       target_channels=[1], quantiles=[0.1, 0.9], learning_rate=5e-3)
    fit(model, data, epochs=3)
    prediction = model(torch.randn(5, 48, 2) * 3)
    assert prediction.shape == (5, 12, 1, 3)
    assert (prediction.diff(dim=-1) > 0).all()
    frame = model.forecast(data)
    assert list(frame.columns) == ["OT_q0.1", "OT", "OT_q0.9"]
    assert frame.index[0] == data.series.times[-1] + pd.Timedelta(hours=1) and len(frame) == 12
    assert (frame.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    assert 90 < frame["OT"].mean() < 110  # original units, not the scaled ones
    assert (frame["OT_q0.1"] < frame["OT"]).all() and (frame["OT"] < frame["OT_q0.9"]).all()


def test_forecast_depends_on_the_lookback_only():
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8).eval()
    x = torch.randn(3, 48, 2)
    assert torch.equal(model(x), model(x.clone()))
    batch = torch.cat([x, torch.randn(1, 48, 2)])  # other windows in the batch change nothing
    torch.testing.assert_close(model(batch)[:3], model(x), rtol=1e-5, atol=1e-6)


def test_dlinear_in_the_same_harness():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16)
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=1e-2)
    assert fit(model, data, epochs=5)["test_mse"] < 0.05


def test_bad_arguments():
    with pytest.raises(ValueError, match="model must be"):
        Forecaster(model="lstm")
    with pytest.raises(ValueError, match="loss must be"):
        Forecaster(loss="l3")
    with pytest.raises(ValueError, match="quantiles must lie strictly between 0 and 1"):
        Forecaster(quantiles=[0.0, 0.5])
    with pytest.raises(ValueError, match="causal=False"):
        Forecaster(encoder=TitansConfig(causal=True))
    with pytest.raises(TypeError, match="encoder must be a TitansConfig"):
        Forecaster(encoder="mag")
    with pytest.raises(ValueError, match="linear_skip need model='titans'"):
        Forecaster(model="dlinear", linear_skip=True)


@pytest.mark.parametrize(("loss", "mixing"), [("mae", False), ("huber", True)])
def test_losses_and_channel_mixing(loss, mixing):
    model = Forecaster(channels=3, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, loss=loss,
                       channel_mixing=mixing)
    x, y = torch.randn(4, 48, 3), torch.randn(4, 12, 3)
    value = model.training_step((x, y), 0)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value)
    if mixing:  # the mixer starts as the identity and is trained
        assert model.network.mixer.mix.weight.grad.abs().sum() > 0


def test_linear_skip_starts_as_the_model_without_it():
    with_skip = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, linear_skip=True)
    without = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8)
    without.load_state_dict({k: v for k, v in with_skip.state_dict().items() if ".skip." not in k})
    x = torch.randn(3, 48, 2)
    torch.testing.assert_close(with_skip.eval()(x), without.eval()(x))


@pytest.mark.parametrize("quantiles", [None, [0.1, 0.9]])
def test_linear_skip_adds_a_linear_map_of_the_lookback(quantiles):
    """With the encoder's head silenced, the forecast is the skip's linear map of the RevIN-normalised
    lookback, mapped back: here "repeat the last value", for every quantile alike."""
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       quantiles=quantiles, linear_skip=True).eval()
    head = model.network.head.project
    with torch.no_grad():
        head.weight.zero_(), head.bias.zero_()
        model.network.skip.weight.zero_(), model.network.skip.bias.zero_()
        model.network.skip.weight[:, -1] = 1.0
    x = torch.randn(3, 48, 2) * 4 + 10
    forecast = model(x)
    last = x[:, -1:, :].expand(-1, 12, -1)
    if quantiles:
        torch.testing.assert_close(forecast[..., 1], last)
        assert (forecast.diff(dim=-1) > 0).all()
    else:
        torch.testing.assert_close(forecast, last)


def test_future_index_without_timestamps():
    from titans_seq.tasks import future_index

    assert list(future_index(None, 3)) == [0, 1, 2]
    daily = pd.date_range("2024-01-01", periods=10, freq="D")
    assert future_index(pd.DatetimeIndex(daily), 2)[0] == pd.Timestamp("2024-01-11")
