"""Decoding images for localization and embedding: crop to a box, squash or letterbox to
a square, batch, and never fail on a bad file (it is listed in `skipped` instead)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from mlcore.data.dataset import Failed, readable_batches
from mlcore.data.images import ImageError, load_image
from mlcore.storage import S3Options

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels; x1, y1 exclusive


def crop_to_box(
    image: Image.Image, box: Box | Sequence[float], *, margin: float = 0.05
) -> Image.Image:
    """The part of `image` inside `box` ((x0, y0, x1, y1) pixels, as `Image.crop`), grown by
    `margin` times its width / height on every side and clipped to the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {tuple(box)} is empty: need x1 > x0 and y1 > y0.")
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    w, h = image.size
    left, top = max(0, round(x0 - dx)), max(0, round(y0 - dy))
    right, bottom = min(w, round(x1 + dx)), min(h, round(y1 + dy))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(box)} lies outside the {w}x{h} image.")
    return image.crop((left, top, right, bottom))


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """(size, size) image: the whole of `image` scaled to fit, centred, the rest filled with
    the median colour of its border (so a dress is never cut, and the bars look like
    background)."""
    arr = np.asarray(image)  # (H, W, 3) uint8
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])  # (2W + 2H, 3)
    fill = tuple(int(v) for v in np.median(border, axis=0))
    return ImageOps.pad(image, (size, size), method=Image.Resampling.BILINEAR, color=fill)


@dataclass
class Views:
    images: torch.Tensor  # (B, 3, S, S) uint8
    sizes: torch.Tensor  # (B, 2) int64 original (width, height) of each image
    indices: torch.Tensor  # (B,) int64 positions in the list of URIs
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)

    def __len__(self) -> int:
        return int(self.indices.shape[0])


_Sample = tuple[torch.Tensor, tuple[int, int], int] | Failed


class _ViewDataset(Dataset[_Sample]):
    def __init__(
        self,
        uris: Sequence[str],
        *,
        size: int,
        mode: str,
        boxes: Sequence[Box | None] | None,
        margin: float,
        s3: S3Options | None,
    ) -> None:
        if mode not in ("squash", "letterbox"):
            raise ValueError(f"mode={mode!r}: use 'squash' or 'letterbox'.")
        if boxes is not None and len(boxes) != len(uris):
            raise ValueError(f"{len(boxes)} boxes for {len(uris)} images.")
        self.uris, self.size, self.mode, self.boxes = uris, size, mode, boxes
        self.margin, self.s3 = margin, s3

    def __len__(self) -> int:
        return len(self.uris)

    def __getitem__(self, index: int) -> _Sample:
        uri = self.uris[index]
        try:
            image = load_image(uri, s3=self.s3)
            original = image.size
            box = self.boxes[index] if self.boxes is not None else None
            if box is not None:
                image = crop_to_box(image, box, margin=self.margin)
            if self.mode == "squash":
                image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
            else:
                image = letterbox(image, self.size)
            array = np.asarray(image, dtype=np.uint8)  # (S, S, 3)
        except ImageError as exc:
            return Failed(index, str(exc))
        except ValueError as exc:  # a box that does not fit the image
            return Failed(index, f"{uri}: {exc}")
        return torch.from_numpy(array.copy()).permute(2, 0, 1), original, index


def _collate(samples: list[_Sample]) -> Views:
    good = [s for s in samples if not isinstance(s, Failed)]
    skipped = [(s.index, s.reason) for s in samples if isinstance(s, Failed)]
    if not good:
        empty = torch.empty(0, dtype=torch.int64)
        return Views(torch.empty(0, 3, 0, 0, dtype=torch.uint8), empty.view(0, 2), empty, skipped)
    return Views(
        torch.stack([s[0] for s in good]),
        torch.tensor([s[1] for s in good], dtype=torch.int64),
        torch.tensor([s[2] for s in good], dtype=torch.int64),
        skipped,
    )


def iter_views(
    uris: Sequence[str],
    *,
    size: int,
    mode: str,
    boxes: Sequence[Box | None] | None = None,
    margin: float = 0.05,
    batch_size: int = 64,
    num_workers: int = 0,
    s3: S3Options | None = None,
) -> Iterator[Views]:
    """Batches of uint8 (B, 3, size, size) views of `uris`, in order.

    mode "squash": the whole image resized to a square (box coordinates scale with it);
    "letterbox": aspect kept, padded (see `letterbox`). boxes[i] (pixels), when given and
    not None, crops image i first (grown by `margin`, see `crop_to_box`).
    """
    dataset = _ViewDataset(uris, size=size, mode=mode, boxes=boxes, margin=margin, s3=s3)
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate
    )
    yield from loader


def decode_views(uris: Sequence[str], **kwargs: object) -> Views:
    """All of iter_views(uris, **kwargs) in one Views (an in-memory uint8 cache)."""
    skipped: list[tuple[int, str]] = []
    parts = list(readable_batches(iter_views(uris, **kwargs), skipped))  # type: ignore[arg-type]
    if not parts:
        empty = torch.empty(0, dtype=torch.int64)
        return Views(torch.empty(0, 3, 0, 0, dtype=torch.uint8), empty.view(0, 2), empty, skipped)
    return Views(
        torch.cat([p.images for p in parts]),
        torch.cat([p.sizes for p in parts]),
        torch.cat([p.indices for p in parts]),
        skipped,
    )
