"""Fashion-MNIST: 70,000 grey 28x28 product photos in ten classes (Zalando, MIT licence).

Reads the original gzipped IDX files. The full set comes from the Debian package
dataset-fashion-mnist (`SYSTEM_ROOT`); without it, the first 3,000 train and 1,000 test
images shipped in `SUBSET_ROOT` (same names, same format) stand in.
"""

from __future__ import annotations

import csv
import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mlcore.storage import atomic_open

CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SPLITS: tuple[str, ...] = ("train", "test")
SYSTEM_ROOT = Path("/usr/share/datasets/fashion-mnist")
SUBSET_ROOT = Path(__file__).resolve().parent / "data" / "fashion-mnist-subset"

# split -> (images file, labels file), the names Zalando publishes.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC = 0x0803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x0801  # unsigned bytes, 1 dimension
_SIDE = 28


def find_root(root: Path | None = None) -> Path:
    """The folder to read: `root` if given, else `SYSTEM_ROOT` if it holds all four files,
    else the shipped `SUBSET_ROOT`."""
    if root is not None:
        return Path(root)
    if all((SYSTEM_ROOT / name).is_file() for pair in FILES.values() for name in pair):
        return SYSTEM_ROOT
    return SUBSET_ROOT


def load(
    split: str, *, root: Path | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one official split.

    Returns images: (N, 28, 28) uint8 (0 = background) and labels: (N,) int64, indices
    into `CLASSES`. `limit` keeps the first N items. Raises ValueError for an unknown split
    or a corrupt file, naming the file.
    """
    if split not in FILES:
        raise ValueError(f"Unknown Fashion-MNIST split {split!r}; use one of {SPLITS}.")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}.")
    folder = find_root(root)
    images_name, labels_name = FILES[split]
    images = _read_idx(folder / images_name, magic=_IMAGES_MAGIC, limit=limit)
    labels = _read_idx(folder / labels_name, magic=_LABELS_MAGIC, limit=limit)
    if images.shape[1:] != (_SIDE, _SIDE):
        raise ValueError(
            f"{folder / images_name}: images are {images.shape[1]}x{images.shape[2]}, "
            f"expected {_SIDE}x{_SIDE}. Replace the file with an original Fashion-MNIST one."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{folder / labels_name}: {len(labels)} labels for {len(images)} images in "
            f"{images_name}. The two files come from different data sets."
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise ValueError(
            f"{folder / labels_name}: label {int(labels.max())} is not a Fashion-MNIST class "
            f"(0..{len(CLASSES) - 1})."
        )
    return images, labels.astype(np.int64)


def _read_idx(path: Path, *, magic: int, limit: int | None) -> np.ndarray:
    """One gzipped IDX file as a uint8 array of its declared shape (first `limit` items)."""
    ndim = magic & 0xFF
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(4 + 4 * ndim)
            if len(header) < 4 + 4 * ndim:
                raise ValueError(f"{path}: file ends inside the IDX header.")
            found = struct.unpack(">I", header[:4])[0]
            if found != magic:
                raise ValueError(
                    f"{path}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x}. "
                    "Is this the right file, and is it the original Fashion-MNIST one?"
                )
            shape = struct.unpack(f">{ndim}I", header[4:])
            count = shape[0] if limit is None else min(limit, shape[0])
            item_size = int(np.prod(shape[1:], dtype=np.int64))
            data = f.read(count * item_size)
            if len(data) < count * item_size:
                raise ValueError(
                    f"{path}: truncated, the header declares {shape[0]} items but the data "
                    f"stops after {len(data) // max(item_size, 1)}. Download the file again."
                )
            if limit is None and f.read(1):
                raise ValueError(f"{path}: extra bytes after the {shape[0]} declared items.")
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path}: missing Fashion-MNIST file. Install the Debian package "
            "dataset-fashion-mnist or pass root= a folder holding the four IDX .gz files."
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({exc}).") from exc
    return np.frombuffer(data, dtype=np.uint8).reshape(count, *shape[1:])


def write_image_folder(
    out_dir: Path,
    *,
    root: Path | None = None,
    limit_per_split: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Export both splits as grey PNGs plus a labels CSV; returns the CSV's path.

    Layout: out_dir/train/00000.png ..., out_dir/test/00000.png ..., and out_dir/labels.csv
    with columns path (relative to out_dir), product (`fmnist-train-00042`), split
    (the official one) and category (a name from `CLASSES`). labels.csv is written last,
    through a temporary file, so an interrupted export never leaves a CSV that points at
    missing images. `progress(done, total)` is called every 1,000 images and at the end.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / "labels.csv"
    labels_path.unlink(missing_ok=True)  # a stale CSV could point at half-replaced images
    data = {split: load(split, root=root, limit=limit_per_split) for split in SPLITS}
    total = sum(len(labels) for _, labels in data.values())
    rows: list[tuple[str, str, str, str]] = []
    for split, (images, labels) in data.items():
        (out_dir / split).mkdir(exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            rel = f"{split}/{i:05d}.png"
            Image.fromarray(image).save(out_dir / rel, compress_level=1)
            rows.append((rel, f"fmnist-{split}-{i:05d}", split, CLASSES[int(label)]))
            if progress is not None and len(rows) % 1000 == 0:
                progress(len(rows), total)
    with atomic_open(labels_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "product", "split", "category"))
        writer.writerows(rows)
    if progress is not None:
        progress(total, total)
    return labels_path


def write_subset(src_root: Path, dst_root: Path, *, n_train: int, n_test: int) -> None:
    """Copy the first `n_train` / `n_test` items of each split into `dst_root` as gzipped
    IDX files with the official names (byte-identical for the same input). This made
    `SUBSET_ROOT`; its LICENSE file is kept by hand."""
    dst_root = Path(dst_root)
    dst_root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = load(split, root=src_root, limit=n)
        images_name, labels_name = FILES[split]
        _write_idx(dst_root / images_name, images, magic=_IMAGES_MAGIC)
        _write_idx(dst_root / labels_name, labels.astype(np.uint8), magic=_LABELS_MAGIC)


def _write_idx(path: Path, array: np.ndarray, *, magic: int) -> None:
    """array: (N, ...) uint8, written as one gzipped IDX file."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
