"""The part every DataModule here shares: train / validation / test loaders over ``self.datasets``."""

from __future__ import annotations

import warnings

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from titans_seq._checks import positive_int

__all__ = ["EvaluationShard", "SplitDataModule"]


class EvaluationShard(DistributedSampler):
    """One process's share of an evaluation set in a distributed run: every ``num_replicas``-th example from its
    rank, without the repeats a ``DistributedSampler`` pads the shares with, so that across processes each example
    is evaluated exactly once (the metrics sum their states over processes)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self):
        return iter(range(self.rank, self.total_size, self.num_replicas))


class SplitDataModule(L.LightningDataModule):
    """Loaders for the ``"train"``, ``"val"`` and ``"test"`` entries of ``self.datasets``: the training
    loader shuffles (seeded by ``self.seed`` when set) and, with ``drop_last_train``, drops a last
    partial batch, unless it is the only one (dropping it would leave nothing to train on);
    validation and test keep every example, in order, and in a distributed run each process evaluates its
    :class:`EvaluationShard` (unless the split has fewer examples than processes). With ``validation_limit``,
    validation reads at most that many examples, those :meth:`validation_subset` picks."""

    drop_last_train = False
    seed: int | None = None
    collate = None  # how a loader makes a batch of examples (None: PyTorch's default, which stacks them)

    def __init__(self, validation_limit: int | None = None):
        super().__init__()
        self.validation_limit = None if validation_limit is None else positive_int("validation_limit", validation_limit)

    def _loader(self, split: str, train: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if train and self.seed is not None else None
        dataset = self.datasets[split]
        limit = self.validation_limit
        if split == "val" and limit is not None and len(dataset) > limit:
            dataset = Subset(dataset, self.validation_subset(len(dataset), limit))
        drop_last = train and self.drop_last_train and len(dataset) >= self.batch_size
        # Lightning shards training itself; for evaluation it would pad the shares with repeated examples. A set
        # smaller than the processes keeps that padding: a process with nothing to evaluate stops the run.
        sampler = None
        processes = self.trainer.world_size if self.trainer is not None else 1
        if not train and processes > 1 and len(dataset) >= processes:
            sampler = EvaluationShard(dataset, processes, self.trainer.global_rank)
        elif not train and processes > 1:
            warnings.warn(f"the {split} split has {len(dataset)} examples for {processes} processes: some are "
                          f"evaluated twice, so its metrics are not exactly those of one process", stacklevel=2)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=train, generator=generator, sampler=sampler,
                          drop_last=drop_last, num_workers=self.num_workers, collate_fn=self.collate)

    def validation_subset(self, size: int, limit: int) -> list[int]:
        """The ``limit`` examples of the validation split's ``size`` that a limited validation reads: evenly spaced
        over the split (for a series, over its time); all of them where ``limit`` is not below ``size``."""
        limit = min(limit, size)
        return (np.arange(limit) * size // limit).tolist()

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
