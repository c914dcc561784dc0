"""Ground-truth dress boxes: drawn in the box editor, or exact from the synthetic generator."""

from __future__ import annotations

import csv
from pathlib import Path

from curation import roles
from curation.models import Dataset, Image, ImageBox, ImageStatus
from curation.services.indexes import SimilarityError


def save_box(*, image: Image, box: tuple[float, float, float, float], actor) -> ImageBox:
    """Set the image's ground-truth box, (x0, y0, x1, y1) as fractions of width and height."""
    roles.check(actor, "edit_boxes")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise SimilarityError(
            "a box needs 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1 (fractions of the image); "
            f"got ({x0:.3f}, {y0:.3f}, {x1:.3f}, {y1:.3f})"
        )
    if (x1 - x0) * (image.width or 1) < 2 or (y1 - y0) * (image.height or 1) < 2:
        raise SimilarityError("the box is smaller than 2 pixels; draw it around the whole dress")
    found, _ = ImageBox.objects.update_or_create(
        image=image,
        defaults={
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
            "source": ImageBox.Source.MANUAL,
            "updated_by": actor,
        },
    )
    return found


def import_boxes(*, dataset: Dataset, meta_csv: Path) -> int:
    """Exact boxes from the synthetic generator's meta.csv (pixels) for images already
    imported from the same folder. Returns how many were stored."""
    images = {
        im.source_path: im
        for im in Image.objects.filter(dataset=dataset, status=ImageStatus.OK).only(
            "id", "source_path", "width", "height"
        )
    }
    boxes = []
    with open(meta_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            image = images.get(row["path"])
            if image is None or not image.width or not image.height:
                continue
            w, h = image.width, image.height
            boxes.append(
                ImageBox(
                    image=image,
                    source=ImageBox.Source.SYNTHETIC,
                    x0=int(row["x0"]) / w,
                    y0=int(row["y0"]) / h,
                    x1=int(row["x1"]) / w,
                    y1=int(row["y1"]) / h,
                )
            )
    ImageBox.objects.bulk_create(
        boxes,
        update_conflicts=True,
        unique_fields=["image"],
        update_fields=["x0", "y0", "x1", "y1", "source"],
        batch_size=1000,
    )
    return len(boxes)
