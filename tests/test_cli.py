"""The titans-seq command line: shipped configs, fit / test / predict end to end, clear errors."""

import dataclasses
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from titans_seq.cli import CONFIGS, PredictionWriter, main
from titans_seq.data import reverse_complement
from titans_seq.tasks import Forecaster
from titans_seq.tasks.classifier import DNA_ENCODER
from titans_seq.tasks.forecaster import FORECAST_ENCODER

TRAINER = {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2, "accelerator": "cpu", "devices": 1,
           "precision": "bf16-mixed", "enable_progress_bar": False}
SMALL_ENCODER = {"variant": "mag", "dim": 16, "depth": 1, "heads": 2, "window": 8, "causal": False,
                 "memory_chunk": 2, "persistent_tokens": 2, "ff_mult": 2.0}


def run(args, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(args)
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
    return code, *capsys.readouterr()


def test_configs_are_listed_and_all_parse(capsys):
    code, out, _ = run(["configs"], capsys)
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert code == 0 and all(name in out for name in names)
    assert {"ETTh1", "ETTh2", "ETTm1", "ETTm2", "weather", "gb_human_nontata_promoters"} <= set(names)
    assert len([n for n in names if n.startswith("gb_")]) == 9
    for name in names:
        code, out, err = run(["fit", "--config", str(CONFIGS / f"{name}.yaml"), "--print_config"], capsys)
        assert code == 0, err
        assert "class_path: titans_seq." in out
    code, out, _ = run(["configs", "ETTh1"], capsys)
    assert "ETTDataModule" in out


def test_the_command_line_reads_its_own_arguments_without_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["titans-seq", "fit", "--config", str(CONFIGS / "ETTh1.yaml"), "--print_config"])
    with warnings.catch_warnings(record=True) as caught, pytest.raises(SystemExit) as stop:
        warnings.simplefilter("always")
        main()
    assert stop.value.code in (None, 0) and "class_path: titans_seq." in capsys.readouterr().out
    assert not [w for w in caught if "args parameter" in str(w.message)]  # Lightning's warning for given args


class Mine(Forecaster):
    """A user's subclass."""


def write_config(path, model, data):
    path.write_text(yaml.safe_dump({"seed_everything": 0, "trainer": TRAINER, "model": model, "data": data}))
    return str(path)


def forecast_config(folder, cycle=None) -> str:
    """A small forecaster's config over an hourly CSV of two channels in ``folder``."""
    t = np.arange(600)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=600, freq="h"), "a": 10 + np.sin(t / 4),
                  "OT": 20 + np.cos(t / 6)}).to_csv(folder / "series.csv", index=False)
    return write_config(
        folder / "forecast.yaml",
        {"class_path": "titans_seq.tasks.Forecaster",
         "init_args": {"lookback": 32, "horizon": 8, "patch_len": 8, "stride": 8, "encoder": SMALL_ENCODER,
                       "cycle": cycle}},
        {"class_path": "titans_seq.data.CSVDataModule",
         "init_args": {"data": str(folder / "series.csv"), "lookback": 32, "horizon": 8, "batch_size": 16}},
    )


