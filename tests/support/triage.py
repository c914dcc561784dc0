"""A catalog for keyboard triage: twelve test images, every one a mistake of a finished run,
so galleries hold enough tiles for ten keys and page boundaries (patch GALLERY_PAGE)."""

from __future__ import annotations

from pathlib import Path

from curation.models import Dataset, TrainingRun
from curation.queries import quality
from tests.support.catalogs import write_manifest, write_png
from tests.support.runs import finished_run

NECKLINES = ["round", "v-neck", "boat"]


def triage_run(root: Path, *, images: int = 12) -> TrainingRun:
    """Dataset "triage" (neckline, sleeve), all images in the test split and all predicted
    wrongly (as the next neckline), with distinct confidences."""
    from curation.services.imports import import_catalog

    rows = []
    for i in range(images):
        write_png(root / "img" / f"{i}.png", colour=(20 * i, 90 + 5 * i, 250 - 20 * i))
        rows.append(
            [f"img/{i}.png", f"sku-{i}", "test", NECKLINES[i % 3], ["short", "long"][i % 2]]
        )
    write_manifest(root, ["path", "product", "split", "neckline", "sleeve"], rows)
    report = import_catalog(str(root), dataset_name="triage", create=True)
    assert report.created == images, report.to_dict()
    neckline = Dataset.objects.get(name="triage").attributes.get(name="neckline")
    ids = set(neckline.dataset.images.values_list("pk", flat=True))
    return finished_run(neckline, wrong=ids)


def gallery_order(run: TrainingRun, flt: quality.GalleryFilter) -> list[int]:
    """The gallery's image ids in its order, read in one go (the pages must agree with it)."""
    rows = quality.gallery_rows(run, flt).order_by("-confidence", "-id")
    return list(rows.values_list("image_id", flat=True))
