"""A dataset over (path or URI, label) items that never fails on a bad image.

A bad image (missing, empty, truncated, not an image) comes back as a sentinel carrying
the reason; `collate_skipping` drops it from the batch and lists it in `Batch.skipped`,
so whoever iterates counts and reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import torch
from PIL import Image
from torch.utils.data import Dataset

from mlcore.data.images import ImageError, load_image
from mlcore.storage import S3Options

Item = tuple[str, int]  # (local path or s3:// URI, label index; -1 when unknown)


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, S, S) uint8
    labels: torch.Tensor  # (B,) int64
    indices: torch.Tensor  # (B,) int64, positions in the item list
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def pin_memory(self) -> Batch:  # called by DataLoader(pin_memory=True)
        return Batch(self.images.pin_memory(), self.labels, self.indices, self.skipped)


class Skipping(Protocol):
    """A batch that lists the items it could not load (Batch, similarity's Views)."""

    skipped: list[tuple[int, str]]  # (position, reason)

    def __len__(self) -> int: ...


B = TypeVar("B", bound=Skipping)


def readable_batches(batches: Iterable[B], skipped: list[tuple[int, str]]) -> Iterator[B]:
    """The batches that hold an image; every batch's unreadable items go to `skipped` as it
    passes, those of a batch with no readable image too."""
    for batch in batches:
        skipped.extend(batch.skipped)
        if len(batch):
            yield batch


@dataclass
class Failed:
    """Sentinel for an item that could not be loaded."""

    index: int
    reason: str


Sample = tuple[torch.Tensor, int, int] | Failed


class ImageItemsDataset(Dataset[Sample]):
    """items[i] -> (image (3, S, S) uint8, label, i), or Failed(i, reason)."""

    def __init__(
        self,
        items: Sequence[Item],
        *,
        transform: Callable[[Image.Image], torch.Tensor],
        s3: S3Options | None = None,
    ) -> None:
        self.items = items
        self.transform = transform
        self.s3 = s3

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        uri, label = self.items[index]
        try:
            image = load_image(uri, s3=self.s3)
            tensor = self.transform(image)
        except ImageError as exc:
            return Failed(index, str(exc))
        except Exception as exc:  # noqa: BLE001 - a transform choking on one odd image
            return Failed(index, f"{uri}: {type(exc).__name__}: {exc}")
        return tensor, int(label), int(index)


def collate_skipping(samples: list[Sample]) -> Batch:
    """Stack the good samples; list the failed ones. An all-bad batch is an empty Batch."""
    good = [s for s in samples if not isinstance(s, Failed)]
    skipped = [(s.index, s.reason) for s in samples if isinstance(s, Failed)]
    if not good:
        return Batch(
            torch.empty(0, 3, 0, 0, dtype=torch.uint8),
            torch.empty(0, dtype=torch.int64),
            torch.empty(0, dtype=torch.int64),
            skipped,
        )
    images = torch.stack([s[0] for s in good])  # (B, 3, S, S)
    labels = torch.tensor([s[1] for s in good], dtype=torch.int64)
    indices = torch.tensor([s[2] for s in good], dtype=torch.int64)
    return Batch(images, labels, indices, skipped)