@pytest.mark.parametrize("cycle", [None, 24])
def test_forecasting_fit_test_predict(tmp_path, monkeypatch, capsys, windows_read, cycle):
    monkeypatch.chdir(tmp_path)
    config = forecast_config(tmp_path, cycle)
    assert run(["fit", "--config", config, "--data.init_args.validation_limit", "5"], capsys)[0] == 0
    # Three batches of 16 an epoch (limit_train_batches), and as many for the cycle's start, which read all 23.
    assert len(windows_read[0]) == (2 if cycle else 1) * 3 * 16
    # Of the 53 validation windows (rows 388-479), 5 evenly spaced, in the sanity check and the epoch.
    assert sorted(windows_read[388]) == sorted(2 * [i * 53 // 5 for i in range(5)])
    checkpoints = list(tmp_path.glob("lightning_logs/**/*.ckpt"))
    assert checkpoints and list(tmp_path.glob("lightning_logs/**/metrics.csv"))
    assert list(tmp_path.glob("lightning_logs/**/events.out.tfevents.*"))
    assert [p.name for p in (tmp_path / "lightning_logs" / "lightning_logs").iterdir()] == ["version_0"]  # one a run
    if cycle:  # the command line starts the pattern from the training data, as the benchmark does
        pattern = torch.load(checkpoints[0], weights_only=False)["state_dict"]["network.cycle.values"]
        assert pattern.shape == (cycle, 2) and pattern.abs().sum() > 0
    code, _, err = run(["test", "--config", config, "--ckpt_path", str(checkpoints[0])], capsys)
    assert code == 0, err
    # The encoder's fields as a mapping change the checkpoint's encoder (they replaced it by the default's: dim 64).
    code, _, err = run(["test", "--config", config, "--ckpt_path", str(checkpoints[0]),
                        "--model.init_args.encoder", '{"dropout": 0.3}'], capsys)
    assert code == 0, err
    code, _, err = run(["test", "--config", config, "--ckpt_path", str(checkpoints[0]),
                        "--data.init_args.horizon", "4"], capsys)
    assert code == 1 and "the model's horizon is 8 but the data's is 4" in err
    code, out, err = run(["predict", "--config", config, "--ckpt_path", str(checkpoints[0]),
                          "--predictions", "forecast.csv"], capsys)
    assert code == 0, err
    assert "wrote 8 rows of predictions to forecast.csv" in out
    forecast = pd.read_csv(tmp_path / "forecast.csv", index_col=0, parse_dates=True)
    assert list(forecast.columns) == ["a", "OT"] and len(forecast) == 8
    assert forecast.index.name == "date"  # the header named no index column: it read back as 'Unnamed: 0'
    # A checkpoint of a model made in Python: the CLI refused it ('encoder.variant' is not accepted), its settings
    # lacking the _class_path that the CLI's own models record.
    made = Forecaster(channels=2, lookback=32, horizon=8, encoder=SMALL_ENCODER)
    assert made.hparams["_class_path"] == "titans_seq.tasks.Forecaster"
    # A subclass of the user's, which its package does not export, by its module's own name (not 'tests.Mine').
    assert Mine(channels=2, lookback=32, horizon=8, model="dlinear").hparams["_class_path"] == f"{__name__}.Mine"
    trainer = L.Trainer(logger=False, accelerator="cpu")
    trainer.strategy.connect(made)
    trainer.save_checkpoint(tmp_path / "made.ckpt")
    code, _, err = run(["test", "--config", config, "--ckpt_path", str(tmp_path / "made.ckpt")], capsys)
    assert code == 0, err
    code, _, err = run(["test", "--config", config], capsys)  # no checkpoint: an untrained model, said so
    assert code == 0 and "warning: no --ckpt_path: test reads the model as the config makes it, untrained" in err
    assert forecast.index[0] == pd.Timestamp("2024-01-26 00:00:00")  # the hour after the last row
    assert 15 < forecast["OT"].mean() < 25  # original units


def test_dna_fit_and_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = [("".join(rng.choice(list("ACGT"), 40)), "yes" if i % 2 else "no") for i in range(120)]
    pd.DataFrame(rows, columns=["sequence", "label"]).to_csv(tmp_path / "dna.csv", index=False)
    config = write_config(
        tmp_path / "dna.yaml",
        {"class_path": "titans_seq.tasks.SequenceClassifier", "init_args": {"encoder": SMALL_ENCODER}},
        {"class_path": "titans_seq.data.SequenceCSVDataModule",
         "init_args": {"path": str(tmp_path / "dna.csv"), "batch_size": 16}},
    )
    assert run(["fit", "--config", config, "--trainer.default_root_dir", "runs"], capsys)[0] == 0
    assert not (tmp_path / "lightning_logs").exists()  # logs, checkpoints and config follow the root given
    assert list(tmp_path.glob("runs/lightning_logs/lightning_logs/version_0/config.yaml"))
    assert list(tmp_path.glob("runs/lightning_logs/tensorboard/version_0/events.out.tfevents.*"))
    saved = yaml.safe_load(next(tmp_path.glob("runs/**/config.yaml")).read_text())  # a rerun from it goes elsewhere
    assert [logger["init_args"]["save_dir"] for logger in saved["trainer"]["logger"]] == ["lightning_logs"] * 2
    checkpoint = next(tmp_path.glob("runs/lightning_logs/**/*.ckpt"))
    code, _, err = run(["predict", "--config", config, "--ckpt_path", str(checkpoint)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert list(predictions.columns) == ["id", "label", "predicted", "p_no", "p_yes"] and len(predictions) == 24
    assert np.allclose(predictions[["p_no", "p_yes"]].sum(axis=1), 1, atol=1e-4)
    code, _, err = run(["predict", "--config", config, "--ckpt_path", str(checkpoint), "--predictions", "first.csv",
                        "--trainer.limit_predict_batches", "2", "--data.init_args.batch_size", "8"], capsys)
    assert code == 0, err
    assert pd.read_csv(tmp_path / "first.csv").equals(predictions.iloc[:16])
    # New sequences without labels, from a FASTA file: before, predict classified only the labelled test split.
    (tmp_path / "new.fa").write_text(">first\n" + "ACGT" * 10 + "\n>second\n" + "GGCC" * 12 + "\n")
    code, _, err = run(["predict", "--config", config, "--ckpt_path", str(checkpoint), "--predictions", "new.csv",
                        "--data.init_args.predict_path", "new.fa"], capsys)
    assert code == 0, err
    new = pd.read_csv(tmp_path / "new.csv")
    assert list(new.columns) == ["id", "predicted", "p_no", "p_yes"] and new["id"].tolist() == ["first", "second"]
    # A model field given on the command line wins over the checkpoint's: rc_average was silently the checkpoint's.
    forward = "".join(rng.choice(list("ACGT"), 40))
    (tmp_path / "strands.fa").write_text(f">forward\n{forward}\n>reverse\n{reverse_complement(forward)}\n")
    whole = '--model={"class_path": "titans_seq.tasks.SequenceClassifier", "init_args": {"rc_average": true}}'
    for rc_average in ("false", "true", "--model.init_args.rc_average=true", whole):
        given = [rc_average] if rc_average.startswith("--") else ["--model.init_args.rc_average", rc_average]
        code, _, err = run(["predict", "--config", config, "--ckpt_path", str(checkpoint), *given, "--predictions",
                            "strands.csv", "--data.init_args.predict_path", "strands.fa"], capsys)
        assert code == 0, err
        strands = pd.read_csv(tmp_path / "strands.csv")["p_yes"]
        assert (strands[0] == pytest.approx(strands[1], abs=1e-6)) == (rc_average != "false")


@pytest.mark.parametrize("in_file", [False, True])
@pytest.mark.parametrize(("model", "default"), [("Forecaster", FORECAST_ENCODER), ("SequenceClassifier", DNA_ENCODER)])
def test_setting_one_encoder_field_keeps_the_others_of_the_default(tmp_path, capsys, model, default, in_file):
    """On the command line or in the config file: ``encoder`` holds the fields to change in the task's default."""
    model_config = {"class_path": f"titans_seq.tasks.{model}", "init_args": {"encoder": {"dim": 32}} if in_file else {}}
    config = write_config(tmp_path / "partial.yaml", model_config,
                          {"class_path": "titans_seq.data.CSVDataModule", "init_args": {"data": "series.csv"}})
    flag = [] if in_file else ["--model.init_args.encoder.dim", "32"]
    code, out, err = run(["fit", "--config", config, *flag, "--print_config"], capsys)
    assert code == 0, err
    module = getattr(importlib.import_module("titans_seq.tasks"), model)
    given = yaml.safe_load(out)["model"]["init_args"]
    given.pop("channels", None), given.pop("classes", None)
    assert module(**{"channels": 2} if model == "Forecaster" else {"classes": 2}, **given).encoder_config == \
        dataclasses.replace(default, dim=32)


def test_clear_errors_not_tracebacks(tmp_path, capsys):
    config = str(CONFIGS / "ETTh1.yaml")
    code, _, err = run(["fit", "--config", config, "--model.init_args.learning_rte", "0.1"], capsys)
    assert code == 2 and "learning_rte" in err and "Traceback" not in err
    code, _, err = run(["fit", "--config", config, "--model.init_args.lookback", "many"], capsys)
    assert code == 2 and "lookback" in err and "Traceback" not in err
    for option, value in (("loss", "msa"), ("lr_schedule", "step")):  # checked while parsing, choices named
        code, _, err = run(["fit", "--config", config, f"--model.init_args.{option}", value], capsys)
        assert code == 2 and option in err and value in err and "Traceback" not in err
    code, _, err = run(["fit", "--config", str(CONFIGS / "gb_human_nontata_promoters.yaml"),
                        "--model.init_args.pooling", "max"], capsys)
    assert code == 2 and "pooling" in err and "'cls'" in err and "Traceback" not in err
    code, _, err = run(["fit", "--config", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "missing.yaml" in err
    code, _, err = run(["fit", "--config", config, "--data.init_args.path", str(tmp_path / "nowhere.csv"),
                        "--data.init_args.verify", "false", "--trainer.fast_dev_run", "1"], capsys)
    assert code == 1 and "error: ETTh1: no file at the given path" in err
    code, _, err = run(["configs", "ETTh9"], capsys)
    assert code == 1 and "no config named 'ETTh9'" in err


def test_a_run_stopped_by_its_input_leaves_no_log_folders(tmp_path, monkeypatch, capsys):
    """Lightning makes the loggers' version folders before the DataModule's and the model's setup: a missing or bad
    CSV, data that do not fit the model and a missing checkpoint each left lightning_logs/*/version_N behind (with
    the run's config.yaml), and the next run became version_1. A predictions path under a file failed with a
    traceback after the whole prediction run."""
    monkeypatch.chdir(tmp_path)
    config = forecast_config(tmp_path)
    series = pd.read_csv(tmp_path / "series.csv")
    series.loc[300, "a"] = np.nan
    series.to_csv(tmp_path / "nan.csv", index=False)
    (tmp_path / "afile").write_text("x")
    for args, message in (
            (["fit", "--data.init_args.data", str(tmp_path / "missing.csv")], "no CSV file at"),
            (["fit", "--data.init_args.data", str(tmp_path / "nan.csv")], "nan at row 300"),
            (["fit", "--data.init_args.horizon", "4"], "the model's horizon is 8 but the data's is 4"),
            (["test", "--ckpt_path", str(tmp_path / "nope.ckpt")], "no checkpoint at --ckpt_path"),
            (["predict", "--predictions", "afile/forecast.csv"], "lies under .*afile, which is a file"),
            (["predict", "--predictions", ""], "the predictions path is empty")):
        code, _, err = run([args[0], "--config", config, *args[1:]], capsys)
        assert code == 1 and re.search(f"error: .*{message}", err) and "Traceback" not in err, err
        assert not (tmp_path / "lightning_logs").exists(), args


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a tmpfs at /dev/shm")
def test_a_checkpoint_is_renamed_into_place_where_tmpdir_is_another_filesystem(tmp_path, monkeypatch, capsys):
    """Lightning wrote each checkpoint to a temporary file in $TMPDIR and moved it: from a tmpfs that is a copy, and
    one interrupted halfway left a checkpoint cut short under its final name."""
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the test's folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", "/dev/shm")

    def copy_half_then_stop(source, target, *args, **kwargs):
        with open(source, "rb") as read, open(target, "wb") as write:
            write.write(read.read(os.path.getsize(source) // 2))
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_stop)
    code, _, err = run(["fit", "--config", forecast_config(tmp_path)], capsys)
    assert code == 0, err
    checkpoints = list(tmp_path.glob("lightning_logs/**/*.ckpt"))
    assert len(checkpoints) == 1 and torch.load(checkpoints[0], weights_only=True)["state_dict"]


class FolderLogger(CSVLogger):
    """A user's logger that chooses its own folder: it takes no save_dir argument."""

    def __init__(self, folder: str = "mine"):
        super().__init__(save_dir=folder)


def test_a_logger_of_the_users_without_a_save_dir_trains(tmp_path, monkeypatch, capsys):
    """Before, every logger given was read for its save_dir, and one without that argument (Lightning's
    CometLogger, a user's own) stopped the run with a KeyError traceback."""
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=300, freq="h"),
                  "OT": np.sin(np.arange(300) / 4)}).to_csv(tmp_path / "series.csv", index=False)
    config = {"seed_everything": 0,
              "trainer": {**TRAINER, "logger": [{"class_path": f"{__name__}.FolderLogger"}]},
              "model": {"class_path": "titans_seq.tasks.Forecaster",
                        "init_args": {"lookback": 16, "horizon": 4, "patch_len": 8, "stride": 8,
                                      "encoder": SMALL_ENCODER}},
              "data": {"class_path": "titans_seq.data.CSVDataModule",
                       "init_args": {"data": "series.csv", "lookback": 16, "horizon": 4, "batch_size": 16}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run(["fit", "--config", "c.yaml", "--trainer.default_root_dir", "runs"], capsys)
    assert code == 0, err
    assert list(tmp_path.glob("mine/**/*.ckpt")) and list(tmp_path.glob("mine/**/metrics.csv"))


class PreparedData(L.LightningDataModule):
    """A user's DataModule in Lightning's documented pattern: prepare_data writes the file that setup reads, and
    setup asks the trainer for the process's rank."""

    def prepare_data(self):
        t = torch.arange(200.0)
        torch.save(torch.stack([torch.sin(t / 4), torch.cos(t / 6)], 1), "series.pt")

    def setup(self, stage):
        series = torch.load("series.pt")[self.trainer.global_rank:]
        windows = series.unfold(0, 24, 1).transpose(1, 2)
        self.windows = TensorDataset(windows[:, :16], windows[:, 16:])

    def train_dataloader(self):
        return DataLoader(self.windows, batch_size=16)

    val_dataloader = train_dataloader


def test_a_datamodule_of_the_users_is_set_up_by_lightning_alone(tmp_path, monkeypatch, capsys):
    """The early setup that keeps a run stopped by its input from making log folders called a user's DataModule's
    setup before Lightning had run its prepare_data or attached the trainer: no such file, or no trainer."""
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.yaml",
                          {"class_path": "titans_seq.tasks.Forecaster",
                           "init_args": {"channels": 2, "lookback": 16, "horizon": 8, "patch_len": 8, "stride": 8,
                                         "encoder": SMALL_ENCODER}},
                          {"class_path": f"{__name__}.PreparedData"})
    code, _, err = run(["fit", "--config", config], capsys)
    assert code == 0, err
    assert list(tmp_path.glob("lightning_logs/**/*.ckpt"))


def test_predictions_are_written_by_a_single_process_only():
    """In a distributed run each process predicts its share; one of them writing the whole file would be wrong."""
    writer = PredictionWriter("forecast.csv")
    writer.setup(SimpleNamespace(world_size=1), None, "predict")
    with pytest.raises(ValueError, match="one CSV from one process, but this run has 2"):
        writer.setup(SimpleNamespace(world_size=2), None, "predict")


def test_a_predictions_path_that_is_a_folder_is_refused_before_predicting(tmp_path):
    """The writer is made before predict runs; before, the folder failed the write after the whole run."""
    with pytest.raises(ValueError, match=f"the predictions path {tmp_path} is a folder; give a file's path"):
        PredictionWriter(str(tmp_path))


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "titans_seq", "--help"], capture_output=True, text=True, check=True)
    assert "fit" in out.stdout and "predict" in out.stdout


def test_listing_configs_into_a_reader_that_stops_early_is_quiet():
    """``titans-seq configs | head -1``: the reader closes the pipe; the listing stops without a traceback."""
    child = subprocess.Popen([sys.executable, "-m", "titans_seq", "configs", "ETTh1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()  # before the child, still importing, writes anything
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0 and b"BrokenPipeError" not in err, err.decode()
