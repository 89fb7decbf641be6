"""The evaluation loss as a metric, and evaluation state kept in full precision, for both LightningModules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["FullPrecisionEvaluation", "MeanLoss", "float32_default"]


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


@contextmanager
def float32_default() -> Iterator[None]:
    """Tensors made inside are float32 by default, also within Lightning's ``trainer.init_module()`` under a half
    precision, which makes the default bfloat16: for the evaluation state that :class:`FullPrecisionEvaluation`
    then keeps in the dtype it was made in."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _moving_only(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn`` (what ``Module.to``, ``.cuda``, ``.half`` apply to each tensor) with its device change and without its
    dtype change."""
    def move(tensor: Tensor) -> Tensor:
        moved = fn(tensor)
        return moved if moved.dtype == tensor.dtype else tensor.to(moved.device)
    return move


class FullPrecisionEvaluation:
    """Mixin for a LightningModule whose evaluation state, the submodules and buffers named in ``full_precision``
    (made under :func:`float32_default`), follows the module's device but keeps its own dtype.

    Lightning's ``precision="bf16-true"`` casts the whole module to bfloat16 (``module.to(dtype=...)``), and
    torchmetrics' states with it (its guard covers ``.half()``, not ``.to``). A bfloat16 state has 8 significant
    bits: a running sum of squared errors rounds at every batch, a count of examples stops counting by ones beyond
    256, and a scaler's mean of 1000 is off by up to 4, so the metrics that early stopping, the best checkpoint and
    the reported tables read would drift. The metrics' inputs are cast to float32 where they are updated."""

    full_precision: tuple[str, ...] = ()

    def _apply(self, fn, recurse=True):
        keep = _moving_only(fn)
        if recurse:
            for name, module in self.named_children():
                module._apply(keep if name in self.full_precision else fn)
        kept = {name: tensor for name, tensor in self._buffers.items()
                if name in self.full_precision and tensor is not None}
        super()._apply(fn, recurse=False)
        for name, tensor in kept.items():
            self._buffers[name] = keep(tensor)
        return self
