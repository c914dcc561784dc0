"""Optimizer and schedule of the similarity trainers (the triplet net, the dress localizer):
AdamW without decay on norms and biases, per-step warmup then cosine, as mlcore.train."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from mlcore.train.schedule import WarmupCosine


class Recipe(Protocol):
    """The fields of TripletConfig and LocalizeConfig that set the optimizer and schedule."""

    lr: float
    weight_decay: float
    epochs: int
    warmup_epochs: float


def optimizer_for(model: nn.Module, *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; no weight decay on norm weights and biases (1-d tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def scheduler_for(
    optimizer: torch.optim.Optimizer, *, epochs: int, steps: int, warmup_epochs: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step linear warmup then cosine to zero, as mlcore.train.schedule."""
    total = epochs * steps
    warmup = min(int(round(warmup_epochs * steps)), max(total - 1, 0))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup=warmup, total=total))


def optimizer_and_scheduler(
    model: nn.Module, config: Recipe, *, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """optimizer_for and scheduler_for as `config` sets them, for `steps` steps an epoch."""
    optimizer = optimizer_for(model, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = scheduler_for(
        optimizer, epochs=config.epochs, steps=steps, warmup_epochs=config.warmup_epochs
    )
    return optimizer, scheduler
