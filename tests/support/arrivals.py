"""New arrivals with a promoted model's scores, written straight into the database: a
finished run (tests/support/runs.py) promoted for the attribute, a second import of images
with no label, and ImageScore rows as a scoring job would leave them (the scoring job
itself is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

from curation.models import (
    Annotation,
    Attribute,
    Image,
    ImageScore,
    Label,
    PromotedModel,
    TrainingRun,
)
from curation.services.imports import import_catalog
from tests.support.catalogs import write_manifest, write_png
from tests.support.runs import finished_run


def import_arrivals(dataset_name: str, root: Path, count: int, *, start: int = 0) -> list[Image]:
    """`count` new images (new/<start>.png on) with empty label cells, imported into the
    dataset; returns every new/ image of the dataset in path order."""
    rows = []
    for i in range(start, start + count):
        write_png(root / "new" / f"{i}.png", colour=((250 - 9 * i) % 256, (10 + 23 * i) % 256, 90))
        rows.append([f"new/{i}.png", f"new-sku-{i}", "train", "", ""])
    write_manifest(root, ["path", "product", "split", "neckline", "sleeve"], rows)
    report = import_catalog(str(root), dataset_name=dataset_name)
    assert report.created == count, report.to_dict()
    return list(
        Image.objects.filter(dataset__name=dataset_name, source_path__startswith="new/").order_by(
            "source_path"
        )
    )


def promote(attribute: Attribute, run: TrainingRun | None = None) -> TrainingRun:
    run = run or finished_run(attribute)
    PromotedModel.objects.update_or_create(attribute=attribute, defaults={"run": run})
    return run


def score(run: TrainingRun, image: Image, probs: list[float]) -> ImageScore:
    """The run's calibrated scores for image (probs in run.label_names order)."""
    assert run.attribute is not None
    best = max(range(len(probs)), key=lambda i: probs[i])
    label = Label.objects.get(attribute=run.attribute, name=run.label_names[best])
    return ImageScore.objects.create(
        run=run,
        image=image,
        attribute=run.attribute,
        probs=probs,
        predicted_label=label,
        confidence=probs[best],
    )


def three_scored_arrivals(attribute: Attribute, folder: Path) -> tuple[TrainingRun, list[Image]]:
    """A promoted run and three unlabelled new images it scored: round .9, v-neck .8, boat .7
    (the small catalog's necklines)."""
    run = promote(attribute)
    images = import_arrivals(attribute.dataset.name, folder, 3)
    score(run, images[0], [0.9, 0.06, 0.04])
    score(run, images[1], [0.1, 0.8, 0.1])
    score(run, images[2], [0.2, 0.1, 0.7])
    return run, images


def label_of(image: Image, attribute: Attribute) -> str | None:
    """The image's current label name for the attribute (None: no label)."""
    ann = (
        Annotation.objects.filter(image=image, attribute=attribute).select_related("label").first()
    )
    return ann.label.name if ann and ann.label else None
