"""Forecaster: learns a sinusoid, orders its quantiles, forecasts future timestamps in original units."""

import dataclasses
import warnings

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from titans_seq.baselines import DLinear
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


def fit_one_epoch(model, data, **limits) -> L.Trainer:
    """One quiet epoch of ``model`` on ``data`` under the trainer's ``limits`` (limit_train_batches, ...)."""
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, accelerator="cpu", **limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=data)
    return trainer


def test_fits_a_noiseless_sinusoid():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16)
    L.seed_everything(0, verbose=False)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, learning_rate=5e-3)
    result = fit(model, data, epochs=15)
    assert result["test_mse"] < 0.01
    assert result["test_mse_original"] == pytest.approx(result["test_mse"] * np.mean(data.scaler.var_), rel=0.5)


def test_metrics_in_original_units_use_the_scaler_of_the_data_tested():
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    fit(model, CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64), epochs=1)
    scaled_up = sinusoid(offset=1000.0).assign(a=lambda t: 10 * t.a, OT=lambda t: 10 * t.OT)
    other = CSVDataModule(scaled_up, lookback=48, horizon=12, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                           accelerator="cpu").test(model, datamodule=other, verbose=False)[0]
    assert result["test_mse_original"] == pytest.approx(result["test_mse"] * np.mean(other.scaler.var_), rel=0.5)


def test_a_checkpoint_tested_on_other_data_reports_that_datas_original_units(tmp_path):
    """The checkpoint, restored after setup, brought its training data's scaler: test_mse_original on data ten times
    larger read as on the training data's scale."""
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    fit(model, CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64), epochs=1)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    scaled_up = sinusoid().assign(a=lambda t: 10 * t.a, OT=lambda t: 10 * t.OT)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
        for given, path in ((Forecaster.load_from_checkpoint(tmp_path / "model.ckpt"), None),
                            (fresh, tmp_path / "model.ckpt")):
            other = CSVDataModule(scaled_up, lookback=48, horizon=12, batch_size=64)
            results.append(L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                                     accelerator="cpu").test(given, datamodule=other, ckpt_path=path, verbose=False)[0])
    assert results[1]["test_mse_original"] == pytest.approx(results[0]["test_mse_original"], rel=1e-6)


def test_a_model_forecasts_from_any_file_of_the_series_on_the_time_clock():
    """The clock counted from each file's first row: a file of the latest rows starting at another hour of the day
    read another phase of the cycle (forecasts 2 apart)."""
    table = sinusoid(1200)
    torch.manual_seed(0)
    model = Forecaster(channels=2, lookback=6, horizon=12, encoder=TINY, patch_len=2, stride=2, cycle=24)
    with torch.no_grad():
        model.network.cycle.values.normal_()
    whole, latest = (CSVDataModule(t, lookback=6, horizon=12, clock="time") for t in (table, table.iloc[13:]))
    pd.testing.assert_frame_equal(model.forecast(latest), model.forecast(whole), rtol=1e-4)


def test_a_cycle_is_read_on_the_clock_and_phase_it_was_learned_on(tmp_path):
    """On the row clock a file of the latest rows starting 13 hours later read every row 13 steps off the daily
    cycle, and a DataModule on the time clock read it at another phase, both without a word."""
    table = sinusoid(1200)
    model = Forecaster(channels=2, lookback=6, horizon=12, encoder=TINY, patch_len=2, stride=2, cycle=24)
    trainer = fit_one_epoch(model, CSVDataModule(table, lookback=6, horizon=12), limit_train_batches=2,
                            limit_val_batches=1)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    loaded = Forecaster.load_from_checkpoint(tmp_path / "model.ckpt")
    for forecaster in (model, loaded):
        whole, day_later = (forecaster.forecast(CSVDataModule(t, lookback=6, horizon=12))
                            for t in (table, table.iloc[24:]))
        pd.testing.assert_frame_equal(day_later, whole)
        with pytest.raises(ValueError, match="this file starts 13 steps off that phase of the 24-step cycle"):
            forecaster.forecast(CSVDataModule(table.iloc[13:], lookback=6, horizon=12))
        with pytest.raises(ValueError, match="learned on the rows clock but the DataModule places rows on the time"):
            forecaster.forecast(CSVDataModule(table, lookback=6, horizon=12, clock="time"))
    with pytest.raises(ValueError, match="13 steps off"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        L.Trainer(logger=False, enable_progress_bar=False, accelerator="cpu").test(
            Forecaster(channels=2, lookback=6, horizon=12, encoder=TINY, patch_len=2, stride=2, cycle=24),
            datamodule=CSVDataModule(table.iloc[13:], lookback=6, horizon=12), ckpt_path=tmp_path / "model.ckpt")


def test_the_cycle_starts_from_the_training_batches_an_epoch_reads(windows_read):
    """Under limit_train_batches (here a share), the cycle's warm start reads the batches an epoch trains on; it read
    every training window whatever the limit."""
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16)  # 361 training windows: 22 batches
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, cycle=24)
    fit_one_epoch(model, data, limit_train_batches=0.25, limit_val_batches=1)
    assert len(windows_read[0]) == 2 * int(22 * 0.25) * 16 and model.network.cycle.values.any()


