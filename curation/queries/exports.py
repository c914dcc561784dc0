"""A dataset's current labels as rows a manifest (labels.csv) can carry: path, product, split
and one column per attribute, read in keyset-paged chunks so a catalog of any size streams in
constant memory (two queries per chunk)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from curation.models import Annotation, Attribute, Dataset, Image, ImageStatus

CHUNK = 2000


@dataclass(frozen=True)
class LabelRow:
    image_id: int
    source_path: str
    product: str
    split: str
    file: str
    labels: dict[int, str]  # attribute id -> label name (absent: no label)


def export_attributes(dataset: Dataset) -> list[Attribute]:
    return list(dataset.attributes.order_by("name"))


def usable_count(dataset: Dataset) -> int:
    return Image.objects.filter(dataset=dataset, status=ImageStatus.OK).count()


def label_rows(dataset: Dataset, *, chunk: int = CHUNK) -> Iterator[list[LabelRow]]:
    """Every usable image of `dataset` with its current labels, in chunks, by id."""
    images = Image.objects.filter(dataset=dataset, status=ImageStatus.OK).order_by("id")
    last = 0
    while True:
        page = list(
            images.filter(id__gt=last).values_list(
                "id", "source_path", "product__key", "split", "file"
            )[:chunk]
        )
        if not page:
            return
        labels: dict[int, dict[int, str]] = {}
        ids = [row[0] for row in page]
        annotations = Annotation.objects.filter(image_id__in=ids, label__isnull=False)
        for image_id, attribute_id, name in annotations.values_list(
            "image_id", "attribute_id", "label__name"
        ):
            labels.setdefault(image_id, {})[attribute_id] = name
        yield [
            LabelRow(pk, path, product, split, file, labels.get(pk, {}))
            for pk, path, product, split, file in page
        ]
        last = page[-1][0]
