"""Checking one image file and deriving what the catalog stores about it.

Django-free and side-effect free, so import threads (or any process) can run it in parallel.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError

# Formats we accept, and the extensions each may carry.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "GIF": (".gif",),
    "BMP": (".bmp",),
    "TIFF": (".tif", ".tiff"),
}
EXTENSION_FORMAT = {ext: fmt for fmt, exts in FORMAT_EXTENSIONS.items() for ext in exts}
# Pixel modes we can turn into RGB / grey training images without guessing.
ALLOWED_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr"})


@dataclass(frozen=True)
class ImageFacts:
    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str
    phash: str
    thumbnail: bytes | None  # WebP; None when the original is already thumbnail-sized

    @property
    def extension(self) -> str:
        return FORMAT_EXTENSIONS[self.format][0]


@dataclass(frozen=True)
class Rejection:
    sha256: str
    size_bytes: int
    reason: str


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def difference_hash(image: Image.Image) -> str:
    """64-bit dHash: robust to resizing and re-encoding; near-duplicates differ in few bits."""
    small = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    px = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"


def inspect_image(
    data: bytes, *, name: str, max_pixels: int, thumbnail_px: int = 160
) -> ImageFacts | Rejection:
    """Decode `data` and describe it, or say in plain words why it can't be used. width and
    height are the original's, whatever scale a JPEG was decoded at."""
    digest = sha256_of(data)
    size = len(data)

    def reject(reason: str) -> Rejection:
        return Rejection(sha256=digest, size_bytes=size, reason=reason)

    if size == 0:
        return reject("empty file (0 bytes)")
    ext = PurePosixPath(name).suffix.lower()
    if ext not in EXTENSION_FORMAT:
        allowed = ", ".join(sorted(EXTENSION_FORMAT))
        return reject(f"unsupported file extension '{ext or '(none)'}' (allowed: {allowed})")

    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both mean "bomb".
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or "?"
                width, height = probe.size
                mode = probe.mode
                if width * height > max_pixels:
                    return reject(
                        f"decompression bomb: {width}x{height} = {width * height:,} pixels "
                        f"exceeds the limit of {max_pixels:,}"
                    )
                probe.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return reject(f"decompression bomb: {exc}")
        except UnidentifiedImageError:
            return reject("not an image: the content is not a recognised image format")
        except Exception as exc:  # noqa: BLE001 - any decoder error means a broken file
            return reject(f"corrupt image: {exc}")

        if fmt not in FORMAT_EXTENSIONS:
            return reject(f"unsupported image format {fmt}")
        if EXTENSION_FORMAT[ext] != fmt:
            return reject(f"extension '{ext}' does not match the content, which is {fmt}")
        if mode not in ALLOWED_MODES:
            return reject(f"unsupported pixel mode {mode} (e.g. 16/32-bit or float images)")
        try:
            with Image.open(io.BytesIO(data)) as opened:
                # A JPEG decodes at the smallest 1/2, 1/4 or 1/8 scale that still covers the
                # thumbnail, as Pillow's thumbnail() does: every byte of the stream is still
                # decoded, so truncation fails the same way; only the inverse DCT and what
                # follows (dHash, thumbnail) run on fewer pixels.
                opened.draft(None, (thumbnail_px, thumbnail_px))
                opened.load()  # verify() does not decode pixels: this catches truncation
                im = ImageOps.exif_transpose(opened)
                phash = difference_hash(im)
                thumbnail = None
                if max(im.size) > thumbnail_px:
                    thumb = im.convert("L" if im.mode in {"1", "L", "LA"} else "RGB")
                    thumb.thumbnail((thumbnail_px, thumbnail_px), Image.Resampling.LANCZOS)
                    out = io.BytesIO()
                    thumb.save(out, format="WEBP", quality=80, method=0)
                    thumbnail = out.getvalue()
        except Image.DecompressionBombError as exc:
            return reject(f"decompression bomb: {exc}")
        except Exception as exc:  # noqa: BLE001
            return reject(f"truncated or corrupt image: {exc}")
    return ImageFacts(
        sha256=digest,
        size_bytes=size,
        width=width,
        height=height,
        format=fmt,
        phash=phash,
        thumbnail=thumbnail,
    )


def original_key(sha: str, extension: str) -> str:
    return f"originals/{sha[:2]}/{sha}{extension}"


def thumbnail_key(sha: str) -> str:
    return f"thumbs/{sha[:2]}/{sha}.webp"


def preview_jpeg(image: Image.Image, *, side: int = 256) -> bytes:
    """A small JPEG of `image` (longest side at most `side`), e.g. to show a crop inline."""
    small = image.convert("RGB")
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=85)
    return out.getvalue()
