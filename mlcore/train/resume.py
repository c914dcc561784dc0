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
- The checkpoint is written to a local folder; a CheckpointMirror (S3CheckpointMirror in
  mlcore.storage) copies each one to shared storage after it is written, and before a
  resume brings back the mirror's copy when it is further along than the local one (or the
  local one is missing: the job moved to another machine).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from mlcore.config import RESUMABLE_CHANGES, changed_fields
from mlcore.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

if TYPE_CHECKING:
    from mlcore.train.engine import EpochStats

CHECKPOINT_NAME = "checkpoint.pt"
log = logging.getLogger(__name__)


class CheckpointMirror(Protocol):
    """Shared storage for a job's checkpoints (see mlcore.storage.S3CheckpointMirror)."""

    def publish(self, path: Path, *, epoch: int) -> None:
        """Copy the checkpoint just written at `path` (`epoch` epochs done) and publish it."""

    def pull(self, path: Path, *, newer_than: int = 0) -> bool:
        """Replace `path` by the published checkpoint if it has more than `newer_than`
        epochs done; True if it did."""
        ...


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    images: int  # on this process
    steps: int
    seconds: float
    lr: float

    @classmethod
    def from_stats(cls, stats: EpochStats) -> EpochRecord:
        """The record of an epoch that train_one_epoch ran."""
        return cls(stats.epoch, stats.loss, stats.images, stats.steps, stats.seconds, stats.lr)


def digest(lines: Iterable[object]) -> str:
    """sha256 over the str() of each line: identifies a job's inputs."""
    h = hashlib.sha256()
    for line in lines:
        h.update(f"{line}\n".encode())
    return h.hexdigest()


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch (0-based) on one process."""
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**63


class CheckpointReport(TypedDict):
    """What every trainer's result says of its checkpoints, in its fields of these names."""

    epochs_done: int
    history: list[EpochRecord]
    checkpoint_path: Path | None  # the last checkpoint written (kept when cancelled)
    resumed_from: int  # epochs already done in the checkpoint resumed from


