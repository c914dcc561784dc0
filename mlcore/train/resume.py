"""The checkpoint-resume rules every mlcore trainer follows (fit, the triplet net, the dress
localizer): one checkpoint per epoch, and a resumed job that reaches bit-identical weights
to an uninterrupted one on the CPU.

- A checkpoint names its kind, its config and a digest of its inputs; resuming with another
  kind, a config that differs in a field outside RESUMABLE_CHANGES, other labels or other
  inputs is refused (ValueError saying what differs).
- Epoch e of process `rank` draws from its own seed, epoch_seed(seed, e, rank), so an epoch
  replays the same way whether or not the job was interrupted before it.
- Every process's RNG state is saved (a list, one per rank) and restored on the same rank;
  a checkpoint written by another number of processes restores the first state everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlcore.config import RESUMABLE_CHANGES, changed_fields
from mlcore.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    images: int  # on this process
    steps: int
    seconds: float
    lr: float


def digest(lines: Iterable[object]) -> str:
    """sha256 over the str() of each line: identifies a job's inputs."""
    h = hashlib.sha256()
    for line in lines:
        h.update(f"{line}\n".encode())
    return h.hexdigest()


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch (0-based) on one process."""
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**63


def open_checkpoint(
    out_dir: str | Path,
    *,
    resume: bool,
    kind: str,
    config: dict[str, Any],
    inputs: str,
    inputs_name: str = "inputs",
    label_names: Sequence[str] | None = None,
    is_main: bool = True,
) -> tuple[Path, dict[str, Any] | None]:
    """(checkpoint path, the checkpoint to resume from or None).

    resume=False deletes an old checkpoint (on the main process), so the fresh job never
    continues another's. inputs: digest() of the job's inputs; inputs_name says what they
    are in the error message ("list of training items").
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT_NAME
    if not resume:
        if is_main:
            path.unlink(missing_ok=True)
        return path, None
    if not path.exists():
        return path, None
    ckpt = load_checkpoint(path)
    check_resumable(
        ckpt,
        path=path,
        kind=kind,
        config=config,
        inputs=inputs,
        inputs_name=inputs_name,
        label_names=label_names,
    )
    return path, ckpt


def check_resumable(
    ckpt: dict[str, Any],
    *,
    path: Path,
    kind: str,
    config: dict[str, Any],
    inputs: str,
    inputs_name: str = "inputs",
    label_names: Sequence[str] | None = None,
) -> None:
    """ValueError unless `ckpt` was written by the same kind of job on the same inputs."""
    fresh = "pass resume=False or use a new out_dir."
    # classifier checkpoints written before kinds were recorded have none
    if ckpt.get("kind", "classifier") != kind:
        raise ValueError(f"{path} is not a {kind} checkpoint; {fresh}")
    changed = [f for f in changed_fields(ckpt["config"], config) if f not in RESUMABLE_CHANGES]
    if changed:
        raise ValueError(
            f"{path} was written with a different config ({', '.join(changed)} changed); {fresh}"
        )
    if label_names is not None and list(ckpt.get("label_names", [])) != list(label_names):
        raise ValueError(
            f"{path} was written for labels {ckpt.get('label_names')}, not {list(label_names)}."
        )
    written_for = ckpt.get("inputs_digest", ckpt.get("items_digest"))
    if written_for is not None and written_for != inputs:
        raise ValueError(f"{path} was written for a different {inputs_name}; {fresh}")


def restore(
    ckpt: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[int, list[EpochRecord]]:
    """Load a checkpoint into the objects and this process's RNGs; (epochs done, history)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    states = ckpt["rng"]
    if isinstance(states, dict):  # one process's state, as similarity checkpoints held it
        states = [states]
    set_rng_state(states[rank] if len(states) == world_size else states[0])
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
    rng: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> None:
    """Write the checkpoint of `epoch` epochs done. rng: every process's RNG state, rank
    order (default: this process's alone). extra: more entries (label_names, world_size)."""
    save_checkpoint(
        path,
        {
            "kind": kind,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "config": config,
            "rng": rng if rng is not None else [rng_state()],
            "history": [r.__dict__ for r in history],
            "inputs_digest": inputs,
            **extra,
        },
    )
