"""Building catalog folders (images + labels.csv) for tests, including broken ones."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from PIL import Image as PILImage


def write_png(path: Path, colour=(200, 30, 30), size=(24, 32), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new(mode, size, colour).save(path, format="PNG")
    return path


def png_bytes(colour=(10, 20, 30), size=(24, 32), fmt="PNG", mode="RGB") -> bytes:
    out = io.BytesIO()
    PILImage.new(mode, size, colour).save(out, format=fmt)
    return out.getvalue()


def write_manifest(
    folder: Path, header: list[str], rows: list[list[str]], name: str = "labels.csv"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return folder / name


# (file name, bytes-maker, expected words in the quarantine reason)
def bad_files(tmp: Path) -> dict[str, tuple[bytes, str]]:
    good = png_bytes((1, 2, 3))
    jpeg = png_bytes((9, 8, 7), size=(64, 64), fmt="JPEG")
    bomb = io.BytesIO()
    PILImage.new("1", (9000, 9000)).save(bomb, format="PNG")  # 81 Mpx, a few KB on disk
    float_tiff = io.BytesIO()
    PILImage.new("F", (8, 8)).save(float_tiff, format="TIFF")
    gif = io.BytesIO()
    PILImage.new("P", (8, 8)).save(gif, format="GIF")
    return {
        "zero.png": (b"", "empty file"),
        "text.jpg": (b"this is not an image\n", "not an image"),
        "png-named.jpg": (png_bytes((4, 5, 6)), "does not match"),
        "truncated.png": (good[: len(good) // 2], "corrupt"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "corrupt"),
        "bomb.png": (bomb.getvalue(), "decompression bomb"),
        "float.tif": (float_tiff.getvalue(), "unsupported pixel mode"),
        "garbage.png": (b"\x89PNG\r\n\x1a\n" + os.urandom(200), "not an image"),
        "notes.txt": (b"hello", "unsupported file extension"),
        "gif-named.png": (gif.getvalue(), "does not match"),
    }


def write_bad_catalog(root: Path) -> tuple[Path, dict[str, str], dict[int, str]]:
    """A folder with good rows, ≥10 kinds of bad file and ≥10 kinds of bad row.

    Returns (root, {quarantined path: reason words}, {error line: reason words}).
    """
    rows: list[list[str]] = []
    for i in range(4):
        write_png(root / "good" / f"{i}.png", colour=(60 * i, 10, 10))
        rows.append([f"good/{i}.png", f"good-{i}", "train", "round"])
    quarantined: dict[str, str] = {}
    for name, (payload, words) in bad_files(root).items():
        (root / "bad").mkdir(parents=True, exist_ok=True)
        (root / "bad" / name).write_bytes(payload)
        rows.append([f"bad/{name}", "", "", "round"])
        quarantined[f"bad/{name}"] = words
    write_png(root / "good" / "copy-source.png", colour=(77, 77, 77))
    (root / "good" / "copy.png").write_bytes((root / "good" / "copy-source.png").read_bytes())
    write_png(root / "good" / "x1.png", colour=(1, 99, 1))
    write_png(root / "good" / "x2.png", colour=(2, 99, 2))
    write_png(root / "good" / "x3.png", colour=(3, 99, 3))
    outside = root.parent / "outside.png"
    write_png(outside, colour=(5, 5, 5))
    os.symlink(outside, root / "good" / "link.png")
    bad_rows = [
        (["good/x1.png", "", "", "sweetheart"], "unknown label"),
        (["good/missing.png", "", "", "round"], "file not found"),
        (["../outside.png", "", "", "round"], "escapes the catalog root"),
        (["/etc/passwd", "", "", "round"], "absolute"),
        (["good/0.png", "", "", "round"], "duplicate row"),
        (["good/x2.png", "", "sometimes", "round"], "must be 'train' or 'test'"),
        (["good\\x3.png", "", "", "round"], "backslashes"),
        (["good/copy.png", "", "", "round"], "same file content"),
        (["good/link.png", "", "", "round"], "symlink"),
        (["good/x3.png", "good-0", "test", "round"], "split"),
        (["good/x2.png", "round"], "malformed line"),
        (["", "", "", "round"], "empty path"),
    ]
    rows.append(["good/copy-source.png", "", "", "round"])
    first_bad_line = len(rows) + 2  # header is line 1
    errors: dict[int, str] = {}
    for offset, (row, words) in enumerate(bad_rows):
        rows.append(row)
        errors[first_bad_line + offset] = words
    # Manifest rows of unequal length: write by hand.
    lines = ["path,product,split,neckline"] + [",".join(r) for r in rows]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, quarantined, errors


def catalog_state(dataset) -> dict[str, tuple]:
    """Per photo (its bytes' hash): split, product and each attribute's label name."""
    state = {}
    from curation.models import Annotation, Image

    for image in Image.objects.filter(dataset=dataset).select_related("product"):
        labels = {
            a.attribute.name: a.label.name if a.label else None
            for a in Annotation.objects.filter(image=image).select_related("attribute", "label")
        }
        state[image.sha256] = (image.split, image.product.key, labels)
    return state
