"""fit(): a whole training job with checkpoints, resume, progress and cancellation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from mlcore.config import TrainConfig
from mlcore.data.dataset import Item
from mlcore.data.loaders import TrainData, eval_loader
from mlcore.data.transforms import BatchAugment, BatchPrep
from mlcore.device import tune_for_training
from mlcore.eval.metrics import Metrics, compute_metrics
from mlcore.models import Classifier, build_model, channels_last_ok, input_stats
from mlcore.storage import S3Options
from mlcore.train import distributed
from mlcore.train.checkpoint import rng_state, seed_everything
from mlcore.train.engine import EvalOutput, TrainProgress, evaluate, train_one_epoch
from mlcore.train.loss import build_criterion, class_counts
from mlcore.train.resume import (
    CHECKPOINT_NAME,
    CheckpointMirror,
    EpochRecord,
    digest,
    epoch_seed,
    open_checkpoint,
)
from mlcore.train.schedule import build_optimizer, build_scheduler

__all__ = ["CHECKPOINT_NAME", "EpochRecord", "FitResult", "fit", "check_items", "items_digest"]
KIND = "classifier"  # the kind written in the checkpoint


@dataclass
class FitResult:
    model: Classifier  # unwrapped, in eval mode, on the training device
    label_names: list[str]
    config: TrainConfig
    epochs_done: int
    cancelled: bool
    history: list[EpochRecord]
    checkpoint_path: Path | None  # the last checkpoint written (kept when cancelled)
    resumed_from: int = 0  # epochs already done in the checkpoint resumed from
    metrics: Metrics | None = None  # on eval_items, when given and not cancelled
    evaluation: EvalOutput | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # train (uri, reason)
    world_size: int = 1


def check_items(items: Sequence[Item], num_classes: int, what: str) -> list[Item]:
    """A list copy of `items` with labels checked to lie in [0, num_classes)."""
    out: list[Item] = []
    for i, (uri, label) in enumerate(items):
        if not 0 <= int(label) < num_classes:
            raise ValueError(f"{what}[{i}] ({uri}): label {label} not in [0, {num_classes})")
        out.append((str(uri), int(label)))
    return out


def items_digest(items: Sequence[Item]) -> str:
    return digest(f"{uri}\t{label}" for uri, label in items)


def fit(
    config: TrainConfig,
    train_items: Sequence[Item],
    label_names: Sequence[str],
    *,
    out_dir: str | Path,
    eval_items: Sequence[Item] | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = True,
    s3: S3Options | None = None,
    mirror: CheckpointMirror | None = None,
) -> FitResult:
    """Train a model for config.epochs epochs on train_items: [(path or s3 URI, label)].

    A checkpoint goes to out_dir/checkpoint.pt after every epoch; with resume=True an
    existing one (same config, labels and items) is continued, reaching bit-identical
    weights to an uninterrupted run on the CPU. `should_cancel()` is asked before every
    step. Unreadable images are skipped and listed in FitResult.skipped. Under torchrun
    (a process group initialised, see distributed.init_from_env) each rank trains on its
    shard and only rank 0 writes the checkpoint and reports progress. mirror: shared
    storage each checkpoint is published to, and resumed from when it is further along
    (see resume.open_checkpoint).
    """
    config.validate()
    names = [str(n) for n in label_names]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"need at least two distinct label names, got {names}")
    items = check_items(train_items, len(names), "train_items")
    if not items:
        raise ValueError("no training items")
    info = distributed.current()
    device = distributed.device_for(config.device, info)
    tune_for_training(device, num_threads=config.num_threads)
    inputs = items_digest(items)
    checkpoints = open_checkpoint(
        out_dir,
        resume=resume,
        kind=KIND,
        config=config.to_dict(),
        inputs=inputs,
        inputs_name="list of training items",
        label_names=names,
        is_main=info.is_main,
        mirror=mirror,
    )
    distributed.barrier(info)

    seed_everything(config.seed)
    model = build_model(config, len(names)).to(device)
    channels_last = config.channels_last and channels_last_ok(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = TrainData(
        items, config=config, device=device, rank=info.rank, world_size=info.world_size, s3=s3
    )
    mean, std = input_stats(config.arch)
    augment = None
    if data.augments_on_device:
        augment = BatchAugment(size=config.image_size, scale=config.crop_scale, hflip=config.hflip)
    prep = BatchPrep(mean=mean, std=std, channels_last=channels_last, augment=augment)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=len(data))
    labels = data.cache.labels.tolist() if data.cache is not None else [y for _, y in items]
    criterion = build_criterion(config, class_counts(labels, len(names))).to(device)

    start_epoch = checkpoints.resume(
        model, optimizer, scheduler, rank=info.rank, world_size=info.world_size
    )

    net: torch.nn.Module = model
    if info.distributed:
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
    skipped: dict[int, str] = dict(data.skipped)
    cancelled = False
    for epoch in range(start_epoch, config.epochs):
        seed = epoch_seed(config.seed, epoch, info.rank)
        stats = train_one_epoch(
            net,
            data.epoch(epoch, generator_seed=seed),
            criterion,
            optimizer,
            device=device,
            prep=prep,
            scheduler=scheduler,
            generator=torch.Generator().manual_seed(seed),
            amp=config.amp,
            epoch=epoch + 1,
            epochs=config.epochs,
            steps=len(data),
            progress=progress if info.is_main else None,
            progress_every=config.progress_every,
            should_cancel=should_cancel,
            distributed=info.distributed,
        )
        skipped.update(stats.skipped)
        if stats.cancelled:
            cancelled = True
            break
        distributed.average_buffers(model, info)
        states = distributed.gather(rng_state(), info)
        checkpoints.end_epoch(
            EpochRecord.from_stats(stats),
            write=info.is_main,
            rng=states,
            label_names=names,
            world_size=info.world_size,
        )
        distributed.barrier(info)

    model.eval()
    result = FitResult(
        model=model,
        label_names=names,
        config=config,
        epochs_done=len(checkpoints.history),
        cancelled=cancelled,
        history=checkpoints.history,
        checkpoint_path=checkpoints.written,
        resumed_from=checkpoints.resumed_from,
        skipped=[(items[i][0], reason) for i, reason in sorted(skipped.items())],
        world_size=info.world_size,
    )
    if eval_items and not cancelled and info.is_main:
        checked = check_items(eval_items, len(names), "eval_items")
        result.evaluation = evaluate(
            model,
            eval_loader(checked, config=config, s3=s3, pin_memory=device.type == "cuda"),
            device=device,
            prep=BatchPrep(mean=mean, std=std, channels_last=channels_last),
            amp=config.amp,
        )
        result.metrics = compute_metrics(result.evaluation.labels, result.evaluation.probs, names)
    return result
