"""Inference outside a ``Trainer``: a module in evaluation mode for a block, its mode put back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["evaluation_mode"]


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in evaluation mode (dropout off) inside the block; its former mode restored after, also on error.

    ``trainer.fit`` leaves a LightningModule in training mode, so a method that forecasts or classifies
    by itself after training must switch, or its answers would be random draws of the dropout.
    """
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)
