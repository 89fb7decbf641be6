"""A distributed run evaluates each window and sequence exactly once: two CPU processes (gloo) give the metrics of
one. Lightning's own sampler would pad the processes' shares with repeated examples. The processes are forked:
spawned ones would receive the metrics' CPU states in shared memory and add into each other's."""

import warnings
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from titans_seq.data import CSVDataModule, SequenceCSVDataModule
from titans_seq.data.splits import EvaluationShard
from titans_seq.layers import TitansConfig
from titans_seq.tasks import Forecaster, SequenceClassifier

SMALL = TitansConfig(variant="mag", dim=16, depth=1, heads=2, window=8, causal=False, memory_chunk=4)


def forecasting(tmp_path):
    t = np.arange(701)  # 133 test windows: shares of 67 and 66
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=len(t), freq="h"), "a": np.sin(t / 4),
                          "OT": np.cos(t / 6)})
    return (Forecaster(channels=2, lookback=32, horizon=8, model="dlinear"),
            CSVDataModule(frame, lookback=32, horizon=8, batch_size=16))


def classification(tmp_path):
    rng = np.random.default_rng(0)
    rows = [("".join(rng.choice(list("ACGT"), 24)), "yes" if i % 3 else "no") for i in range(151)]
    pd.DataFrame(rows, columns=["sequence", "label"]).to_csv(tmp_path / "dna.csv", index=False)
    return (SequenceClassifier(classes=2, encoder=SMALL, max_length=24),
            SequenceCSVDataModule(path=tmp_path / "dna.csv", batch_size=8, max_length=24))


@pytest.fixture
def one_thread(monkeypatch):
    """One thread for torch, in this process and so in the forked ones: a forked process that runs more hangs, as
    GNU OpenMP does not survive a fork after the parent (the one-process run) has run a parallel region. Lightning,
    where the variable is unset, gives each process the cores divided among them, two or more on four cores."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("task", [forecasting, classification])
def test_two_processes_evaluate_every_example_once(task, tmp_path, one_thread):
    metrics = []
    for devices in (1, 2):
        torch.manual_seed(0)
        model, data = task(tmp_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp_fork" if devices > 1 else "auto",
                                logger=False, enable_progress_bar=False, enable_model_summary=False)
            metrics.append(trainer.test(model, datamodule=data, verbose=False)[0])
    assert metrics[1] == pytest.approx(metrics[0], rel=1e-5)


def test_a_split_smaller_than_the_processes_keeps_lightnings_padding():
    """A process with no example would stop the run; a warning says the metrics count some examples twice."""
    _, data = forecasting(None)
    data.setup()
    data.trainer = SimpleNamespace(world_size=2, global_rank=1)
    assert isinstance(data.test_dataloader().sampler, EvaluationShard)
    data.datasets["test"] = torch.utils.data.Subset(data.datasets["test"], [0])
    with pytest.warns(UserWarning, match="the test split has 1 examples for 2 processes"):
        assert not isinstance(data.test_dataloader().sampler, EvaluationShard)


def test_evaluation_shards_partition_the_examples():
    shards = [EvaluationShard(range(11), 3, rank) for rank in range(3)]
    assert [len(shard) for shard in shards] == [4, 4, 3]
    assert sorted(index for shard in shards for index in shard) == list(range(11))
