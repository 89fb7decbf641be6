"""The optimiser both LightningModules use."""

from __future__ import annotations

import math
from typing import Literal, get_args

import lightning as L
import torch

from titans_seq._checks import nonnegative_number, positive_number

# "cosine": annealed to zero along a cosine over the epochs; "halving": the schedule of the LTSF-Linear and
# Time-Series-Library reference code (their ``lradj="type1"``), which published DLinear and the baselines of its
# era. That code sets the rate for epoch e + 1 after epoch e to ``lr * 0.5 ** (e - 1)`` (e from 1), so its first
# two epochs run at the full rate and each later one at half the rate before it.
LRSchedule = Literal["cosine", "halving"]
LR_SCHEDULES = get_args(LRSchedule)


def check_lr_schedule(schedule: str) -> None:
    """Raise a ValueError naming ``lr_schedule`` unless ``schedule`` is one of ``LR_SCHEDULES``."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")


def check_optimizer(learning_rate: float, weight_decay: float, schedule: str) -> None:
    """Raise a ValueError naming the argument unless ``learning_rate`` is a positive finite number,
    ``weight_decay`` a finite number >= 0 and ``schedule`` one of ``LR_SCHEDULES``."""
    positive_number("learning_rate", learning_rate)
    nonnegative_number("weight_decay", weight_decay)
    check_lr_schedule(schedule)


class _Cosine(torch.optim.lr_scheduler.LambdaLR):
    """The rate annealed to zero along a cosine over ``length`` steps of the scheduler, and zero after.

    The length lives in the lambda, which is not part of the saved state: a fit resumed from a checkpoint under
    another bound follows the new cosine from the step it resumes at (a restored CosineAnnealingLR kept the old
    length: its rate stayed at zero, or rose again)."""

    def __init__(self, optimizer: torch.optim.Optimizer, length: int):
        super().__init__(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, length) / length)))

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        # The restored optimizer holds the old schedule's rate for this step; set the new one's.
        self._last_lr = [base * rate(self.last_epoch) for base, rate in zip(self.base_lrs, self.lr_lambdas,
                                                                           strict=True)]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr


def adamw_with_schedule(module: L.LightningModule, schedule: LRSchedule = "cosine") -> dict:
    """AdamW at ``hparams.learning_rate`` and ``hparams.weight_decay`` (on every parameter), the rate following
    ``schedule`` (one of ``LR_SCHEDULES``) per epoch. The cosine spans the trainer's ``max_epochs`` (10 without a
    trainer); a trainer given ``max_steps`` gets it per step, over ``max_steps`` or its epochs' steps, whichever
    ends first; one bounded by neither a constant rate (a cosine past its end would rise again). A fit resumed
    from a checkpoint follows the cosine of its own trainer's bound, from the epoch or step it resumes at.

    Trainable weights in float16 (Lightning's ``precision="16-true"``) are refused: there AdamW's ``eps`` (1e-8) and
    a small gradient's square round to zero, and its first step divides by zero."""
    if any(p.dtype == torch.float16 and p.requires_grad for p in module.parameters()):
        raise ValueError("the weights are float16 (precision='16-true'), where AdamW's eps and small squared "
                         "gradients round to zero and its first step divides by zero: train with "
                         "precision='16-mixed' (float16 arithmetic on float32 weights), 'bf16-mixed' or 'bf16-true'")
    optimizer = torch.optim.AdamW(module.parameters(), lr=module.hparams.learning_rate,
                                  weight_decay=module.hparams.weight_decay)
    if schedule == "halving":
        return {"optimizer": optimizer,
                "lr_scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5 ** max(0, epoch - 1))}
    trainer = module._trainer
    if trainer is None or ((trainer.max_epochs or 0) > 0 and trainer.max_steps < 0):
        epochs = trainer.max_epochs if trainer is not None else 10
        return {"optimizer": optimizer, "lr_scheduler": _Cosine(optimizer, epochs)}
    steps = trainer.estimated_stepping_batches
    if math.isinf(steps):
        return {"optimizer": optimizer}
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": _Cosine(optimizer, max(1, int(steps))),
                                                     "interval": "step"}}


def resume_at_own_rates(checkpoint: dict, learning_rate: float, weight_decay: float) -> None:
    """Make a fit resumed from ``checkpoint`` train at the module's own ``learning_rate`` and ``weight_decay``
    (from the command line, say) where they differ from the checkpoint's hyper-parameters, at the point of its
    schedule it resumes at: Lightning restores the optimiser's and schedulers' states, which hold the rates and
    decay the checkpoint trained at, after the module's ``on_load_checkpoint``, which calls this. Every group's
    rate scales by the new rate over the old (a group of its own rate keeps its ratio); a group's decay changes
    where it was the old one."""
    saved = checkpoint.get("hyper_parameters", {})
    old_rate, old_decay = saved.get("learning_rate"), saved.get("weight_decay")
    ratio = learning_rate / old_rate if old_rate else 1.0
    for state in checkpoint.get("optimizer_states", []):
        for group in state.get("param_groups", []):
            for key in ("lr", "initial_lr"):
                if key in group:
                    group[key] *= ratio
            if old_decay is not None and group.get("weight_decay") == old_decay:
                group["weight_decay"] = weight_decay
    for scheduler in checkpoint.get("lr_schedulers", []):
        for key in ("base_lrs", "_last_lr"):
            if key in scheduler:
                scheduler[key] = [rate * ratio for rate in scheduler[key]]