def test_a_model_in_bfloat16_forecasts():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY).to(torch.bfloat16)
    assert model.forecast(data).shape == (12, 2)  # the context stayed float32: "mat1 and mat2 must have the same dtype"
    # A bf16-true model tested by a float32 trainer failed in a matmul: "mat1 and mat2 must have the same dtype".
    with pytest.raises(ValueError, match=r"x is torch\.float32 but the forecaster's weights are torch\.bfloat16"):
        model(torch.randn(2, 48, 2))


def test_bf16_true_metrics_and_scaler_stay_in_float32():
    """precision="bf16-true" cast the metrics and the scaler to bfloat16: the sum of squared errors rounded at every
    batch (test MSE 1.016 for 1.021) and a scaler's mean of 1000 was off by up to 4."""
    data = CSVDataModule(sinusoid(3000, offset=1000.0), lookback=48, horizon=12, batch_size=32)
    torch.manual_seed(0)
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                           precision="bf16-true").test(model, datamodule=data, verbose=False)[0]
    assert model.network.trend.weight.dtype == torch.bfloat16
    assert model.target_mean.dtype == torch.float32
    with torch.no_grad():  # the windows as the trainer gave them: in bfloat16
        errors = torch.cat([model(x.bfloat16()).double() - y.bfloat16().double()
                            for x, y, *_ in data.test_dataloader()])
    assert result["test_mse"] == pytest.approx(errors.square().mean().item(), rel=1e-5)
    assert result["test_loss"] == pytest.approx(result["test_mse"], rel=1e-5)
    scale = torch.as_tensor(data.scaler.scale_, dtype=torch.float64)
    assert result["test_mse_original"] == pytest.approx((errors * scale).square().mean().item(), rel=1e-4)
    moved = model.to("meta")  # the state kept in float32 still follows the module's device
    assert moved.target_mean.device.type == moved.metrics["test_mse"].sum_squared_error.device.type == "meta"


def test_float16_weights_are_refused_for_training_and_16_mixed_trains():
    """precision="16-true" trained to NaN without a word: AdamW's eps (1e-8) and small squared gradients round to
    zero in float16, and its first step divided by zero."""
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=32)

    def fit(precision):
        torch.manual_seed(0)
        model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8)
        trainer = L.Trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=2, precision=precision,
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, accelerator="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, datamodule=data)
        return trainer.callback_metrics

    with pytest.raises(ValueError, match=r"weights are float16 \(precision='16-true'\).*precision='16-mixed'"):
        fit("16-true")
    assert torch.isfinite(fit("16-mixed")["val_mse"])


def test_a_model_made_under_init_module_keeps_its_evaluation_state_in_float32():
    """Lightning's init_module() under bf16-true makes bfloat16 the default dtype: the metric states, the scaler and
    the quantile levels (0.1 as 0.10009765625) were made in it and kept."""
    with L.Trainer(precision="bf16-true", accelerator="cpu", logger=False).init_module():
        model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                           quantiles=[0.1, 0.5, 0.9])
    assert next(model.network.parameters()).dtype == torch.bfloat16
    assert model.quantile_levels.tolist() == pytest.approx([0.1, 0.5, 0.9], abs=1e-7)  # float32, not bfloat16
    states = [model.target_mean, model.target_std, model.metrics["val_loss"].total,
              model.metrics["test_mse"].sum_squared_error]
    assert {t.dtype for t in states} == {torch.float32}


