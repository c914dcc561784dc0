"""Decoding one image: Pillow, EXIF orientation applied, always 3-channel RGB."""

from __future__ import annotations

import io
import os

from PIL import Image, ImageOps, UnidentifiedImageError

from mlcore.storage import S3Options, read_bytes


class ImageError(ValueError):
    """An image that cannot be read or decoded; the message says why."""


def decode_image(data: bytes, *, name: str = "image") -> Image.Image:
    """Bytes -> an RGB PIL image, fully decoded (a truncated file fails here, not later).

    Grey images become 3-channel; transparent ones are composited onto white, the usual
    background of product photos.
    """
    if not data:
        raise ImageError(f"{name}: file is empty")
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
        image = ImageOps.exif_transpose(image) or image
        if image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        ):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name}: not an image file Pillow can read") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: cannot decode ({exc})") from exc


def load_image(uri: str | os.PathLike[str], *, s3: S3Options | None = None) -> Image.Image:
    """Read and decode a local path or s3:// URI; any failure becomes an ImageError."""
    try:
        data = read_bytes(uri, s3=s3)
    except FileNotFoundError as exc:
        raise ImageError(f"{uri}: file not found") from exc
    except Exception as exc:  # noqa: BLE001 - OSError, botocore errors: skip, don't crash
        raise ImageError(f"{uri}: cannot read ({exc})") from exc
    return decode_image(data, name=str(uri))
