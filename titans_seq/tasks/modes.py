"""Inference outside a ``Trainer``: a module in evaluation mode for a block, its mode put back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["evaluation_mode"]


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in evaluation mode (dropout off) inside the block; the former mode of each of its submodules
    restored after, also on error.

    ``trainer.fit`` leaves a LightningModule in training mode, so a method that forecasts or classifies
    by itself after training must switch, or its answers would be random draws of the dropout.
    """
    modes = [(part, part.training) for part in module.modules()]  # each part's own: a frozen one stays frozen
    module.eval()
    try:
        yield
    finally:
        for part, training in modes:  # parents first, so each part's own call comes after its parent's
            part.train(training)