def test_metrics_in_original_units_only_once_a_scaler_is_known():
    """Plain loaders carry no scaler: scaled numbers are not reported as original units."""
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    x, y = 300 + 50 * torch.randn(16, 48, 2), 300 + 50 * torch.randn(16, 12, 2)

    def test():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                             accelerator="cpu").test(model, DataLoader(TensorDataset(x, y), batch_size=8),
                                                     verbose=False)[0]

    assert "test_mse" in test() and "test_mse_original" not in test()
    model.set_target_scaler([10.0, 10.0], [2.0, 2.0])
    result = test()
    assert result["test_mse_original"] == pytest.approx(4 * result["test_mse"], rel=1e-5)


def test_given_channels_and_ms_data_forecast_the_datas_target():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64, features="MS")
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    result = fit(model, data, epochs=1)
    assert model.target_channels == [1] and model(torch.randn(3, 48, 2)).shape == (3, 12, 1)
    assert list(model.forecast(data).columns) == ["OT"] and result["test_mse"] < 2
    with pytest.raises(ValueError, match="the model reads 3 channels but the data has 2"):
        fit(Forecaster(channels=3, lookback=48, horizon=12, model="dlinear"), data, epochs=1)
    every = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    fit(every, CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64), epochs=1)
    with pytest.raises(ValueError, match=r"forecasts channels \[0, 1\] but the data's targets are \[1\]"):
        L.Trainer(logger=False, enable_progress_bar=False, accelerator="cpu").test(every, datamodule=data)
    assert every.target_channels == [0, 1]  # testing changed nothing


def test_forecast_refuses_data_of_other_targets_or_windows_and_sets_the_data_up():
    """Before, forecast() on a DataModule of other targets broadcast one channel's forecast over every column, each
    rescaled by another channel's scaler, and a DataModule not yet set up failed with an AttributeError."""
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    fit(model, CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64, features="MS"), epochs=1)
    fresh = CSVDataModule(sinusoid(), lookback=48, horizon=12, features="MS")
    assert list(model.forecast(fresh).columns) == ["OT"]
    with pytest.raises(ValueError, match=r"forecasts channels \[1\] but the data's targets are \[0, 1\]"):
        model.forecast(CSVDataModule(sinusoid(), lookback=48, horizon=12))
    with pytest.raises(ValueError, match="the model's horizon is 12 but the data's is 24"):
        model.forecast(CSVDataModule(sinusoid(), lookback=48, horizon=24, features="MS"))
    with pytest.raises(ValueError, match="the network is not built yet"):
        Forecaster(lookback=48, horizon=12).forecast(fresh)


def test_a_datamodule_of_plain_loaders_still_trains_a_forecaster_given_its_channels():
    class Loaders(L.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(32, 48, 2), torch.randn(32, 12, 2)), batch_size=16)

    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, accelerator="cpu").fit(model, datamodule=Loaders())
    assert model.target_channels == [0, 1]


def test_target_channels_without_channels_are_kept_or_refused_against_the_data():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64, features="MS")
    model = Forecaster(lookback=48, horizon=12, model="dlinear", target_channels=[1])
    fit(model, data, epochs=1)
    assert model.target_channels == [1]
    with pytest.raises(ValueError, match=r"forecasts channels \[0\] but the data's targets are \[1\]"):
        fit(Forecaster(lookback=48, horizon=12, model="dlinear", target_channels=[0]), data, epochs=1)


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


def test_numpy_settings_are_kept_as_python_numbers(tmp_path):
    """Accepted, they were kept as numpy scalars: the checkpoint did not load (weights_only, as the CLI reads it) and
    hparams.yaml held python/object tags; a numpy cycle was refused."""
    model = Forecaster(channels=np.int64(2), lookback=np.int64(48), horizon=np.int32(12), encoder=TINY,
                       patch_len=np.int64(8), stride=np.int64(8), cycle=np.int64(24), learning_rate=np.float32(1e-3),
                       target_channels=[np.int64(1)])
    assert {type(v) for k, v in model.hparams.items() if k in ("channels", "lookback", "cycle")} == {int}
    assert type(model.hparams.target_channels[0]) is int
    trainer = L.Trainer(logger=False, accelerator="cpu")
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    assert torch.load(tmp_path / "model.ckpt", weights_only=True)["hyper_parameters"]["lookback"] == 48


