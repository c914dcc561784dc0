"""Seeded photos for the image-quality checks: clean ones CleanVision passes, and planted
dark, blurry, tiny and odd-aspect ones it should flag, and catalogs of them. Django is
imported only by the catalog helpers: mlcore tests use the photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

SIZE = (96, 128)  # (width, height) of every clean photo
PLANTED = {  # file stem -> the issue type CleanVision must flag it with
    "dark": "dark",
    "blurry": "blurry",
    "tiny": "odd_size",
    "banner": "odd_aspect_ratio",
}


def clean_photo(seed: int, size: tuple[int, int] = SIZE) -> PILImage.Image:
    """Blocks of random mid-range colours: sharp edges, a wide histogram, nothing odd."""
    rng = np.random.default_rng(seed)
    w, h = size
    blocks = rng.integers(30, 230, (max(1, h // 8), max(1, w // 8), 3), dtype=np.uint8)
    return PILImage.fromarray(blocks).resize(size, PILImage.Resampling.NEAREST)


def blurry_photo(seed: int) -> PILImage.Image:
    """Far out of focus and vignetted: a smooth blur of colour fading to black at the edges.

    CleanVision measures blur as the spread of Pillow's FIND_EDGES image, which keeps the
    outermost pixels unfiltered: a blurred photo with a bright frame scores as sharp, so the
    planted one fades out towards its frame, as a vignetted lens would."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    colours = PILImage.fromarray(rng.integers(0, 256, (3, 3, 3), dtype=np.uint8))
    field = np.asarray(colours.resize(SIZE, PILImage.Resampling.BICUBIC), dtype=np.float64)
    y, x = np.mgrid[0:h, 0:w]
    vignette = np.sin(np.pi * (x + 0.5) / w) * np.sin(np.pi * (y + 0.5) / h)  # (H, W)
    faded = (field * vignette[..., None]).clip(0, 255).astype(np.uint8)
    return ImageOps.equalize(PILImage.fromarray(faded))


def planted_photo(kind: str, seed: int) -> PILImage.Image:
    photo = clean_photo(seed)
    if kind == "dark":  # a photo taken with the lights off: nothing brighter than 11%
        return PILImage.fromarray((np.asarray(photo) * 0.12).astype(np.uint8))
    if kind == "blurry":
        return blurry_photo(seed)
    if kind == "tiny":
        return clean_photo(seed, size=(12, 16))
    if kind == "banner":
        return clean_photo(seed, size=(400, 60))
    raise ValueError(f"no planted photo of kind {kind!r}")


def write_photos(folder: Path, *, clean: int, planted: bool, seed: int = 0) -> list[str]:
    """PNG files under `folder`: `clean` clean photos, then (if `planted`) one of each
    PLANTED kind named after it. Returns the file names, clean ones first."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(clean):
        clean_photo(seed * 1000 + i).save(folder / f"clean-{i}.png")
        names.append(f"clean-{i}.png")
    if planted:
        for j, kind in enumerate(PLANTED):
            planted_photo(kind, seed * 1000 + 500 + j).save(folder / f"{kind}.png")
            names.append(f"{kind}.png")
    return names


def seed_catalog(root: Path, name: str, *, planted: bool, clean: int = 10):
    """A catalog of `clean` clean photos (+ one planted photo of each PLANTED kind),
    imported as dataset `name`."""
    from curation.models import Dataset
    from curation.services.imports import import_catalog
    from tests.support.catalogs import write_manifest

    names = write_photos(root / "img", clean=clean, planted=planted, seed=len(name))
    rows = [[f"img/{n}", f"sku-{i}", "", "a-line"] for i, n in enumerate(names)]
    write_manifest(root, ["path", "product", "split", "silhouette"], rows)
    report = import_catalog(str(root), dataset_name=name, create=True)
    assert report.created == len(names), report.to_dict()
    return Dataset.objects.get(name=name)


def findings_by_file(scan) -> dict[str, set[str]]:
    """source file stem -> issue types the scan flagged it with."""
    from curation.models import QualityFinding

    out: dict[str, set[str]] = {}
    for path, issue in QualityFinding.objects.filter(scan=scan).values_list(
        "image__source_path", "issue"
    ):
        out.setdefault(path.rsplit("/", 1)[-1].removesuffix(".png"), set()).add(issue)
    return out
