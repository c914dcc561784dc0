"""One training epoch and one evaluation pass, as plain functions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from mlcore.data.dataset import Batch, readable_batches
from mlcore.data.transforms import BatchPrep
from mlcore.device import autocast


@dataclass
class TrainProgress:
    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch, 1..steps
    steps: int
    loss: float  # mean training loss of this epoch so far
    images_per_s: float
    eta_s: float  # seconds left for the whole job, at the current pace


@dataclass
class EpochStats:
    epoch: int  # 1-based
    loss: float  # mean over the epoch's steps
    images: int
    steps: int
    seconds: float
    data_wait_s: float  # host time spent waiting for the next batch
    lr: float  # at the end of the epoch
    cancelled: bool = False
    skipped: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class EvalOutput:
    probs: np.ndarray  # (N, K) float32, softmax of the logits
    labels: np.ndarray  # (N,) int64 (-1 where unknown)
    indices: np.ndarray  # (N,) int64 positions in the item list
    features: np.ndarray | None = None  # (N, D) float32 when asked for
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _agree(flags: list[bool], device: torch.device) -> list[bool]:
    """Any rank's flag holds for all ranks (DDP: every rank must run the same steps, or
    the gradient all-reduce hangs). NCCL wants the tensor on the GPU, gloo takes either."""
    t = torch.tensor([int(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    prep: BatchPrep,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    generator: torch.Generator | None = None,
    amp: bool = False,
    epoch: int = 1,
    epochs: int = 1,
    steps: int | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    progress_every: int = 10,
    should_cancel: Callable[[], bool] | None = None,
    distributed: bool = False,
) -> EpochStats:
    """Train `model` for one pass over `batches` (uint8 Batch objects).

    `prep` turns each uint8 batch into model input on `device` (and augments it when the
    data come from the decoded cache, drawing from `generator`). `should_cancel` is asked
    before every step; when it says yes the epoch stops there, before that step, and the
    result has cancelled=True. Loss is only read back from the device when reported.
    distributed=True (one DDP rank of several): cancelling, and leaving out a batch too
    small to train on (after unreadable images), are agreed by all ranks each step.
    """
    model.train()
    steps = steps if steps is not None else len(batches)  # type: ignore[arg-type]
    loss_sum = torch.zeros((), device=device)
    images = done = 0
    skipped: list[tuple[int, str]] = []
    cancelled = False
    start = time.perf_counter()
    wait = 0.0
    iterator = iter(batches)
    while True:
        t0 = time.perf_counter()
        batch = next(iterator, None)
        wait += time.perf_counter() - t0
        if batch is None:
            break
        skipped.extend(batch.skipped)
        cancel = bool(should_cancel()) if should_cancel is not None else False
        too_small = len(batch) < 2  # batch norm cannot train on one image; rare, after skips
        if distributed:
            cancel, too_small = _agree([cancel, too_small], device)
        if cancel:
            cancelled = True
            break
        if too_small:
            continue
        x = prep(batch.images.to(device, non_blocking=True), generator=generator)
        y = batch.labels.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(x)  # (B, K)
        loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.detach()
        images += len(batch)
        done += 1
        if progress is not None and (done % progress_every == 0 or done == steps):
            elapsed = time.perf_counter() - start
            left = (epochs - epoch) * steps + max(steps - done, 0)
            progress(
                TrainProgress(
                    epoch=epoch,
                    epochs=epochs,
                    step=done,
                    steps=steps,
                    loss=loss_sum.item() / done,
                    images_per_s=images / max(elapsed, 1e-9),
                    eta_s=left * elapsed / done,
                )
            )
    return EpochStats(
        epoch=epoch,
        loss=loss_sum.item() / max(done, 1),
        images=images,
        steps=done,
        seconds=time.perf_counter() - start,
        data_wait_s=wait,
        lr=optimizer.param_groups[0]["lr"],
        cancelled=cancelled,
        skipped=skipped,
    )


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    device: torch.device,
    prep: BatchPrep,
    amp: bool = False,
    features: bool = False,
) -> EvalOutput:
    """Class probabilities (and pooled features if asked) for every readable image, under
    model.eval() and torch.inference_mode(). Rows follow the batches' order; `indices`
    says which item each row is, `skipped` which items could not be read."""
    model.eval()
    probs, labels, indices, feats = [], [], [], []
    skipped: list[tuple[int, str]] = []
    with torch.inference_mode():
        for batch in readable_batches(batches, skipped):
            x = prep(batch.images.to(device, non_blocking=True))
            with autocast(device, amp):
                if features:
                    classifier: Any = model  # an mlcore Classifier: features() + head
                    f = classifier.features(x)  # (B, D)
                    logits = classifier.head(f)  # (B, K)
                    feats.append(f.float().cpu())
                else:
                    logits = model(x)  # (B, K)
            probs.append(torch.softmax(logits.float(), dim=1).cpu())
            labels.append(batch.labels)
            indices.append(batch.indices)
    num_classes = int(getattr(model, "num_classes", 0))
    return EvalOutput(
        probs=torch.cat(probs).numpy() if probs else np.zeros((0, num_classes), np.float32),
        labels=torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
        indices=torch.cat(indices).numpy() if indices else np.zeros(0, np.int64),
        features=(torch.cat(feats).numpy() if feats else None) if features else None,
        skipped=skipped,
    )