def test_a_target_named_as_another_targets_quantile_is_refused():
    """Its median was overwritten in forecast()'s frame by the other target's 10% quantile. The names do not enter
    the model: it trains, and forecasts once the column is renamed."""
    data = CSVDataModule(sinusoid().rename(columns={"a": "OT_q0.1"}), lookback=48, horizon=12, batch_size=64)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, quantiles=[0.1, 0.5])
    fit(model, data, epochs=1)
    with pytest.raises(ValueError, match=r"forecast column\(s\) \['OT_q0.1'\] would be named twice"):
        model.forecast(data)
    fine = CSVDataModule(sinusoid().rename(columns={"a": "OT_q0.2"}), lookback=48, horizon=12)
    assert list(model.forecast(fine).columns) == ["OT_q0.2_q0.1", "OT_q0.1", "OT_q0.2", "OT"]
    model.quantiles = [0.1, 0.1000001, 0.5]  # two levels alike to 6 digits: one forecast replaced the other
    with pytest.raises(ValueError, match=r"\['OT_q0.1', 'OT_q0.2_q0.1'\] would be named twice"):
        model._forecast_columns(["OT_q0.2", "OT"])


def test_forecast_switches_dropout_off_and_leaves_the_mode_as_it_was():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12)
    data.setup()
    dropout = dataclasses.replace(TINY, dropout=0.5)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=dropout, patch_len=8, stride=8)
    assert model.training  # as trainer.fit leaves it
    pd.testing.assert_frame_equal(model.forecast(data), model.forecast(data))
    assert model.training
    model.network.encoder.eval()  # a part the user froze stays frozen
    model.forecast(data)
    assert model.training and not model.network.encoder.training


def test_quantiles_stay_ordered_when_revins_learned_scale_turns_negative():
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       quantiles=[0.1, 0.5, 0.9]).eval()
    with torch.no_grad():
        model.network.revin.weight[1] = -0.5
    prediction = model(torch.randn(4, 48, 2) * 3)
    assert (prediction.diff(dim=-1) >= 0).all()


@pytest.mark.parametrize("quantiles", [[0.5], []])
def test_the_median_alone_is_a_quantile_forecast(quantiles):
    """The quantile axis stays when the median is the only quantile, so the pinball loss pairs each step's."""
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       quantiles=quantiles).eval()
    x, y = torch.randn(4, 48, 2), torch.randn(4, 12, 2)
    assert model(x).shape == (4, 12, 2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        loss = model.training_step((x, y, torch.zeros(4, 60, dtype=torch.long)), 0)
    torch.testing.assert_close(loss, (model(x)[..., 0] - y).abs().mean() / 2)


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
    for name, value in (("lookback", 0), ("horizon", -1), ("kernel", 0)):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            DLinear(**{"lookback": 48, "horizon": 12, name: value})
    with pytest.raises(ValueError, match=r"x must be \(batch, lookback=48, channels\)"):
        DLinear(48, 12)(torch.randn(2, 40, 3))


class LearningRates(L.Callback):
    """The optimiser's learning rate at the start of every training epoch."""

    def __init__(self):
        self.rates = []

    def on_train_epoch_start(self, trainer, module):
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


# "halving" as LTSF-Linear sets it after epoch e (from 1): lr * 0.5 ** (e - 1), so epoch 2 still runs at lr.
@pytest.mark.parametrize(("schedule", "expected"), [("halving", [8e-3, 8e-3, 4e-3, 2e-3]),
                                                    ("cosine", [8e-3, 6.828e-3, 4e-3, 1.172e-3])])
def test_learning_rate_schedules(schedule, expected):
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64)
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=8e-3, lr_schedule=schedule)
    rates = LearningRates()
    L.Trainer(max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, accelerator="cpu", callbacks=[rates]).fit(model, datamodule=data)
    assert rates.rates == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(("bounds", "expected"), [
    (dict(max_steps=8), [1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038]),  # by step over max_steps
    (dict(max_epochs=4), [1.0, 1.0, 0.854, 0.854, 0.5, 0.5, 0.146, 0.146]),  # by epoch over max_epochs
    (dict(max_epochs=-1, max_steps=8), [1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038]),
    (dict(max_epochs=4, max_steps=4), [1.0, 0.854, 0.5, 0.146]),  # by step over max_steps, which ends first
    (dict(max_epochs=2, max_steps=100), [1.0, 0.854, 0.5, 0.146]),  # by step over the epochs' steps
])
def test_the_cosine_spans_the_trainers_bound_and_never_rises_again(bounds, expected):
    class StepRates(L.Callback):
        def __init__(self):
            self.rates = []

        def on_train_batch_start(self, trainer, *args):
            self.rates.append(round(trainer.optimizers[0].param_groups[0]["lr"], 3))

    model = Forecaster(channels=2, lookback=16, horizon=4, model="dlinear", learning_rate=1.0)
    loader = DataLoader(TensorDataset(torch.randn(32, 16, 2), torch.randn(32, 4, 2)), batch_size=16)
    rates = StepRates()
    L.Trainer(**bounds, limit_val_batches=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, accelerator="cpu", callbacks=[rates]).fit(model, loader)
    assert rates.rates == expected


