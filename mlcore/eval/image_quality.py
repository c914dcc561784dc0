"""Image-quality issues with CleanVision: dark, light, odd aspect ratio, low information,
blurry and grayscale per image, odd size over the whole catalog.

CleanVision's Imagelab scores one chunk of images at a time (`score_images`), so a scan
streams through a catalog of any size. Odd size is the one issue type that compares an image
with the others (an interquartile range of the sizes), so it is scored once, over every
image's size, by CleanVision's own SizeProperty (`score_sizes`).

Images are read from their URI (local path or s3://), decoded at no more than `max_side`
pixels a side (JPEGs by DCT scaling, so a 6-megapixel photo costs a fraction of a full
decode) and handed to Imagelab in the mode they carry: grey pictures as mode "L", since that
is what CleanVision's grayscale check reads. CleanVision's blur check runs at 64 px anyway,
and its brightness percentiles and entropy barely move with the scale.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlcore.storage import S3Options, read_bytes

# Scored per image, within a chunk.
PER_IMAGE_ISSUES = (
    "dark",
    "light",
    "odd_aspect_ratio",
    "low_information",
    "blurry",
    "grayscale",
)
ODD_SIZE = "odd_size"
ISSUE_TYPES = (*PER_IMAGE_ISSUES, ODD_SIZE)
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# A colour-mode file whose channels never differ by more than this (a grey photo saved as
# RGB, give or take JPEG rounding) is grey; CleanVision only looks at the mode.
GREY_TOLERANCE = 3


@dataclass
class ImageScores:
    """CleanVision's verdict on N images (N = len(uris)); unreadable ones score nan."""

    scores: dict[str, np.ndarray]  # issue type -> (N,) float64 in [0, 1], low = severe
    flagged: dict[str, np.ndarray]  # issue type -> (N,) bool: CleanVision's is_<type>_issue
    sizes: np.ndarray  # (N, 2) int64 original (width, height); (0, 0) when unreadable
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


def open_for_scan(data: bytes, *, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode `data` at no more than `max_side` px a side; returns the image (mode "L" or
    "RGB") and the original (width, height). Raises ValueError for a file Pillow can't read."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        size = image.size
        image.draft(None, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot decode ({exc})") from exc
    image.thumbnail((max_side, max_side))
    return as_scanned(image), size


def as_scanned(image: Image.Image) -> Image.Image:
    """Mode "L" for a grey picture, else "RGB"; transparency is composited onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert(
            "L" if image.mode == "LA" else "RGB"
        )
    if image.mode in GREY_MODES:
        if image.mode in ("I", "F") or image.mode.startswith("I;16"):
            return Image.fromarray(_to_uint8(np.asarray(image)))
        return image.convert("L")
    rgb = image.convert("RGB")
    arr = np.asarray(rgb).astype(np.int16)  # (H, W, 3)
    spread = int((arr.max(axis=2) - arr.min(axis=2)).max())
    return rgb.convert("L") if spread <= GREY_TOLERANCE else rgb


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    top = float(arr.max()) or 1.0
    return (arr.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)


class _Images:
    """The decoded images of one chunk, as Imagelab's torchvision route reads them."""

    def __init__(self, images: list[Image.Image]) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Image.Image]:
        return (self.images[i],)


def score_images(
    uris: Sequence[str], *, s3: S3Options | None = None, max_side: int = 256
) -> ImageScores:
    """Read and score `uris` with CleanVision's Imagelab (every PER_IMAGE_ISSUES type, its
    default thresholds); a file that can't be read is listed in `skipped`, never raised."""
    n = len(uris)
    sizes = np.zeros((n, 2), dtype=np.int64)
    images, positions, skipped = [], [], []
    for pos, uri in enumerate(uris):
        try:
            image, size = open_for_scan(read_bytes(uri, s3=s3), max_side=max_side)
        except FileNotFoundError:
            skipped.append((pos, "file not found"))
            continue
        except Exception as exc:  # noqa: BLE001 - botocore, OSError, decode: skip, don't crash
            skipped.append((pos, f"cannot read ({exc})"))
            continue
        images.append(image)
        positions.append(pos)
        sizes[pos] = size
    scores = {t: np.full(n, np.nan) for t in PER_IMAGE_ISSUES}
    flagged = {t: np.zeros(n, dtype=bool) for t in PER_IMAGE_ISSUES}
    if images:
        issues = _imagelab_issues(images)
        at = np.asarray(positions)
        for t in PER_IMAGE_ISSUES:
            scores[t][at] = issues[f"{t}_score"].to_numpy(dtype=np.float64)
            flagged[t][at] = issues[f"is_{t}_issue"].to_numpy(dtype=bool)
    return ImageScores(scores=scores, flagged=flagged, sizes=sizes, skipped=skipped)


def _imagelab_issues(images: list[Image.Image]):
    """Imagelab's issues table for `images`, one row per image in order."""
    from cleanvision import Imagelab

    lab = Imagelab(torchvision_dataset=_Images(images), verbose=False)
    # Imagelab draws a tqdm bar on stderr even when quiet; a worker's log needn't carry it.
    with contextlib.redirect_stderr(io.StringIO()):
        lab.find_issues({t: {} for t in PER_IMAGE_ISSUES}, n_jobs=1, verbose=False)
    return lab.issues.sort_index()


def score_sizes(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CleanVision's odd-size score over a whole catalog.

    sizes: (N, 2) (width, height) of the readable images. Returns (scores (N,) float64,
    flagged (N,) bool), as Imagelab would find them over all N images at once.
    """
    import pandas as pd
    from cleanvision.issue_managers.image_property import SizeProperty
    from cleanvision.issue_managers.image_property_issue_manager import (
        ImagePropertyIssueManager,
    )

    if len(sizes) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    prop = SizeProperty()
    params = ImagePropertyIssueManager().get_default_params()[ODD_SIZE]
    side = np.sqrt(sizes[:, 0].astype(np.float64)) * np.sqrt(sizes[:, 1].astype(np.float64))
    raw = pd.DataFrame({prop.name: side})
    scores = prop.get_scores(raw_scores=raw, issue_type=ODD_SIZE, **params)
    marked = prop.mark_issue(scores=scores, issue_type=ODD_SIZE)
    return (
        scores[f"{ODD_SIZE}_score"].to_numpy(dtype=np.float64),
        marked[f"is_{ODD_SIZE}_issue"].to_numpy(dtype=bool),
    )
