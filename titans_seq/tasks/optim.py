"""The optimiser both LightningModules use."""

from __future__ import annotations

import lightning as L
import torch


def adamw_with_cosine(module: L.LightningModule) -> dict:
    """AdamW at ``hparams.learning_rate`` and ``hparams.weight_decay``, the rate annealed along a cosine
    over the trainer's epochs (10 when it has none)."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=module.hparams.learning_rate,
                                  weight_decay=module.hparams.weight_decay)
    epochs = module.trainer.max_epochs if module._trainer is not None and module.trainer.max_epochs else 10
    return {"optimizer": optimizer,
            "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))}
