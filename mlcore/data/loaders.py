"""Batches for training and evaluation, from files or from the decoded cache.

Two training paths give the same Batch objects:
- files: a DataLoader decodes and augments each image in worker processes;
- decoded cache: every image is decoded once into one (N, 3, S, S) uint8 tensor; an epoch
  is then index_select + one batched augmentation on the device (`BatchAugment`), which is
  what keeps small-image training on a CPU from being decode-bound.
Shuffling is a DistributedSampler seeded with (seed, epoch), also for one process, so a
resumed run sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mlcore.config import TrainConfig, cache_bytes
from mlcore.data.dataset import Batch, ImageItemsDataset, Item, collate_skipping
from mlcore.data.transforms import EvalPreset, TrainPreset
from mlcore.storage import S3Options


@dataclass
class DecodedCache:
    images: torch.Tensor  # (N, 3, S, S) uint8, resized and centre-cropped to S
    labels: torch.Tensor  # (N,) int64
    indices: torch.Tensor  # (N,) int64 positions in the item list
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device) -> DecodedCache:
        return DecodedCache(self.images.to(device), self.labels, self.indices, self.skipped)


def use_cache(config: TrainConfig, n_items: int) -> bool:
    if config.cache_decoded is not None:
        return config.cache_decoded
    return cache_bytes(n_items, config.image_size) <= config.cache_max_mb * 2**20


def decode_items(
    items: Sequence[Item],
    *,
    size: int,
    num_workers: int = 0,
    s3: S3Options | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DecodedCache:
    """Decode every item once (resize + centre-crop to size), skipping bad images."""
    loader = DataLoader(
        ImageItemsDataset(items, transform=EvalPreset(size=size, crop_fraction=1.0), s3=s3),
        batch_size=256,
        num_workers=num_workers,
        collate_fn=collate_skipping,
    )
    images = torch.empty(len(items), 3, size, size, dtype=torch.uint8)
    labels: list[torch.Tensor] = []
    indices: list[torch.Tensor] = []
    skipped: list[tuple[int, str]] = []
    filled = done = 0
    for batch in loader:
        n = len(batch)
        if n:
            images[filled : filled + n] = batch.images
            labels.append(batch.labels)
            indices.append(batch.indices)
            filled += n
        skipped.extend(batch.skipped)
        done += n + len(batch.skipped)
        if progress is not None:
            progress(done, len(items))
    empty = torch.empty(0, dtype=torch.int64)
    return DecodedCache(
        images[:filled].clone() if filled < len(items) else images,
        torch.cat(labels) if labels else empty,
        torch.cat(indices) if indices else empty,
        skipped,
    )


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; numpy and random follow it.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class TrainData:
    """The batches of each training epoch, for one process of `world_size`."""

    def __init__(
        self,
        items: Sequence[Item],
        *,
        config: TrainConfig,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        s3: S3Options | None = None,
        cache: bool | None = None,
    ) -> None:
        self.items = items
        self.config = config
        self.device = device
        self.s3 = s3
        self.cache: DecodedCache | None = None
        if use_cache(config, len(items)) if cache is None else cache:
            decoded = decode_items(
                items, size=config.image_size, num_workers=config.num_workers, s3=s3
            )
            # On a GPU the whole cache lives there: a batch is then one index_select.
            self.cache = decoded.to(device) if device.type == "cuda" else decoded
        n = len(self.cache) if self.cache is not None else len(items)
        if n == 0:
            raise ValueError("No training image could be read; see the skipped list.")
        # DistributedSampler only needs len(); for one process it is a seeded shuffle.
        positions = cast(Dataset[int], range(n))
        self.sampler: DistributedSampler[int] = DistributedSampler(
            positions, num_replicas=world_size, rank=rank, shuffle=True, seed=config.seed
        )
        per_rank = len(self.sampler)
        # Batch norm cannot train on a batch of one: drop the ragged tail when we can.
        self.drop_last = per_rank >= config.batch_size
        self.steps = per_rank // config.batch_size if self.drop_last else 1

    @property
    def skipped(self) -> list[tuple[int, str]]:
        return self.cache.skipped if self.cache is not None else []

    @property
    def augments_on_device(self) -> bool:
        """True when the caller must augment (BatchAugment): the cache path."""
        return self.cache is not None

    def __len__(self) -> int:
        return self.steps

    def epoch(self, epoch: int, *, generator_seed: int) -> Iterator[Batch]:
        self.sampler.set_epoch(epoch)
        if self.cache is not None:
            return self._cached_batches()
        loader = DataLoader(
            ImageItemsDataset(
                self.items,
                transform=TrainPreset(
                    size=self.config.image_size,
                    scale=self.config.crop_scale,
                    hflip=self.config.hflip,
                ),
                s3=self.s3,
            ),
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            num_workers=self.config.num_workers,
            collate_fn=collate_skipping,
            pin_memory=self.device.type == "cuda",
            drop_last=self.drop_last,
            worker_init_fn=_seed_worker,
            generator=torch.Generator().manual_seed(generator_seed),
            prefetch_factor=4 if self.config.num_workers else None,
        )
        return iter(loader)

    def _cached_batches(self) -> Iterator[Batch]:
        assert self.cache is not None
        order = torch.tensor(list(self.sampler), dtype=torch.int64)
        bs = self.config.batch_size
        device_order = order.to(self.cache.images.device)
        for step in range(self.steps):
            lo, hi = step * bs, (step + 1) * bs
            yield Batch(
                self.cache.images.index_select(0, device_order[lo:hi]),
                self.cache.labels.index_select(0, order[lo:hi]),
                self.cache.indices.index_select(0, order[lo:hi]),
            )


def eval_loader(
    items: Sequence[Item],
    *,
    config: TrainConfig,
    batch_size: int | None = None,
    num_workers: int | None = None,
    s3: S3Options | None = None,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """Items in order through EvalPreset; bad images show up in Batch.skipped."""
    workers = config.num_workers if num_workers is None else num_workers
    return DataLoader(
        ImageItemsDataset(
            items,
            transform=EvalPreset(size=config.image_size, crop_fraction=config.eval_crop_fraction),
            s3=s3,
        ),
        batch_size=batch_size or max(config.batch_size, 64),
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_skipping,
        pin_memory=pin_memory,
    )
