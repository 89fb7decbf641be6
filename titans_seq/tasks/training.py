"""Training with the best validation checkpoint kept: what the demo, the estimators and the benchmarks share."""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from titans_seq._checks import native
from titans_seq._io import replacing

__all__ = ["CheckpointReplacing", "attached_datamodule", "best_checkpoint_trainer", "plain_hyperparameters",
           "record_class_path"]


@contextmanager
def best_checkpoint_trainer(monitor: str, max_epochs: int, patience: int | None = None, accelerator: str = "auto",
                            progress: bool = False, weights_only: bool = False,
                            **trainer_args) -> Iterator[tuple[L.Trainer, ModelCheckpoint]]:
    """A one-device ``Trainer`` that keeps the checkpoint with the lowest ``monitor`` in a temporary folder
    (gone when the block ends) and, with ``patience``, stops when that many epochs bring no better one.

    Yields the trainer and its checkpoint callback: test the best model with
    ``trainer.test(model, datamodule=..., ckpt_path=best.best_model_path)`` inside the block.
    No logger; ``progress`` switches the progress bar and the model summary on; ``weights_only`` saves
    the weights without the optimiser state.
    """
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        best = ModelCheckpoint(dirpath=folder, monitor=monitor, mode="min", save_weights_only=weights_only)
        callbacks = [best] + ([EarlyStopping(monitor, patience=patience)] if patience is not None else [])
        trainer = L.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=1, callbacks=callbacks,
                            logger=False, enable_progress_bar=progress, enable_model_summary=progress,
                            **trainer_args)
        yield trainer, best


class CheckpointReplacing(TorchCheckpointIO):
    """Lightning's checkpoint writing, each local checkpoint written beside its name and renamed into place.

    Lightning's own writes it to a temporary file in ``$TMPDIR`` and moves it: where that is another filesystem (a
    tmpfs) the move is a copy, and an interruption left a checkpoint cut short under its final name. Remote paths
    (``s3://...``) keep Lightning's writing."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(f"storage_options is for remote paths; {path} is local")
        with replacing(path, follow_symlinks=False) as tmp:  # a last.ckpt that links to the best is replaced
            torch.save(checkpoint, tmp)


def record_class_path(module: L.LightningModule) -> None:
    """Record the module's class in its hyper-parameters as ``_class_path``, as Lightning's CLI does for the models it
    makes: ``titans-seq test/predict --ckpt_path`` reads a checkpoint's settings by it, one saved from Python too
    (``load_from_checkpoint`` ignores it)."""
    cls = type(module)
    package = cls.__module__.rpartition(".")[0]  # the public name where the package exports it (titans_seq.tasks)
    exported = package and getattr(sys.modules.get(package), cls.__qualname__, None) is cls
    module.hparams.setdefault("_class_path", f"{package if exported else cls.__module__}.{cls.__qualname__}")


def plain_hyperparameters(module: L.LightningModule) -> None:
    """The module's hyper-parameters with numpy scalars (also in lists) as the Python numbers they hold, so that its
    checkpoints load with ``weights_only`` (as the CLI reads them) and ``hparams.yaml`` stays plain YAML."""
    for name, value in module.hparams.items():
        module.hparams[name] = type(value)(map(native, value)) if isinstance(value, (list, tuple)) else native(value)


def attached_datamodule(module: L.LightningModule) -> L.LightningDataModule | None:
    """The DataModule of the trainer ``module`` runs under, or ``None`` (no trainer, or plain loaders)."""
    return getattr(module.trainer, "datamodule", None) if module._trainer is not None else None