def test_a_fit_resumed_under_a_longer_bound_anneals_over_the_new_one(tmp_path):
    """A restored CosineAnnealingLR kept the checkpoint's length: epoch 3 of 4 ran at rate 0, epoch 4 rose again."""
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64)
    trainer = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                   default_root_dir=tmp_path)
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=1.0)
    first = L.Trainer(max_epochs=2, **trainer)
    first.fit(model, datamodule=data)
    path = tmp_path / "two.ckpt"
    first.save_checkpoint(path)
    rates = LearningRates()
    L.Trainer(max_epochs=4, callbacks=[rates], **trainer).fit(model, datamodule=data, ckpt_path=path)
    assert rates.rates == pytest.approx([0.5, 0.1464], abs=1e-4)  # epochs 3 and 4 of a cosine over 4


@pytest.mark.parametrize(("schedule", "expected"), [("cosine", [0.05, 0.01464]), ("halving", [0.05, 0.025])])
def test_a_fit_resumed_with_another_rate_and_decay_trains_at_them(tmp_path, schedule, expected):
    """The restored optimiser and schedule kept the checkpoint's rate (1.0) and decay, while the hyper-parameters
    and every later checkpoint recorded the new ones."""
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64)
    trainer = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                   default_root_dir=tmp_path)
    first = L.Trainer(max_epochs=2, **trainer)
    first.fit(Forecaster(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=1.0, lr_schedule=schedule),
              datamodule=data)
    first.save_checkpoint(tmp_path / "two.ckpt")
    rates = LearningRates()
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=0.1, weight_decay=0.5,
                       lr_schedule=schedule)
    resumed = L.Trainer(max_epochs=4, callbacks=[rates], **trainer)
    resumed.fit(model, datamodule=data, ckpt_path=tmp_path / "two.ckpt")
    assert rates.rates == pytest.approx(expected, abs=1e-4)  # epochs 3 and 4 of the new rate's schedule
    assert resumed.optimizers[0].param_groups[0]["weight_decay"] == 0.5


def test_a_resumed_fit_keeps_the_ratio_and_decay_of_a_group_of_its_own(tmp_path):
    """A subclass's group at a tenth of the rate and without decay took the module's rate and decay on resuming."""
    class TwoGroups(Forecaster):
        def configure_optimizers(self):
            weights = [p for n, p in self.named_parameters() if n.endswith("weight")]
            biases = [p for n, p in self.named_parameters() if n.endswith("bias")]
            return torch.optim.AdamW([{"params": weights},
                                      {"params": biases, "lr": self.hparams.learning_rate / 10, "weight_decay": 0.0}],
                                     lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay)

    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64)
    trainer = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                   default_root_dir=tmp_path)
    first = L.Trainer(max_epochs=1, **trainer)
    first.fit(TwoGroups(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=0.01), datamodule=data)
    first.save_checkpoint(tmp_path / "one.ckpt")
    for rate, decay, expected in ((0.01, 1e-4, [(0.01, 1e-4), (0.001, 0.0)]), (0.1, 0.5, [(0.1, 0.5), (0.01, 0.0)])):
        resumed = L.Trainer(max_epochs=2, **trainer)
        resumed.fit(TwoGroups(channels=2, lookback=48, horizon=12, model="dlinear", learning_rate=rate,
                              weight_decay=decay), datamodule=data, ckpt_path=tmp_path / "one.ckpt")
        groups = resumed.optimizers[0].param_groups
        assert [value for g in groups for value in (g["lr"], g["weight_decay"])] == pytest.approx(sum(expected, ()))


