"""Creating datasets and their attribute taxonomies."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from curation.models import Attribute, Dataset, Label


@transaction.atomic
def create_dataset(
    *,
    name: str,
    title: str = "",
    description: str = "",
    test_fraction: float | None = None,
    is_synthetic: bool = False,
    attributes: dict[str, list[str]] | None = None,
) -> Dataset:
    """Create a dataset, optionally with attributes and their labels in display order."""
    fraction = settings.CURATION_DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), not {fraction}")
    dataset = Dataset.objects.create(
        name=name,
        title=title or name,
        description=description,
        test_fraction=fraction,
        is_synthetic=is_synthetic,
    )
    for position, (attr_name, label_names) in enumerate((attributes or {}).items()):
        attribute = Attribute.objects.create(dataset=dataset, name=attr_name, position=position)
        Label.objects.bulk_create(
            Label(attribute=attribute, name=label, position=i)
            for i, label in enumerate(label_names)
        )
    return dataset


@transaction.atomic
def move_label(*, label: Label, offset: int) -> None:
    """Move a label up (offset -1) or down (+1) in its attribute's display order."""
    labels = list(
        Label.objects.select_for_update()
        .filter(attribute_id=label.attribute_id)
        .order_by("position", "id")
    )
    index = next(i for i, candidate in enumerate(labels) if candidate.pk == label.pk)
    target = index + offset
    if not 0 <= target < len(labels):
        return
    labels.insert(target, labels.pop(index))
    for position, item in enumerate(labels):
        item.position = position
    Label.objects.bulk_update(labels, ["position"])
