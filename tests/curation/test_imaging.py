"""Checking one image file: a big JPEG decodes at a reduced scale (as Pillow's thumbnail()
does) yet keeps its own size, its hash and a proper thumbnail, and a cut one still fails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from curation.imaging import ImageFacts, Rejection, difference_hash, inspect_image


def _photo(size=(960, 1280)) -> bytes:
    """A noisy gradient, so the JPEG holds photo-like detail in every block."""
    w, h = size
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    pixels = np.clip(ramp + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_a_big_jpeg_keeps_its_size_hash_and_thumbnail():
    data = _photo()
    facts = inspect_image(data, name="dress.jpg", max_pixels=40_000_000, thumbnail_px=160)
    assert isinstance(facts, ImageFacts)
    assert (facts.width, facts.height, facts.format) == (960, 1280, "JPEG")
    with Image.open(io.BytesIO(data)) as full:
        full.load()
        whole = difference_hash(full)
    # The hash of the reduced decode matches the full image's within a few of its 64 bits.
    assert bin(int(facts.phash, 16) ^ int(whole, 16)).count("1") <= 4
    with Image.open(io.BytesIO(facts.thumbnail)) as thumb:
        assert thumb.size == (120, 160)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.99])
def test_a_cut_big_jpeg_is_refused_as_truncated(keep):
    data = _photo()
    result = inspect_image(
        data[: int(len(data) * keep)], name="dress.jpg", max_pixels=40_000_000, thumbnail_px=160
    )
    assert isinstance(result, Rejection) and "truncated" in result.reason