def test_the_loss_metric_is_the_mean_over_windows():
    """With the MSE loss, test_loss is test_mse: batches of different sizes weighted by their windows."""
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=64)  # a last test batch of another size
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                            accelerator="cpu").test(model, datamodule=data, verbose=False)[0]
    assert metrics["test_loss"] == pytest.approx(metrics["test_mse"], rel=1e-6)


def test_a_nan_batch_makes_the_validation_loss_nan():
    """Early stopping's finiteness check and the best checkpoint rely on it: a run that diverged must not look done."""
    model = Forecaster(channels=2, lookback=16, horizon=4, model="dlinear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        model.validation_step((torch.randn(3, 16, 2), torch.randn(3, 4, 2)), 0)
        model.validation_step((torch.randn(3, 16, 2), torch.full((3, 4, 2), float("nan"))), 1)
    assert model.metrics["val_loss"].compute().isnan()


def test_bad_arguments():
    with pytest.raises(ValueError, match="model must be"):
        Forecaster(model="lstm")
    with pytest.raises(ValueError, match="loss must be"):
        Forecaster(loss="l3")
    with pytest.raises(ValueError, match="quantiles must lie strictly between 0 and 1"):
        Forecaster(quantiles=[0.0, 0.5])
    with pytest.raises(ValueError, match="quantiles must be a list of levels"):
        Forecaster(quantiles=0.9)
    with pytest.raises(ValueError, match="each of quantiles must be a number, got 'a'"):
        Forecaster(quantiles=["a"])
    for name, value in (("channels", 0), ("lookback", 32.5), ("horizon", -3), ("patch_len", 0), ("stride", True)):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            Forecaster(**{name: value})
    with pytest.raises(ValueError, match=r"stride \(8\) must not exceed patch_len \(4\)"):  # rows 4-7 were unread
        Forecaster(patch_len=4, stride=8)
    for name in ("channel_mixing", "linear_skip"):
        with pytest.raises(ValueError, match=f"{name} must be True or False, got 'no'"):
            Forecaster(**{name: "no"})
    for targets in ([5], [-1], [0, 0], [], 1):
        with pytest.raises(ValueError, match="target_channels must be distinct channel indices from 0 to 2"):
            Forecaster(channels=3, target_channels=targets, model="dlinear")
    model = Forecaster(channels=3, lookback=48, horizon=12, model="dlinear")
    for x in (torch.randn(2, 40, 3), torch.randn(2, 48, 2), torch.randn(48, 3)):
        with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, lookback, channels\) = "
                                             r"\(batch, 48, 3\)"):
            model(x)
    with pytest.raises(ValueError, match="not built yet"):
        Forecaster(lookback=48, horizon=12)(torch.randn(2, 48, 3))
    with pytest.raises(ValueError, match="causal=False"):
        Forecaster(encoder=TitansConfig(causal=True))
    with pytest.raises(TypeError, match="encoder must be a TitansConfig"):
        Forecaster(encoder="mag")
    with pytest.raises(ValueError, match="linear_skip, cycle and head_patches need model='titans'"):
        Forecaster(model="dlinear", linear_skip=True)
    with pytest.raises(ValueError, match="cycle must be an integer of at least 2 steps"):
        Forecaster(cycle=1)
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, halving, got 'step'"):
        Forecaster(lr_schedule="step")
    with pytest.raises(ValueError, match="head_patches need model='titans'"):
        Forecaster(model="dlinear", head_patches=4)
    for head_patches in (0, 8, True):  # a 48-step lookback in patches of 8 at stride 8 has 7 patches
        with pytest.raises(ValueError, match=f"head_patches must be an integer from 1 to the lookback's 7 patches "
                                             f"\\(or None\\), got {head_patches}"):
            Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       head_patches=head_patches)


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


