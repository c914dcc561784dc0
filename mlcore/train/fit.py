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
from mlcore.data.transforms import BatchPrep
from mlcore.device import tune_for_training
from mlcore.eval.metrics import Metrics, compute_metrics
from mlcore.models import Classifier, input_stats
from mlcore.storage import S3Options
from mlcore.train import distributed
from mlcore.train.checkpoint import rng_state, seed_everything
from mlcore.train.engine import EvalOutput, TrainProgress, evaluate
from mlcore.train.resume import (
    CHECKPOINT_NAME,
    CheckpointKind,
    CheckpointMirror,
    EpochRecord,
    digest,
    epoch_seed,
)
from mlcore.train.trainer import ClassifierTrainer

__all__ = ["CHECKPOINT_NAME", "EpochRecord", "FitResult", "fit", "check_items", "items_digest"]
CLASSIFIER = CheckpointKind("classifier", inputs_name="list of training items")


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
    (see resume.CheckpointKind.open).
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
    checkpoints = CLASSIFIER.open(
        out_dir,
        config.to_dict(),
        items_digest(items),
        resume=resume,
        label_names=names,
        is_main=info.is_main,
        mirror=mirror,
    )
    distributed.barrier(info)

    data = TrainData(
        items, config=config, device=device, rank=info.rank, world_size=info.world_size, s3=s3
    )
    seed_everything(config.seed)  # after the decode: the initial weights follow the seed alone
    trainer = ClassifierTrainer.build(config, data, len(names))
    model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.scheduler

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
        stats = trainer.train_epoch(
            epoch,
            seed=seed,
            net=net,
            progress=progress if info.is_main else None,
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
        cancelled=cancelled,
        skipped=[(items[i][0], reason) for i, reason in sorted(skipped.items())],
        world_size=info.world_size,
        **checkpoints.report(),
    )
    if eval_items and not cancelled and info.is_main:
        checked = check_items(eval_items, len(names), "eval_items")
        mean, std = input_stats(config.arch)
        result.evaluation = evaluate(
            model,
            eval_loader(checked, config=config, s3=s3, pin_memory=device.type == "cuda"),
            device=device,
            prep=BatchPrep(mean=mean, std=std, channels_last=trainer.channels_last),
            amp=config.amp,
        )
        result.metrics = compute_metrics(result.evaluation.labels, result.evaluation.probs, names)
    return result
