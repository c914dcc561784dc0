"""What the similarity trainers share with mlcore.train.fit: checkpoint per epoch, resume
(bit-identical on the CPU), and the same TrainProgress / should_cancel callbacks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlcore.config import RESUMABLE_CHANGES, changed_fields
from mlcore.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from mlcore.train.fit import CHECKPOINT_NAME, EpochRecord
from mlcore.train.schedule import WarmupCosine


def digest(lines: Iterable[object]) -> str:
    """sha256 over the str() of each line: identifies a run's inputs."""
    h = hashlib.sha256()
    for line in lines:
        h.update(f"{line}\n".encode())
    return h.hexdigest()


def open_checkpoint(
    out_dir: str | Path, *, resume: bool, config: dict[str, Any], inputs: str, kind: str
) -> tuple[Path, dict[str, Any] | None]:
    """(checkpoint path, the checkpoint to resume from or None). resume=False deletes a
    stale one; a checkpoint of another config, kind or input list raises ValueError."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT_NAME
    if not resume:
        path.unlink(missing_ok=True)
        return path, None
    if not path.exists():
        return path, None
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != kind:
        raise ValueError(
            f"{path} is not a {kind} checkpoint; pass resume=False or use a new out_dir."
        )
    changed = [f for f in changed_fields(ckpt["config"], config) if f not in RESUMABLE_CHANGES]
    if changed:
        raise ValueError(
            f"{path} was written with a different config ({', '.join(changed)} changed); "
            "pass resume=False or use a new out_dir."
        )
    if ckpt.get("inputs_digest") != inputs:
        raise ValueError(
            f"{path} was written for different images or triplets; pass resume=False or use "
            "a new out_dir."
        )
    return path, ckpt


def restore(
    ckpt: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[int, list[EpochRecord]]:
    """Load a checkpoint into the objects and the RNGs; (epochs done, history)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    return int(ckpt["epoch"]), [EpochRecord(**r) for r in ckpt.get("history", [])]


def save(
    path: Path,
    *,
    kind: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    config: dict[str, Any],
    inputs: str,
    history: list[EpochRecord],
) -> None:
    save_checkpoint(
        path,
        {
            "kind": kind,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "config": config,
            "rng": rng_state(),
            "history": [r.__dict__ for r in history],
            "inputs_digest": inputs,
        },
    )


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


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 1_009) % 2**63
