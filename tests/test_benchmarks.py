"""The benchmark scripts' interface that other tools rely on: their flags and the closing JSON line."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
import yaml

from titans_seq.cli import CONFIGS
from titans_seq.tasks import DNA_ENCODER, FORECAST_ENCODER

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, args: list[str], results: Path) -> tuple[dict, dict]:
    env = {**os.environ, "TITANS_SEQ_RESULTS": str(results), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (written,) = results.glob("*.json")
    return json.loads(out.stdout.strip().splitlines()[-1]), json.loads(written.read_text())


def test_genomics_closing_line_and_record(shared_data, tmp_path):
    line, record = run_benchmark("genomics.py", ["--dataset", "human_nontata_promoters", "--model", "kmer",
                                                 "--seed", "1"], tmp_path)
    assert {"dataset", "model", "accuracy", "mcc", "n_test", "seconds"} <= set(line)
    assert line["dataset"] == "human_nontata_promoters" and line["model"] == "kmer" and line["n_test"] == 1808
    assert 0.75 < line["accuracy"] < 0.95 and 0 <= line["val_accuracy"] <= 1 and 0.2 < line["val_loss"] < 0.7
    assert record["results"] == [line] and "genomics.py" in record["command"] and record["machine"]
    assert record["complete"]  # every job it was given ran


def test_genomics_cross_validation_validates_every_development_sequence_and_never_tests(shared_data, tmp_path):
    line, record = run_benchmark("genomics.py", ["--dataset", "human_nontata_promoters", "--model", "cnn", "--cv", "2",
                                                 "--epochs", "1"], tmp_path)
    assert line["cv_folds"] == 2 and line["n_dev"] == 7226 == sum(fold["n_val"] for fold in line["folds"])
    assert 0.6 < line["cv_accuracy"] < 0.95 and 0.2 < line["cv_loss"] < 0.7
    assert line["cv_accuracy"] == pytest.approx(sum(f["val_accuracy"] * f["n_val"] for f in line["folds"]) / 7226)
    assert not {"accuracy", "mcc", "n_test"} & set(line)  # the test split is not evaluated
    assert record["results"] == [line]
    (tmp_path / "parallel").mkdir()
    parallel, _ = run_benchmark("genomics.py", ["--dataset", "human_nontata_promoters", "--model", "cnn", "--cv", "2",
                                                "--epochs", "1", "--cv-jobs", "2"], tmp_path / "parallel")
    without_time = lambda folds: [{k: v for k, v in fold.items() if k != "seconds"} for fold in folds]  # noqa: E731
    assert without_time(parallel["folds"]) == without_time(line["folds"])  # folds in two processes: same numbers


@pytest.mark.parametrize("lookback", [None, 336])
def test_forecast_closing_line_and_record(shared_data, tmp_path, lookback):
    # DLinear at lookback 336 with its reference code's learning-rate schedule.
    flags = [] if lookback is None else ["--lookback", str(lookback), "--lr-schedule", "halving"]
    line, record = run_benchmark("forecast.py", ["--dataset", "ETTh1", "--horizon", "96", "--model", "dlinear",
                                                 "--epochs", "1", *flags], tmp_path)
    assert {"dataset", "horizon", "model", "mse", "mae", "windows", "seconds"} <= set(line)
    # Every test window is evaluated whatever the lookback: a longer one reaches back into validation rows.
    assert (line["dataset"], line["horizon"], line["model"], line["windows"]) == ("ETTh1", 96, "dlinear", 2785)
    assert 0.3 < line["mse"] < 0.6 and record["results"][-1]["mse"] == line["mse"] and record["complete"]
    assert line["setting_epochs"] == line["epochs_run"] == 1  # the record states the settings that ran
    assert line["setting_lookback"] == (lookback or 96)
    assert line["setting_lr_schedule"] == ("cosine" if lookback is None else "halving")


def test_forecast_ensemble_scores_the_mean_of_its_members_forecasts(shared_data, tmp_path):
    line, record = run_benchmark("forecast_ensemble.py", ["--dataset", "ETTh1", "--horizons", "96", "--model",
                                                          "dlinear", "--epochs", "1", "--seeds", "1,2"], tmp_path)
    assert (line["dataset"], line["horizon"], line["ensemble_seeds"], line["windows"]) == ("ETTh1", 96, [1, 2], 2785)
    members = record["members"]
    assert [m["seed"] for m in members] == [1, 2] and record["results"] == [line] and record["complete"]
    assert line["members_mse_mean"] == pytest.approx(sum(m["mse"] for m in members) / 2)
    # Squared and absolute errors are convex: the mean forecast is no worse than the members on average,
    # and two members trained apart are not the same model, so it is strictly better here.
    assert line["mse"] < line["members_mse_mean"] and line["mae"] < line["members_mae_mean"]
    assert line["val_mse"] < sum(m["val_mse"] for m in members) / 2


# Each case: a script, flags it must refuse before any work, and what the refusal must say.
BAD_FLAGS = [
    ("genomics.py", ["--model", "transformer"], "argument --model"),
    ("genomics.py", ["--model", "cnn", "--dropout", "0.3"], "titans model takes --dropout"),
    ("genomics.py", ["--all", "--models", "kmer,cnn", "--kmer", "4"], "titans model takes --kmer"),
    ("genomics.py", ["--model", "cnn", "--kmer-linear-gain", "64"], "titans model takes --kmer-linear-gain"),
    ("genomics.py", ["--model", "cnn", "--position-linear-gain", "64"], "titans model takes --position-linear-gain"),
    ("genomics.py", ["--model", "kmer", "--cv", "5"], "--cv needs K >= 2 and neural models"),
    ("genomics.py", ["--model", "cnn", "--cv", "1"], "--cv needs K >= 2 and neural models"),
    ("genomics.py", ["--model", "cnn", "--cv-jobs", "2"], "--cv-jobs needs --cv"),
    ("genomics.py", ["--model", "cnn", "--cv", "2", "--cv-jobs", "0"], "argument --cv-jobs"),
    ("genomics.py", ["--model", "cnn", "--strand", "minus"], "argument --strand"),
    ("genomics.py", ["--model", "cnn", "--strand", "aware"], "--strand aware is for the titans model only"),
    ("forecast.py", ["--dataset", "ETTh9"], "argument --dataset"),
    ("forecast.py", ["--loss", "quantile"], "argument --loss"),
    ("forecast.py", ["--model", "dlinear", "--dropout", "0.3"], "titans model takes --dropout"),
    ("forecast.py", ["--model", "dlinear", "--channel-mixing"], "titans model takes --channel-mixing"),
    ("forecast.py", ["--model", "dlinear", "--linear-skip"], "titans model takes --linear-skip"),
    ("forecast.py", ["--model", "dlinear", "--cycle", "96"], "titans model takes --cycle"),
    ("forecast.py", ["--model", "dlinear", "--dim", "32"], "titans model takes --dim"),
    ("forecast.py", ["--model", "dlinear", "--variant", "mac"], "titans model takes --variant"),
    ("forecast.py", ["--lookback", "0"], "argument --lookback"),
    ("forecast.py", ["--head-patches", "0"], "argument --head-patches"),
    ("forecast.py", ["--lr-schedule", "step"], "argument --lr-schedule"),
    ("forecast.py", ["--model", "dlinear", "--head-patches", "12"], "titans model takes --head-patches"),
    ("forecast_ensemble.py", ["--seeds", "2021"], "--seeds needs at least two different seeds"),
    ("forecast_ensemble.py", ["--seeds", "2021,2021"], "2021 given more than once"),
    ("forecast_ensemble.py", ["--seeds", "2021,x"], "argument --seeds"),
    ("forecast_ensemble.py", ["--horizons", "96,0"], "--horizons must be positive"),
    ("forecast.py", ["--all", "--dataset", "ETTh2"], "give it no --dataset or --horizon"),
    ("forecast.py", ["--all", "--horizon", "192"], "give it no --dataset or --horizon"),
    ("forecast.py", ["--datasets", "ETTh1,ETTh2"], "--datasets chooses the datasets of --all"),
    ("forecast.py", ["--all", "--datasets", "ETTh1,ETTh9"], "argument --datasets"),
    ("genomics.py", ["--model", "kmer", "--epochs", "3"], "neural models' training, got --epochs"),
    ("genomics.py", ["--model", "kmer", "--strand", "specific"], "neural models' training, got --strand"),
    ("memory_speed.py", ["--repeats", "0"], "argument --repeats"),
    ("long_context.py", ["recall", "--eval-sequences", "0"], "argument --eval-sequences"),
    ("long_context.py", ["scale", "--variants", "lmm,rnn"], "argument --variants"),
    ("forecast.py", ["--epochs", "-1"], "argument --epochs"),
    ("forecast.py", ["--model", "dlinear", "--epochs", "0"], "argument --epochs"),
    ("forecast_ensemble.py", ["--epochs", "0"], "argument --epochs"),
    ("genomics.py", ["--long", "0"], "argument --long"),
    ("genomics.py", ["--long", "1000", "--model", "cnn"], "it takes no --model"),
    ("genomics.py", ["--long", "1000", "--cv", "3"], "it takes no --cv"),
    ("genomics.py", ["--long", "1000", "--all"], "it takes no --all"),
    ("genomics.py", ["--seeds", "1,2"], "only --all takes --seeds"),
    ("genomics.py", ["--models", "cnn"], "only --all takes --models"),
    ("genomics.py", ["--all", "--datasets", "nope"], "argument --datasets"),
    ("genomics.py", ["--all", "--models", "titans,rnn"], "argument --models"),
    ("genomics.py", ["--all", "--seeds", "1,x"], "argument --seeds"),
    ("genomics.py", ["--cv-jobs", "0"], "argument --cv-jobs"),
    ("long_context.py", ["recall", "--steps", "0"], "argument --steps"),
    ("long_context.py", ["scale", "--stream-tokens", "0"], "argument --stream-tokens"),
    # A review's: each was taken, and ran twice, did nothing, or measured nothing.
    ("forecast.py", ["--all", "--datasets", "ETTh1,ETTh1"], "ETTh1 given more than once"),
    ("forecast.py", ["--horizon", "336", "--cycle-clock", "time"], "--cycle-clock places a cycle"),
    ("genomics.py", ["--all", "--seed", "5"], "not --seed"),
    ("genomics.py", ["--patch", "100000"], "--patch must be at most 256"),
    ("genomics.py", ["--all", "--seeds", "1,1"], "1 given more than once"),
    ("long_context.py", ["scale", "--dim", "8"], "scale takes no --dim: that is recall's"),
    ("long_context.py", ["recall", "--repeats", "2"], "recall takes no --repeats: that is scale's"),
    ("long_context.py", ["recall", "--pairs", "40"], "--pairs must be at most 32"),
    ("long_context.py", ["scale", "--max-length", "100"], "--max-length must be at least 1024"),
    ("long_context.py", ["scale", "--variants", "window"], "scale measures the Titans variants"),
]


@pytest.mark.parametrize("script, args, message", BAD_FLAGS)
def test_bad_flags_fail_before_any_work(monkeypatch, capsys, script, args, message):
    # In-process: a fresh interpreter per case spent ~14 s importing torch and Lightning on a slow CPU.
    module = benchmark_module(script.removesuffix(".py"))

    def work_started(*_):
        raise AssertionError(f"{script} {' '.join(args)} got past its flag checks")

    monkeypatch.setattr(module, "resolve_device", work_started)  # the first step after the flags are checked
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2  # argparse's usage error
    assert message in capsys.readouterr().err  # refused for what it was given, by the flag's name


def test_memory_speed_without_its_peer_says_how_to_get_it(monkeypatch, capsys):
    module = benchmark_module("memory_speed")
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(module, "resolve_device", lambda *_: pytest.fail("got past its flag checks"))
    monkeypatch.setattr(sys, "argv", ["memory_speed.py"])
    with pytest.raises(SystemExit):  # it was a ModuleNotFoundError traceback
        module.main()
    assert "titans-pytorch, is not installed" in capsys.readouterr().err


def test_a_bad_setting_or_results_folder_ends_a_run_with_a_message(tmp_path, monkeypatch):
    """Tracebacks before: a device that is not here, a setting the library refuses, and a results folder that could
    not be made, found only when the finished run was written."""
    common = benchmark_module("common")
    for name, message in (("foo", "--device must be auto, cpu or cuda, got 'foo'"),
                          ("cuda:1", "--device cuda" if not torch.cuda.is_available() else "CUDA_VISIBLE_DEVICES=1")):
        with pytest.raises(ValueError, match=message):
            common.resolve_device(name)

    def refused():
        raise ValueError("learning_rate must be a positive finite number, got -1.0")

    monkeypatch.setattr(common, "RESULTS", tmp_path / "new" / "results")
    with pytest.raises(SystemExit, match="error: learning_rate must be a positive finite number"):
        common.command_line(refused)
    assert not (tmp_path / "new").exists()  # a run stopped by a bad setting made its results folder all the same
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "file" / "results")
    with pytest.raises(SystemExit, match=r"the results folder .* cannot be written to .*file, which is a file"):
        common.command_line(lambda: pytest.fail("ran before the folder was checked"))


def throwaway_repo_with_common(tmp_path, monkeypatch):
    """A git repository holding a copy of benchmarks/common.py, that copy imported, and a git runner."""
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(BENCHMARKS / "common.py", repo / "benchmarks" / "common.py")
    (repo / "model.py").write_text("x = 1\n")
    (repo / "benchmarks" / "results" / "run.json").write_text("{}\n")

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.delenv("TITANS_SEQ_COMMIT", raising=False)
    spec = importlib.util.spec_from_file_location("copied_common", repo / "benchmarks" / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    return repo, common, git


def test_the_recorded_commit_says_when_the_code_differs_from_it(tmp_path, monkeypatch):
    repo, common, git = throwaway_repo_with_common(tmp_path, monkeypatch)
    head = git("rev-parse", "HEAD")
    (repo / "benchmarks" / "results" / "run.json").write_text('{"rewritten": true}\n')
    assert common.commit() == head  # a run rewriting its results file leaves the code the commit's
    (repo / "notes.txt").write_text("not code\n")
    assert common.commit() == head
    (repo / "RESULTS.md").write_text("# a rule written while the run starts\n")
    git("add", "RESULTS.md")
    git("commit", "-qm", "notes")
    head = git("rev-parse", "HEAD")
    (repo / "RESULTS.md").write_text("# the rule, edited\n")
    assert common.commit() == head  # notes are not the code that runs
    (repo / "helper.py").write_text("y = 1\n")  # new code the run may import
    assert common.commit() == head + "+dirty"
    (repo / "helper.py").unlink()
    (repo / "model.py").write_text("x = 2\n")
    assert common.commit() == head + "+dirty"


def test_the_record_names_the_commit_the_run_started_from(tmp_path, monkeypatch):
    monkeypatch.setenv("TITANS_SEQ_RESULTS", str(tmp_path / "results"))
    repo, common, git = throwaway_repo_with_common(tmp_path, monkeypatch)
    started = git("rev-parse", "HEAD")
    (repo / "model.py").write_text("x = 2\n")  # committed while the run goes on
    git("commit", "-qam", "later")
    record = json.loads(common.save("run", common.resolve_device("cpu"), {}).read_text())
    assert record["commit"] == started != git("rev-parse", "HEAD")
    assert {"torch", "lightning", "torchmetrics", "scikit-learn"} <= set(record["versions"])


def test_records_of_the_same_second_get_their_own_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TITANS_SEQ_RESULTS", str(tmp_path / "results"))
    _, common, _ = throwaway_repo_with_common(tmp_path, monkeypatch)
    frozen = common.dt.datetime(2026, 11, 27, 4, 31, 19, tzinfo=common.dt.timezone.utc)
    monkeypatch.setattr(common.dt, "datetime", type("Frozen", (common.dt.datetime,), {"now": lambda tz=None: frozen}))
    cpu = common.resolve_device("cpu")
    paths = [common.save("run", cpu, {"seed": seed}) for seed in (1, 2, 3)]  # side-by-side runs' parallel finish
    assert [p.name for p in paths] == ["run-20261127-043119-cpu.json", "run-20261127-043119-2-cpu.json",
                                       "run-20261127-043119-3-cpu.json"]
    assert [json.loads(p.read_text())["seed"] for p in paths] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == sorted(p.name for p in paths)  # no temp files


def benchmark_module(name: str):
    """``benchmarks/<name>.py`` imported as a module (its settings tables and helpers)."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shipped_config(name: str) -> tuple[dict, dict, dict, int]:
    """A shipped config's model and data arguments, its trainer, and its early-stopping patience."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    trainer = config["trainer"]
    (patience,) = [callback["init_args"]["patience"] for callback in trainer["callbacks"]
                   if callback["class_path"].endswith("EarlyStopping")]
    return config["model"]["init_args"], config["data"]["init_args"], trainer, patience


@pytest.mark.parametrize("dataset", ["human_nontata_promoters", "human_enhancers_cohn", "drosophila_enhancers_stark"])
def test_genomics_configs_are_the_benchmarks_titans_model(dataset):
    genomics = benchmark_module("genomics")
    settings = genomics.settings_for(dataset, "titans")
    model, data, trainer, patience = shipped_config(f"gb_{dataset}")
    assert model["encoder"] == {**DNA_ENCODER.to_dict(), "dropout": settings["dropout"]}
    assert (model["learning_rate"], model["weight_decay"], model["patch"], model["kmer"],
            model.get("kmer_linear_gain", 0.0), model.get("position_linear_gain", 0.0), model["rc_average"]) == (
        settings["learning_rate"], settings["weight_decay"], settings["patch"], settings["kmer"],
        settings["kmer_linear_gain"], settings["position_linear_gain"], settings["strand"] != "specific")
    assert (model.get("strand_aware", False), data.get("rc_augment", True)) == (
        settings["strand"] == "aware", settings["strand"] == "symmetric")
    assert (trainer["max_epochs"], patience, data["batch_size"], data["max_length"], data["protocol"]) == (
        settings["epochs"], settings["patience"], settings["batch_size"], genomics.DATASETS[dataset], "local")


@pytest.mark.parametrize("dataset", ["ETTh1", "ETTh2", "ETTm1", "ETTm2", "weather"])
def test_forecast_configs_are_the_benchmarks_horizon_96(dataset):
    settings = benchmark_module("forecast").settings_for(dataset, 96, "titans")
    model, data, trainer, patience = shipped_config(dataset)
    assert model["encoder"] == {**FORECAST_ENCODER.to_dict(), "variant": settings["variant"],
                                "dropout": settings["dropout"], "dim": settings["dim"], "depth": settings["depth"]}
    assert (model["learning_rate"], model.get("lr_schedule", "cosine"), model["weight_decay"], model.get("loss", "mse"),
            model.get("channel_mixing", False), model.get("linear_skip", False), model.get("cycle"),
            model.get("head_patches"), trainer["max_epochs"], patience, data["batch_size"], data["lookback"],
            data["horizon"], model["horizon"], data.get("clock", "rows")) == (
        settings["learning_rate"], settings["lr_schedule"], settings["weight_decay"], settings["loss"],
        settings["channel_mixing"], settings["linear_skip"], settings["cycle"], settings["head_patches"],
        settings["epochs"], settings["patience"], settings["batch_size"], 96, 96, 96, settings["cycle_clock"])


def test_forecast_runs_take_their_tables_settings_and_the_flags_override_them():
    forecast = benchmark_module("forecast")
    assert forecast.settings_for("weather", 336, "titans") == {**forecast.SETTINGS["titans"], "cycle": 144}
    assert [forecast.settings_for("weather", h, "titans")["cycle_clock"] for h in forecast.HORIZONS] == [
        "time", "time", "rows", "time"]
    chosen = forecast.settings_for("ETTh2", 720, "titans")
    assert (chosen["learning_rate"], chosen["linear_skip"], chosen["epochs"]) == (1e-4, True, 5)
    flagged = forecast.settings_for("ETTh2", 720, "titans", {"linear_skip": False, "epochs": 2})
    assert (flagged["learning_rate"], flagged["linear_skip"], flagged["epochs"]) == (1e-4, False, 2)
    assert (chosen["dim"], forecast.settings_for("ETTh2", 720, "titans", {"dim": 32})["dim"]) == (64, 32)
    assert [forecast.settings_for("ETTh1", h, "titans")["dim"] for h in forecast.HORIZONS] == [64, 32, 32, 64]
    assert [forecast.settings_for("ETTh2", h, "titans")["dim"] for h in forecast.HORIZONS] == [32, 64, 64, 64]
    assert [forecast.settings_for("ETTh1", h, "titans")["loss"] for h in forecast.HORIZONS] == ["mae"] + ["mse"] * 3
    ettm1_losses = [forecast.settings_for("ETTm1", h, "titans")["loss"] for h in forecast.HORIZONS]
    assert ettm1_losses == ["mse", "huber", "huber", "mse"]
    assert forecast.settings_for("ETTm1", 96, "dlinear") == forecast.SETTINGS["dlinear"]  # Titans' choices only
    assert [forecast.settings_for("ETTm1", h, "titans")["cycle"] for h in forecast.HORIZONS] == [96, 96, 96, 96]
    assert [forecast.settings_for("ETTm2", h, "titans")["cycle"] for h in forecast.HORIZONS] == [96, 96, 96, 96]
    assert [forecast.settings_for("ETTh1", h, "titans")["cycle"] for h in forecast.HORIZONS] == [168, 168, None, 168]
    assert [forecast.settings_for("ETTh2", h, "titans")["cycle"] for h in forecast.HORIZONS] == [24, 168, 24, 24]
    assert [forecast.settings_for("weather", h, "titans")["cycle"] for h in forecast.HORIZONS] == [144, 144, 144, 144]
    assert [forecast.settings_for("weather", h, "titans")["loss"] for h in forecast.HORIZONS] == ["mse"] * 3 + ["huber"]
    at_336 = [forecast.settings_for("ETTh1", h, "titans", {"lookback": 336}) for h in forecast.HORIZONS]
    assert [s["learning_rate"] for s in at_336] == [3e-4, 3e-4, 3e-4, 3e-5]  # chosen at lookback 336 only
    assert at_336[-1]["cycle"] == 168  # on top of the horizon's own choices
    assert [s["linear_skip"] for s in at_336] == [True, True, True, True]
    assert not forecast.settings_for("ETTh1", 336, "titans")["linear_skip"]
    etth2_at_336 = [forecast.settings_for("ETTh2", h, "titans", {"lookback": 336}) for h in forecast.HORIZONS]
    assert [s["learning_rate"] for s in etth2_at_336] == [3e-4, 3e-4, 1e-4, 1e-4]
    assert etth2_at_336[2]["variant"] == "mac"
    assert [s["linear_skip"] for s in etth2_at_336] == [True, True, True, True]
    assert forecast.settings_for("ETTh1", 720, "titans")["learning_rate"] == 3e-4
    flagged_336 = forecast.settings_for("ETTh1", 720, "titans", {"lookback": 336, "learning_rate": 5e-4})
    assert flagged_336["learning_rate"] == 5e-4
    assert [forecast.settings_for("ETTh2", h, "titans")["variant"] for h in forecast.HORIZONS] == [
        "mag", "mag", "mac", "mag"]
    assert {dataset for dataset, _ in forecast.TITANS_PER_HORIZON} <= set(forecast.DATASETS)
    assert {horizon for _, horizon in forecast.TITANS_PER_HORIZON} <= set(forecast.HORIZONS)


def test_latest_runs_are_the_newest_of_each_horizon_and_seed_with_the_current_settings(tmp_path):
    forecast = benchmark_module("forecast")

    def record(name, date, horizon, seed, mse, variant=None, unlisted=(), **changes):
        settings = {**forecast.settings_for("ETTh1", horizon, "titans"), **changes}
        row = {"dataset": "ETTh1", "horizon": horizon, "model": "titans", "variant": variant, "seed": seed, "mse": mse,
               **{f"setting_{key}": value for key, value in settings.items() if key not in unlisted}}
        (tmp_path / f"forecast-titans-{name}.json").write_text(json.dumps({"date": date, "results": [row]}))

    record("old", "2026-12-01T00:00:00+00:00", 96, 2021, 0.40)
    record("new", "2026-12-02T00:00:00+00:00", 96, 2021, 0.38)
    record("other-seed", "2026-12-01T00:00:00+00:00", 96, 2022, 0.39)
    record("other-rate", "2026-12-03T00:00:00+00:00", 96, 2021, 0.30, learning_rate=1e-4)
    record("longer-input", "2026-12-03T00:00:00+00:00", 96, 2021, 0.31, lookback=336)
    record("720", "2026-12-01T00:00:00+00:00", 720, 2021, 0.50)
    # Records from before the variant and the clock were listed: the row's own variant, the clock's default.
    unlisted = ("variant", "cycle_clock")
    record("unlisted-mag", "2026-11-30T00:00:00+00:00", 720, 2022, 0.51, unlisted=unlisted)
    record("unlisted-mac", "2026-12-04T00:00:00+00:00", 720, 2021, 0.49, variant="mac", unlisted=unlisted)
    assert [(r["horizon"], r["seed"], r["mse"]) for r in forecast.latest_runs("ETTh1", tmp_path)] == [
        (96, 2021, 0.38), (96, 2022, 0.39), (720, 2021, 0.50), (720, 2022, 0.51)]
    assert forecast.latest_runs("ETTh2", tmp_path) == []


def test_genomics_overrides_reach_only_the_models_they_apply_to():
    genomics = benchmark_module("genomics")
    overrides = {"dropout": 0.2, "weight_decay": 0.05, "kmer": 4, "kmer_linear_gain": 16.0,
                 "position_linear_gain": 32.0}
    titans = genomics.settings_for("drosophila_enhancers_stark", "titans", overrides)
    cnn = genomics.settings_for("drosophila_enhancers_stark", "cnn", overrides)
    assert (titans["dropout"], titans["weight_decay"], titans["kmer"], titans["kmer_linear_gain"],
            titans["position_linear_gain"], titans["learning_rate"]) == (0.2, 0.05, 4, 16.0, 32.0, 3e-4)
    assert "dropout" not in cnn and "kmer_linear_gain" not in cnn and "position_linear_gain" not in cnn
    assert (cnn["weight_decay"], cnn["kmer"], cnn["learning_rate"]) == (0.05, 0, 1e-3)


@pytest.mark.parametrize("model_name, strand, augmented, averaged, aware", [
    ("titans", "symmetric", True, True, False), ("titans", "specific", False, False, False),
    ("titans", "aware", False, True, True), ("cnn", "symmetric", True, True, False),
    ("cnn", "specific", False, False, False)])
def test_genomics_strand_setting_reaches_training_and_inference(shared_data, model_name, strand, augmented, averaged,
                                                                aware):
    genomics = benchmark_module("genomics")
    settings = genomics.settings_for("human_nontata_promoters", model_name, {"strand": strand})
    data, model = genomics.neural_setup("human_nontata_promoters", model_name, 0, settings)
    assert (data.datasets["train"].rc_augment, model.hparams.rc_average, model.hparams.strand_aware) == (
        augmented, averaged, aware)
    assert not data.datasets["val"].rc_augment and not data.datasets["test"].rc_augment


def run_gpu_script(tmp_path, deadline: int, *extra_runs: str, speed_seconds: int = 0) -> tuple[list[str], dict]:
    """``benchmarks/gpu_run.sh`` with a stand-in ``python3`` that logs its threads and arguments (and takes
    ``speed_seconds`` in the speed benchmark), so that the script's order, deadline and archive are checked
    without a GPU. Returns the logged calls and the archive's files."""
    bin_dir, calls, out = tmp_path / "bin", tmp_path / "calls.txt", tmp_path / "out"
    bin_dir.mkdir()
    out.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(f'#!/usr/bin/env bash\necho "${{OMP_NUM_THREADS:-unset}} $*" >> {calls}\n'
                    f'case "$*" in *memory_speed.py*) sleep {speed_seconds};; esac\necho "ran: $*"\n')
    fake.chmod(0o755)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OUT": str(out), "DEADLINE": str(deadline),
           "TITANS_SEQ_COMMIT": "0" * 40, "TMPDIR": str(temporary)}
    env.pop("OMP_NUM_THREADS", None)
    subprocess.run(["bash", str(BENCHMARKS / "gpu_run.sh"), *extra_runs], cwd=BENCHMARKS.parent, env=env,
                   capture_output=True, text=True, timeout=120)
    assert not list(temporary.iterdir())  # the run's folder of logs was left in $TMPDIR, one a run
    (archive,) = out.glob("gpu_run-*.tar.gz")
    with tarfile.open(archive) as tar:
        files = {m.name.removeprefix("./"): tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    return [line for line in calls.read_text().splitlines() if "pip install" not in line], files


def test_gpu_script_splits_the_cores_between_its_forecasting_runs_and_returns_every_log(tmp_path):
    calls, files = run_gpu_script(tmp_path, 40, "--dataset weather --horizon 96 --seed 2023")
    share = max(1, len(os.sched_getaffinity(0)) // 2)  # two runs: the ETTh1 check and the one given
    forecasts = sorted(c for c in calls if "forecast.py" in c)
    assert forecasts == [f"{share} benchmarks/forecast.py --dataset ETTh1 --horizon 96 --model titans --device cuda",
                         f"{share} benchmarks/forecast.py --dataset weather --horizon 96 --seed 2023 --device cuda"]
    steps = [c.split()[1:3] for c in calls if "-c" not in c.split()[1:2]]
    assert steps[:3] == [["-m", "pytest"], ["benchmarks/memory_speed.py", "--device"],
                         ["benchmarks/long_context.py", "scale"]]
    assert {"gpu.txt", "test_cuda.log", "memory_speed_gpu.log", "long_context_scale_gpu.log", "forecast_gpu.log",
            "forecast_extra_1.log"} <= set(files)
    assert files["forecast_extra_1.log"].startswith("ran: benchmarks/forecast.py --dataset weather")


def test_gpu_script_refuses_to_run_without_the_commit_it_measures(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TITANS_SEQ_COMMIT"}
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_run.sh")], cwd=BENCHMARKS.parent, env=env,
                          capture_output=True, text=True)
    assert done.returncode != 0 and "set TITANS_SEQ_COMMIT" in done.stderr


def test_gpu_script_skips_what_the_deadline_leaves_no_time_for_and_still_returns_its_logs(tmp_path):
    calls, files = run_gpu_script(tmp_path, 6, "--dataset weather --horizon 96 --seed 2023", speed_seconds=30)
    assert any("tests/test_cuda.py" in c for c in calls) and any("memory_speed.py" in c for c in calls)
    assert not any("forecast.py" in c or "long_context.py" in c for c in calls)  # the speed benchmark used it up
    assert files["forecast_gpu.log"].startswith("skipped (deadline)")
    assert files["forecast_extra_1.log"].startswith("skipped (deadline)")


def test_memory_speed_counts_the_operations_of_a_step_and_larger_chunks_need_fewer():
    """On a GPU each operation is a kernel launch; before the chunk coefficients became a log-depth scan, their
    sweep position by position made a step at chunk 256 run more operations than one at chunk 64."""
    speed = benchmark_module("memory_speed")
    cpu = speed.torch.device("cpu")
    training = [speed.operations_per_step("titans_seq", "training", 512, chunk, cpu) for chunk in (16, 64, 256)]
    inference = speed.operations_per_step("titans_seq", "inference", 512, 64, cpu)
    assert 0 < inference < training[1]
    assert training[0] > training[1] > training[2]


@pytest.mark.slow
def test_memory_speed_times_a_compiled_module():
    """``--compile``: the module's first call compiles (inductor, about a minute on two cores), then it is timed."""
    from torch._dynamo.utils import counters

    speed = benchmark_module("memory_speed")
    cpu = speed.torch.device("cpu")
    counters.clear()
    rates = speed.compare(["titans_seq"], "training", 128, 64, False, 1, cpu, warmup=2, compile_mode="default")
    assert rates["titans_seq"]["tokens_per_s"] > 0 and len(rates["titans_seq"]["runs_s"]) == 1
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"]  # one graph, no break


def test_recall_is_evaluated_on_every_sequence_asked_for(monkeypatch):
    long_context = benchmark_module("long_context")
    drawn = []
    real = long_context.recall_batch
    monkeypatch.setattr(long_context, "recall_batch", lambda batch, *rest: drawn.append(batch) or real(batch, *rest))

    class Constant(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros(*tokens.shape, long_context.KEYS + long_context.VALUES + long_context.FILLERS)

    long_context.evaluate(Constant(), pairs=2, distance=8, sequences=70, device=torch.device("cpu"), seed=0)
    assert drawn == [64, 6]  # 70 sequences, not the 64 of whole batches (below 64: none, and a division by zero)


def test_memory_speed_alternates_which_implementation_runs_first(monkeypatch):
    memory_speed = benchmark_module("memory_speed")
    ran = []
    monkeypatch.setattr(memory_speed, "build", lambda impl, *_: impl)
    monkeypatch.setattr(memory_speed, "step", lambda module, x, mode: ran.append(module))
    monkeypatch.setattr(memory_speed, "timed", lambda run, device: run() or 1.0)
    memory_speed.compare(["ours", "peer"], "training", 8, 4, False, repeats=3, device=torch.device("cpu"))
    assert ran == ["ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]  # a warm-up round, then three


def test_the_closing_table_aligns_its_columns_and_leaves_missing_values_blank(capsys):
    common = benchmark_module("common")
    common.print_table([{"dataset": "ETTh1", "mse": 0.38214, "seconds": 61.2}, {"dataset": "weather", "mse": 0.15}],
                       {"dataset": "", "mse": ".3f", "seconds": ".0f"})
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout ends with the benchmark's JSON line
    assert captured.err.splitlines() == ["dataset    mse  seconds", "  ETTh1  0.382       61",
                                         "weather  0.150         "]
