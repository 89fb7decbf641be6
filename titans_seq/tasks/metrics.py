"""The evaluation loss as a metric, for both LightningModules."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["MeanLoss"]


class MeanLoss(Metric):
    """The mean of per-batch losses weighted by their batches' example counts: the loss over all examples, also
    summed over the processes of a distributed run. A NaN loss makes it NaN, so that a run that diverged does not
    look finished. (torchmetrics' ``MeanMetric`` drops NaN, or with ``nan_strategy="disable"`` ignores the
    weights, in torchmetrics 1.9.)"""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, loss: Tensor, examples: int) -> None:
        """Add a batch's mean ``loss`` over its ``examples``."""
        self.total += loss.detach().to(self.total.dtype) * examples
        self.count += examples

    def compute(self) -> Tensor:
        return self.total / self.count