def test_head_patches_fix_the_heads_size_and_the_encoder_still_carries_the_whole_lookback():
    def forecaster(lookback, head_patches=None):
        return Forecaster(channels=2, lookback=lookback, horizon=12, encoder=TINY, patch_len=8, stride=8,
                          head_patches=head_patches)

    head_size = [sum(p.numel() for p in forecaster(lookback, 3).network.head.parameters()) for lookback in (48, 96)]
    assert head_size[0] == head_size[1] == (3 * TINY.dim + 1) * 12
    every = forecaster(48)
    all_seven = forecaster(48, 7)
    all_seven.load_state_dict(every.state_dict())
    x = torch.randn(3, 48, 2, requires_grad=True)
    torch.testing.assert_close(all_seven.eval()(x), every.eval()(x))

    latest = forecaster(48, 2).eval()
    encoded = torch.randn(6, 7, TINY.dim)
    changed = encoded.clone()
    changed[:, :5] = torch.randn(6, 5, TINY.dim)  # all but the latest two patches
    torch.testing.assert_close(latest.network.head(changed, 2), latest.network.head(encoded, 2))
    latest(x).sum().backward()  # yet the earliest steps still reach the forecast, through the encoder
    assert x.grad[:, :8].abs().sum() > 0


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


@pytest.mark.parametrize("quantiles", [None, [0.1, 0.9]])
def test_cycle_is_taken_out_at_the_lookback_and_put_back_at_the_forecast_rows(quantiles):
    """With the head silenced and a skip that repeats the last (cycle-free) value, the forecast is the last
    value, minus the cycle at its row, plus the cycle at each forecast row (in the window's own scale)."""
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8,
                       quantiles=quantiles, linear_skip=True, cycle=24).eval()
    network = model.network
    with torch.no_grad():
        network.head.project.weight.zero_(), network.head.project.bias.zero_()
        network.skip.weight[:, -1] = 1.0
        network.cycle.values.normal_()
    x, first_row = torch.randn(3, 48, 2) * 4 + 10, torch.tensor([0, 7, 1000])
    forecast = model(x, first_row)
    std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5)
    cycle = network.cycle.values
    last_row, rows = first_row + 47, first_row[:, None] + 48 + torch.arange(12)
    expected = x[:, -1:, :] + std * (cycle[rows % 24] - cycle[last_row % 24][:, None])
    torch.testing.assert_close(forecast[..., 1] if quantiles else forecast, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model(x, first_row[:, None] + torch.arange(60)), forecast)  # each row's position
    with pytest.raises(ValueError, match="learned cycle of 24 steps and needs each window's clock"):
        model(x)
    with pytest.raises(ValueError, match=r"lookback \+ horizon = 60"):
        model(x, first_row[:, None] + torch.arange(48))


def test_the_cycle_follows_each_rows_own_position_across_a_gap():
    """A window whose rows skip five positions on the clock (a gap in time) reads the cycle at those positions,
    the forecast's rows too, not at its first position plus 0, 1, 2, ..."""
    model = Forecaster(channels=1, lookback=8, horizon=4, encoder=TINY, patch_len=4, stride=4, linear_skip=True,
                       cycle=24).eval()
    network = model.network
    with torch.no_grad():
        network.head.project.weight.zero_(), network.head.project.bias.zero_()
        network.skip.weight[:, -1] = 1.0
        network.cycle.values.copy_(torch.arange(24.0)[:, None])
    x = torch.full((1, 8, 1), 3.0) + torch.randn(1, 8, 1) * 0.1
    clock = torch.tensor([[0, 1, 2, 3, 9, 10, 11, 12, 13, 14, 15, 16]])  # five hours missing after the fourth row
    std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5)
    expected = x[:, -1:] + std * (torch.tensor([13.0, 14, 15, 16]) - 12.0)[None, :, None]
    torch.testing.assert_close(model(x, clock), expected, rtol=1e-4, atol=1e-4)


def test_predict_reads_the_clock_only_from_integer_items():
    """A prediction batch of ``(x, y)`` (a test loader's, say) holds no clock: its targets are not taken for
    it, and a model with a cycle says what it needs instead of indexing its pattern by values."""
    plain = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8).eval()
    x, y, rows = torch.randn(3, 48, 2), torch.randn(3, 12, 2), torch.tensor([0, 5, 9])
    torch.testing.assert_close(plain.predict_step((x, y), 0), plain(x))
    cycled = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, cycle=24).eval()
    torch.testing.assert_close(cycled.predict_step((x, y, rows), 0), cycled(x, rows))
    torch.testing.assert_close(cycled.predict_step((x, rows), 0), cycled(x, rows))
    with pytest.raises(ValueError, match="needs each window's clock"):
        cycled.predict_step((x, y), 0)
    with pytest.raises(TypeError, match="clock must hold integer positions"):
        cycled(x, rows.float())


