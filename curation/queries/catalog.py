"""Datasets, attributes, images and their labels, as the pages and the API read them."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageBox,
    ImageStatus,
    Label,
    LabelEvent,
    LabelTally,
    Split,
    SplitTally,
)


def datasets_with_counts(datasets: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """Each of `datasets` (those the user may see: access.visible_datasets) with n_ok (usable
    images, from the trigger-kept SplitTally rows), n_test (those in the test split: the
    share the list shows is the data's, not the dataset's test_fraction setting, which only
    new products follow) and n_quarantined (an index range on
    (dataset, status): quarantined images are few), so the list never counts the catalog."""
    usable = (
        SplitTally.objects.filter(dataset_id=OuterRef("pk"))
        .values("dataset_id")
        .annotate(n=Sum("n"))
        .values("n")
    )
    quarantined = (
        Image.objects.filter(dataset_id=OuterRef("pk"), status=ImageStatus.QUARANTINED)
        .values("dataset_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    test = (
        SplitTally.objects.filter(dataset_id=OuterRef("pk"), split=Split.TEST)
        .values("dataset_id")
        .annotate(n=Sum("n"))
        .values("n")
    )
    return datasets.annotate(
        n_ok=Coalesce(Subquery(usable, output_field=IntegerField()), 0),
        n_test=Coalesce(Subquery(test, output_field=IntegerField()), 0),
        n_quarantined=Coalesce(Subquery(quarantined, output_field=IntegerField()), 0),
    ).order_by("name")


def usable_count(dataset: Dataset) -> int:
    """Usable (status ok) images in the dataset, from the tallies: one indexed row a split."""
    return SplitTally.objects.filter(dataset=dataset).aggregate(n=Sum("n"))["n"] or 0


def has_boxes(dataset: Dataset) -> bool:
    """Whether any image of the dataset has a box (drawn, or from a synthetic catalog): only
    then do its image pages offer one."""
    return ImageBox.objects.filter(image__dataset=dataset).exists()


def missing_box_count(dataset: Dataset) -> int:
    """Usable images without a box: the tallied usable count less the boxed ones (boxes are
    drawn by people or come with a synthetic catalog, so they are the short side to count),
    instead of an anti-join over the whole catalog."""
    usable = usable_count(dataset)
    boxed = ImageBox.objects.filter(image__dataset=dataset, image__status=ImageStatus.OK).count()
    return usable - boxed


def attributes_with_labels(dataset: Dataset) -> list[Attribute]:
    return list(
        Attribute.objects.filter(dataset=dataset)
        .order_by("position", "id")
        .prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("position", "id")))
    )


@dataclass
class LabelCountRow:
    label: Label | None  # None: images without a label
    train: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.test


def label_counts(dataset: Dataset, attributes: list[Attribute]) -> dict[int, list[LabelCountRow]]:
    """attribute id -> one row per label (in label order) with train/test image counts.

    Reads the trigger-kept LabelTally rows (a few per label), never the catalog.
    """
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: {"train": 0, "test": 0})
    for attr_id, key, split, n in LabelTally.objects.filter(
        attribute_id__in=[a.pk for a in attributes]
    ).values_list("attribute_id", "label_key", "split", "n"):
        counts[(attr_id, key)][split] += n
    result: dict[int, list[LabelCountRow]] = {}
    for attr in attributes:
        rows = [LabelCountRow(lab, **counts[(attr.pk, lab.pk)]) for lab in attr.labels.all()]
        if any(counts.get((attr.pk, 0), {}).values()):
            rows.append(LabelCountRow(None, **counts[(attr.pk, 0)]))
        result[attr.pk] = rows
    return result


def split_counts(dataset: Dataset) -> dict[str, int]:
    found = dict(SplitTally.objects.filter(dataset=dataset).values_list("split", "n"))
    return {s: found.get(s, 0) for s in Split.values}


def image_labels(image: Image) -> list[tuple[Attribute, Annotation | None]]:
    """Each attribute of the image's dataset with the image's current annotation (or None)."""
    attributes = attributes_with_labels(image.dataset)
    by_attr = {
        a.attribute_id: a
        for a in Annotation.objects.filter(image=image).select_related("label", "updated_by")
    }
    return [(attr, by_attr.get(attr.pk)) for attr in attributes]


def image_history(image: Image) -> list[LabelEvent]:
    return list(
        LabelEvent.objects.filter(image=image)
        .select_related("attribute", "old_label", "new_label", "actor")
        .prefetch_related("reverted_by")
        .order_by("-id")
    )


def dataset_history(
    dataset: Dataset, *, after: int | None = None, limit: int = 100
) -> list[LabelEvent]:
    qs = LabelEvent.objects.filter(image__dataset=dataset)
    if after is not None:
        qs = qs.filter(id__lt=after)
    return list(
        qs.select_related("image", "attribute", "old_label", "new_label", "actor").order_by("-id")[
            :limit
        ]
    )


def typical_side(dataset: Dataset) -> int:
    """Median longer side of (up to 500 of) the dataset's usable images; 224 when unknown."""
    sizes = list(
        Image.objects.filter(dataset=dataset, status=ImageStatus.OK)
        .exclude(width=None)
        .exclude(height=None)
        .values_list("width", "height")[:500]
    )
    return int(statistics.median(max(w or 0, h or 0) for w, h in sizes)) if sizes else 224
