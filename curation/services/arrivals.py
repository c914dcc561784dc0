"""Deciding new arrivals: accept the promoted model's suggestions, or give images a label by
hand, from the new-arrivals queue. One action is one batch, revertible together
(services.labels.revert_batch); every event names the promoted run (the model version)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from curation import roles
from curation.models import Annotation, Attribute, Image, ImageScore, Label, LabelSource
from curation.services.labels import StaleLabel, relabel_in_batch


class NoPromotedModel(ValueError):
    """The attribute has no promoted model, so there is nothing to accept."""


@dataclass
class ArrivalsResult:
    batch: uuid.UUID
    source: str  # model (suggestions accepted) or manual
    changed: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per image left alone


def accept_suggestions(
    *,
    attribute: Attribute,
    image_ids: Iterable[int],
    actor,
    expected_versions: dict[int, int] | None = None,
) -> ArrivalsResult:
    """Give each image its promoted model's suggested label (source `model`), in one batch.

    Images that got a label since (or whose annotation version differs from
    expected_versions) are left alone and listed in `skipped`: accepting must never
    overwrite a label someone gave meanwhile.
    """
    roles.check(actor, "relabel")
    run_id = _promoted_run_id(attribute)
    ids = list(dict.fromkeys(image_ids))
    scores = {
        s.image_id: s
        for s in ImageScore.objects.filter(
            run_id=run_id, attribute_id=attribute.pk, image_id__in=ids
        ).select_related("image", "predicted_label")
    }
    targets, missing = [], []
    for image_id in ids:
        score = scores.get(image_id)
        if score is None or score.image.dataset_id != attribute.dataset_id:
            missing.append(f"image #{image_id}: run {run_id} has not scored it")
            continue
        note = (
            f"accepted the suggestion of run {run_id} "
            f"(p={score.confidence:.2f}) · from the {attribute.name} new arrivals"
        )
        targets.append((score.image, score.predicted_label, note))
    result = _write(
        attribute,
        targets,
        actor=actor,
        source=LabelSource.MODEL,
        run_id=run_id,
        expected_versions=expected_versions or {},
    )
    result.skipped[:0] = missing
    return result


def label_arrivals(
    *,
    attribute: Attribute,
    image_ids: Iterable[int],
    label: Label,
    actor,
    expected_versions: dict[int, int] | None = None,
) -> ArrivalsResult:
    """Give the images `label` by hand (a number key in the queue: source `manual`), in one
    batch that names the promoted run that queued them. Same refusals as
    accept_suggestions."""
    roles.check(actor, "relabel")
    if label.attribute_id != attribute.pk:
        raise ValueError(f"label '{label.name}' is not a label of '{attribute.name}'")
    run_id = _promoted_run_id(attribute)
    images = Image.objects.filter(dataset_id=attribute.dataset_id, pk__in=list(image_ids))
    note = f"from the {attribute.name} new arrivals of run {run_id}"
    targets = [(image, label, note) for image in images.order_by("id")]
    return _write(
        attribute,
        targets,
        actor=actor,
        source=LabelSource.MANUAL,
        run_id=run_id,
        expected_versions=expected_versions or {},
    )


def _promoted_run_id(attribute: Attribute) -> int:
    run_id = (
        Attribute.objects.filter(pk=attribute.pk).values_list("promoted__run_id", flat=True).first()
    )
    if run_id is None:
        raise NoPromotedModel(
            f"{attribute.name} has no promoted model: promote a finished run first."
        )
    return run_id


def _write(
    attribute: Attribute,
    targets: list[tuple[Image, Label, str]],
    *,
    actor,
    source: str,
    run_id: int,
    expected_versions: dict[int, int],
) -> ArrivalsResult:
    """relabel_image for each (image, label, note) whose label is still empty, in one batch."""
    result = ArrivalsResult(batch=uuid.uuid4(), source=source)
    current = {
        a.image_id: a
        for a in Annotation.objects.filter(
            attribute_id=attribute.pk, image_id__in=[image.pk for image, _, _ in targets]
        ).select_related("label", "updated_by")
    }
    empty, seen = [], {}
    for image, label, note in targets:
        annotation = current.get(image.pk)
        if annotation is not None and annotation.label is not None:
            changed = StaleLabel(annotation).changed_by()
            result.skipped.append(f"{image.source_path}: {changed} meanwhile")
            continue
        empty.append((image, label, note))
        version = annotation.version if annotation is not None else None
        seen[image.pk] = expected_versions.get(image.pk, version)
    result.changed, stale = relabel_in_batch(
        empty,
        attribute=attribute,
        actor=actor,
        batch=result.batch,
        expected_versions=seen,
        source=source,
        flagged_by_run_id=run_id,
    )
    result.skipped += stale
    return result
