"""The optimiser both LightningModules use."""

from __future__ import annotations

import lightning as L
import torch

# "cosine": annealed to zero along a cosine over the epochs; "halving": halved after every epoch, the schedule
# of the LTSF-Linear and Time-Series-Library reference code (their ``lradj="type1"``), which published the
# DLinear and PatchTST-era baselines.
LR_SCHEDULES = ("cosine", "halving")


def adamw_with_schedule(module: L.LightningModule, schedule: str = "cosine") -> dict:
    """AdamW at ``hparams.learning_rate`` and ``hparams.weight_decay``, the rate following ``schedule`` (one of
    ``LR_SCHEDULES``) per epoch; the cosine spans the trainer's epochs (10 when it has none)."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=module.hparams.learning_rate,
                                  weight_decay=module.hparams.weight_decay)
    if schedule == "halving":
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    else:
        epochs = module.trainer.max_epochs if module._trainer is not None and module.trainer.max_epochs else 10
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return {"optimizer": optimizer, "lr_scheduler": scheduler}
