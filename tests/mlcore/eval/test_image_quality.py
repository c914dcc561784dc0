"""CleanVision's image-quality checks as mlcore runs them: per chunk, and odd size over the
whole catalog."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mlcore.eval.image_quality import (
    PER_IMAGE_ISSUES,
    as_scanned,
    open_for_scan,
    score_images,
    score_sizes,
)
from tests.support.quality_images import PLANTED, SIZE, clean_photo, write_photos


def _flagged(result, pos: int) -> set[str]:
    return {t for t in PER_IMAGE_ISSUES if result.flagged[t][pos]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_flags_planted_dark_and_blurry_photos_and_passes_clean_ones(tmp_path, seed):
    names = write_photos(tmp_path, clean=12, planted=True, seed=seed)
    result = score_images([str(tmp_path / n) for n in names])
    found = {n: _flagged(result, i) for i, n in enumerate(names)}
    assert all(not found[n] for n in names if n.startswith("clean")), found
    assert "dark" in found["dark.png"] and "blurry" in found["blurry.png"]
    assert "odd_aspect_ratio" in found["banner.png"]
    assert result.sizes[names.index("tiny.png")].tolist() == [12, 16]
    assert result.scores["dark"][names.index("dark.png")] < 0.32  # CleanVision's threshold


def test_odd_size_is_scored_over_the_whole_catalog():
    sizes = np.array([[96, 128]] * 20 + [[12, 16], [1600, 2000]])
    scores, flagged = score_sizes(sizes)
    assert flagged.tolist() == [False] * 20 + [True, True]
    assert scores.shape == (22,) and scores[:20].min() > scores[20:].max()


def test_grey_pictures_reach_cleanvision_as_grey_even_when_saved_as_rgb(tmp_path):
    grey = clean_photo(3).convert("L")
    grey.convert("RGB").save(tmp_path / "grey-as-rgb.jpg", quality=95)
    grey.save(tmp_path / "grey.png")
    clean_photo(4).save(tmp_path / "colour.png")
    uris = [str(tmp_path / n) for n in ("grey-as-rgb.jpg", "grey.png", "colour.png")]
    result = score_images(uris)
    assert result.flagged["grayscale"].tolist() == [True, True, False]


def test_an_unreadable_file_is_skipped_with_the_reason(tmp_path):
    clean_photo(5).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    uris = [str(tmp_path / "broken.png"), str(tmp_path / "gone.png"), str(tmp_path / "ok.png")]
    result = score_images(uris)
    assert [pos for pos, _ in result.skipped] == [0, 1]
    assert "cannot" in result.skipped[0][1] and result.skipped[1][1] == "file not found"
    assert np.isnan(result.scores["dark"][0]) and not result.flagged["dark"][:2].any()
    assert result.sizes[2].tolist() == list(SIZE)


def test_a_large_jpeg_is_decoded_small_but_keeps_its_size():
    out = io.BytesIO()
    clean_photo(6, size=(1200, 1600)).save(out, format="JPEG")
    image, size = open_for_scan(out.getvalue(), max_side=256)
    assert size == (1200, 1600) and max(image.size) <= 256 and image.mode == "RGB"


def test_transparent_pictures_are_put_on_white():
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.paste((200, 0, 0, 255), (2, 2, 6, 6))
    scanned = as_scanned(rgba)
    assert scanned.mode == "RGB" and scanned.getpixel((0, 0)) == (255, 255, 255)
    assert scanned.getpixel((3, 3)) == (200, 0, 0)
    assert set(PLANTED.values()) <= {*PER_IMAGE_ISSUES, "odd_size"}
