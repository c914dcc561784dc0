"""A classifier and what trains it, wired once: fit() runs its epochs, and
bench/train_throughput times the same wiring against a hand-written loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from mlcore.config import TrainConfig
from mlcore.data.loaders import TrainData
from mlcore.data.transforms import BatchAugment, BatchPrep
from mlcore.models import Classifier, build_model, input_stats, place_model
from mlcore.train.engine import EpochStats, TrainProgress, train_one_epoch
from mlcore.train.loss import build_criterion, class_counts
from mlcore.train.schedule import build_optimizer, build_scheduler


@dataclass
class ClassifierTrainer:
    config: TrainConfig
    data: TrainData
    model: Classifier  # on the data's device; channels_last when asked for and safe there
    channels_last: bool
    prep: BatchPrep  # augments on the device when the data come from the decoded cache
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    criterion: nn.Module

    @classmethod
    def build(cls, config: TrainConfig, data: TrainData, num_classes: int) -> ClassifierTrainer:
        """A fresh model (its weights drawn from torch's global RNG) and its optimizer,
        schedule, class-weighted loss and batch preparation for `data`."""
        model, channels_last = place_model(
            build_model(config, num_classes), data.device, channels_last=config.channels_last
        )
        mean, std = input_stats(config.arch)
        augment = None
        if data.augments_on_device:
            augment = BatchAugment(
                size=config.image_size, scale=config.crop_scale, hflip=config.hflip
            )
        prep = BatchPrep(mean=mean, std=std, channels_last=channels_last, augment=augment)
        optimizer = build_optimizer(model, config)
        scheduler = build_scheduler(optimizer, config, steps_per_epoch=len(data))
        cache = data.cache
        labels = cache.labels.tolist() if cache is not None else [y for _, y in data.items]
        counts = class_counts(labels, num_classes)
        criterion = build_criterion(config, counts).to(data.device)
        return cls(config, data, model, channels_last, prep, optimizer, scheduler, criterion)

    def train_epoch(
        self,
        epoch: int,
        *,
        seed: int,
        net: nn.Module | None = None,
        progress: Callable[[TrainProgress], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        distributed: bool = False,
    ) -> EpochStats:
        """Epoch `epoch` (0-based) of config.epochs, its order and augmentation drawn from
        `seed`. net: the model as wrapped for DDP (default: the model itself)."""
        return train_one_epoch(
            self.model if net is None else net,
            self.data.epoch(epoch, generator_seed=seed),
            self.criterion,
            self.optimizer,
            device=self.data.device,
            prep=self.prep,
            scheduler=self.scheduler,
            generator=torch.Generator().manual_seed(seed),
            amp=self.config.amp,
            epoch=epoch + 1,
            epochs=self.config.epochs,
            steps=len(self.data),
            progress=progress,
            progress_every=self.config.progress_every,
            should_cancel=should_cancel,
            distributed=distributed,
        )