@dataclass
class EpochCheckpoints:
    """One job's checkpoint file, as every trainer keeps it: opened (and checked) before
    the work starts, restored into the model before the first epoch, rewritten after each
    one. `history`, `resumed_from` and `written` are what the job's result reports
    (report())."""

    path: Path
    kind: str
    config: dict[str, Any]
    inputs: str  # digest() of the job's inputs
    found: dict[str, Any] | None = None  # the checkpoint to resume from
    history: list[EpochRecord] = field(default_factory=list)
    resumed_from: int = 0  # epochs already done in the checkpoint resumed from
    written: Path | None = None  # the last checkpoint written (or resumed from)
    training: tuple[nn.Module, torch.optim.Optimizer, LRScheduler] | None = None  # saved ones
    mirror: CheckpointMirror | None = None  # where each checkpoint is copied once written

    def check_resumable(
        self,
        ckpt: dict[str, Any],
        *,
        inputs_name: str = "inputs",
        label_names: Sequence[str] | None = None,
    ) -> None:
        """ValueError unless `ckpt` was written by the same kind of job on the same inputs."""
        path, kind = self.path, self.kind
        fresh = "pass resume=False or use a new out_dir."
        # classifier checkpoints written before kinds were recorded have none
        if ckpt.get("kind", "classifier") != kind:
            raise ValueError(f"{path} is not a {kind} checkpoint; {fresh}")
        changed = [
            f for f in changed_fields(ckpt["config"], self.config) if f not in RESUMABLE_CHANGES
        ]
        if changed:
            raise ValueError(
                f"{path} was written with a different config ({', '.join(changed)} changed); "
                f"{fresh}"
            )
        if label_names is not None and list(ckpt.get("label_names", [])) != list(label_names):
            raise ValueError(
                f"{path} was written for labels {ckpt.get('label_names')}, not {list(label_names)}."
            )
        written_for = ckpt.get("inputs_digest", ckpt.get("items_digest"))
        if written_for is not None and written_for != self.inputs:
            raise ValueError(f"{path} was written for a different {inputs_name}; {fresh}")

    def resume(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: LRScheduler,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> int:
        """Load the checkpoint found, if any, into the objects that every later checkpoint
        saves, and into this process's RNGs; the first epoch (0-based) left to run."""
        self.training = (model, optimizer, scheduler)
        if self.found is not None:
            done, self.history = restore(
                self.found, model, optimizer, scheduler, rank=rank, world_size=world_size
            )
            self.resumed_from, self.written = done, self.path
        return self.resumed_from

    def end_epoch(
        self,
        record: EpochRecord,
        *,
        write: bool = True,
        rng: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        """Add `record` to the history and, unless write=False (a DDP rank other than the
        first), write the checkpoint of `record.epoch` epochs done. rng, extra: as in save()."""
        if self.training is None:
            raise RuntimeError("EpochCheckpoints.end_epoch() before resume()")
        self.history.append(record)
        if not write:
            return
        model, optimizer, scheduler = self.training
        save(
            self.path,
            kind=self.kind,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            epoch=record.epoch,
            config=self.config,
            inputs=self.inputs,
            history=self.history,
            rng=rng,
            **extra,
        )
        self.written = self.path
        if self.mirror is not None:
            publish_checkpoint(self.mirror, self.path, epoch=record.epoch)

    def report(self) -> CheckpointReport:
        """The fields of the job's result that its checkpoints give."""
        return CheckpointReport(
            epochs_done=len(self.history),
            history=self.history,
            checkpoint_path=self.written,
            resumed_from=self.resumed_from,
        )


def publish_checkpoint(mirror: CheckpointMirror, path: Path, *, epoch: int) -> None:
    """mirror.publish(), with a failure logged rather than raised: the local checkpoint is
    whole, the job goes on, and the next epoch's publish tries again (a resume elsewhere
    meanwhile starts from the last one published)."""
    try:
        mirror.publish(path, epoch=epoch)
    except Exception:
        log.warning("could not publish checkpoint %s (epoch %s)", path, epoch, exc_info=True)


def pull_checkpoint(mirror: CheckpointMirror, path: Path) -> None:
    """Bring the mirror's checkpoint to `path` when it is further along than the local one
    (or there is none here): a job resumed on another machine, or after one."""
    done = int(load_checkpoint(path)["epoch"]) if path.exists() else 0
    mirror.pull(path, newer_than=done)


@dataclass(frozen=True)
class CheckpointKind:
    """One trainer's checkpoints (fit's, the triplet net's, the localizer's), as the module
    that writes them declares them once: opened for a job, and loaded once it is done."""

    name: str  # written in each checkpoint: "classifier", "triplet", "localizer"
    inputs_name: str = "inputs"  # what the inputs digest covers, said when a resume is refused

    def open(
        self,
        out_dir: str | Path,
        config: dict[str, Any],
        inputs: str,
        *,
        resume: bool,
        label_names: Sequence[str] | None = None,
        is_main: bool = True,
        mirror: CheckpointMirror | None = None,
    ) -> EpochCheckpoints:
        """The job's checkpoints in out_dir; `.found` is the checkpoint to resume from, if any.

        config: the job config's to_dict(); inputs: digest() of the job's inputs.
        resume=False deletes an old checkpoint (on the main process), so the fresh job never
        continues another's. A checkpoint of another job is refused with a ValueError saying
        what differs. mirror: the main process publishes each checkpoint there and, resuming,
        first pulls the mirror's when it is further along (the other ranks of a DDP job find
        the one their launcher pulled, see train.launch).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        checkpoints = EpochCheckpoints(
            out / CHECKPOINT_NAME, self.name, config, inputs, mirror=mirror
        )
        if not resume:
            if is_main:
                checkpoints.path.unlink(missing_ok=True)
            return checkpoints
        if mirror is not None and is_main:
            pull_checkpoint(mirror, checkpoints.path)
        if not checkpoints.path.exists():
            return checkpoints
        found = load_checkpoint(checkpoints.path)
        checkpoints.check_resumable(found, inputs_name=self.inputs_name, label_names=label_names)
        checkpoints.found = found
        return checkpoints

    def load(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The checkpoint at `path` (tensors on the CPU); ValueError unless it is of this
        kind."""
        ckpt = load_checkpoint(path)
        if ckpt.get("kind") != self.name:
            raise ValueError(f"{path}: not a {self.name} checkpoint (kind {ckpt.get('kind')!r}).")
        return ckpt


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