def test_cycle_starts_at_the_mean_normalised_training_lookback_of_each_phase():
    data = CSVDataModule(sinusoid(), lookback=48, horizon=12, batch_size=16)
    model = Forecaster(channels=2, lookback=48, horizon=12, encoder=TINY, patch_len=8, stride=8, cycle=24)
    assert not model.network.cycle.values.any()  # without training data: zero, the model without a cycle

    def start_training(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            L.Trainer(max_epochs=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, accelerator="cpu").fit(model, datamodule=data)

    start_training(model)
    train = data.datasets["train"]
    sums, counts = np.zeros((24, 2)), np.zeros(24)
    for i in range(0, len(train) - len(train) % 16):  # the training loader's windows (drop_last)
        x = data.scaled[i: i + 48]
        normed = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
        np.add.at(sums, (i + np.arange(48)) % 24, normed)
        np.add.at(counts, (i + np.arange(48)) % 24, 1)
    np.testing.assert_allclose(model.network.cycle.values.detach().numpy(), sums / counts[:, None], atol=1e-5)
    with torch.no_grad():  # a pattern already learned is not reset when training goes on
        model.network.cycle.values.add_(1.0)
    learned = model.network.cycle.values.detach().clone()
    start_training(model)
    torch.testing.assert_close(model.network.cycle.values.detach(), learned)


def test_cycle_forecasts_what_a_short_lookback_cannot_tell():
    """A daily pattern seen through a 6-hour lookback: the learned cycle, placed by each window's first row,
    knows the hours ahead; without it the model must guess the phase from six noisy values."""
    rng = np.random.default_rng(0)
    pattern, t = rng.normal(size=24), np.arange(1200)
    table = pd.DataFrame({"date": pd.date_range("2022-03-01", periods=len(t), freq="h"),
                          "OT": pattern[t % 24] + rng.normal(0, 0.2, len(t))})
    errors = {}
    for cycle in (None, 24):
        data = CSVDataModule(table, lookback=6, horizon=12, batch_size=32)
        model = Forecaster(channels=1, lookback=6, horizon=12, encoder=TINY, patch_len=2, stride=2,
                           learning_rate=1e-2, cycle=cycle)
        errors[cycle] = fit(model, data, epochs=4)["test_mse"]
    assert errors[24] < 0.8 * errors[None]


def test_future_index_without_timestamps():
    from titans_seq.tasks import future_index

    assert list(future_index(None, 3)) == [0, 1, 2]
    assert list(future_index(None, 3, first_position=600)) == [600, 601, 602]
    untimed = CSVDataModule(sinusoid().drop(columns="date"), time_column=None, lookback=48, horizon=12)
    model = Forecaster(channels=2, lookback=48, horizon=12, model="dlinear")
    assert list(model.forecast(untimed).index) == list(range(600, 612))  # the rows after the data's 600
    daily = pd.date_range("2024-01-01", periods=10, freq="D")
    assert future_index(pd.DatetimeIndex(daily), 2)[0] == pd.Timestamp("2024-01-11")
    # No inferable frequency (a gap): the median step, whatever the index's resolution (it was read as ns).
    gappy = pd.DatetimeIndex(["2020-01-01 00:10", "2020-01-01 00:20", "2020-01-01 00:30", "2020-01-01 02:10",
                              "2020-01-01 02:20"])
    for unit in ("s", "us", "ns"):
        assert list(future_index(gappy.as_unit(unit), 2)) == [pd.Timestamp("2020-01-01 02:30"),
                                                              pd.Timestamp("2020-01-01 02:40")]


def test_an_encoder_given_as_a_dict_changes_only_its_fields_of_the_default():
    from titans_seq.tasks.forecaster import FORECAST_ENCODER

    forecaster = Forecaster(channels=2, lookback=32, horizon=8, encoder={"dim": 32, "depth": 1})
    assert forecaster.encoder_config == dataclasses.replace(FORECAST_ENCODER, dim=32, depth=1)
    with pytest.raises(ValueError, match="unknown TitansConfig field"):
        Forecaster(channels=2, encoder={"width": 32})
