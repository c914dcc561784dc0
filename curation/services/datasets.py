"""Creating datasets, their attribute taxonomies, and who may see them (teams)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from curation.models import Attribute, Dataset, Label
from curation.roles import ROLES


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


class NotATeam(ValueError):
    """A role group (viewer, merchandiser, ...) given as a team."""


@transaction.atomic
def set_dataset_teams(*, dataset: Dataset, teams: Iterable[Group]) -> list[str]:
    """Limit `dataset` to members of `teams` (none: open to everyone with a role again).
    Roles are not teams: limiting a dataset to "viewer" would read as a level of permission
    while it only names people, so it is refused. Returns the team names now set."""
    teams = list(teams)
    roles = sorted(t.name for t in teams if t.name in ROLES)
    if roles:
        raise NotATeam(
            f"{', '.join(roles)} is a role, not a team; make a group for the team "
            "(e.g. 'brand-a') and add its people to it"
        )
    dataset.teams.set(teams)
    return sorted(t.name for t in teams)
