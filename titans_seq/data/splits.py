"""The part every DataModule here shares: train / validation / test loaders over ``self.datasets``."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

__all__ = ["SplitDataModule"]


class SplitDataModule(L.LightningDataModule):
    """Loaders for the ``"train"``, ``"val"`` and ``"test"`` entries of ``self.datasets``: the training
    loader shuffles (seeded by ``self.seed`` when set) and, with ``drop_last_train``, drops a last
    partial batch, unless it is the only one (dropping it would leave nothing to train on);
    validation and test keep every example, in order."""

    drop_last_train = False
    seed: int | None = None

    def _loader(self, split: str, train: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if train and self.seed is not None else None
        dataset = self.datasets[split]
        drop_last = train and self.drop_last_train and len(dataset) >= self.batch_size
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=train, generator=generator,
                          drop_last=drop_last, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
