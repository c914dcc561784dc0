"""Changing labels: one image, many images, and reverting history. Every change writes a
LabelEvent in the same transaction as the label itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation import roles
from curation.models import Annotation, Attribute, Image, Label, LabelEvent, LabelSource

PERSON_SOURCES = {LabelSource.MANUAL, LabelSource.REVIEW, LabelSource.REVERT}

# A reason a person types for a change; the event's note keeps it with room for where the
# change was made ("… · from the neckline gallery of run 12").
REASON_MAX = 300


class BadReason(ValueError):
    """A typed reason the history can't keep as it is."""


def clean_reason(raw: str) -> str:
    """The reason a person typed for a relabel, trimmed; "" when none. Raises BadReason when
    it is longer than REASON_MAX (cutting it would silently drop what they wrote)."""
    reason = " ".join(raw.split())
    if len(reason) > REASON_MAX:
        raise BadReason(
            f"The reason is {len(reason)} characters long; keep it to {REASON_MAX} and try again."
        )
    return reason


class StaleLabel(Exception):
    """The label changed since the caller read it (optimistic concurrency)."""

    def __init__(self, annotation: Annotation):
        self.annotation = annotation
        super().__init__(
            f"the label was changed (now version {annotation.version}) since you loaded it; "
            "reload to see the current value"
        )

    def changed_by(self, what: str = "it") -> str:
        """'<who> changed <what> to <label>', naming the person (or the import) who did."""
        ann = self.annotation
        current = ann.label.name if ann.label else "no label"
        who = ann.updated_by.username if ann.updated_by else ann.last_source
        return f"{who} changed {what} to {current}"


def relabel_image(
    *,
    image: Image,
    attribute: Attribute,
    label: Label | None,
    actor,
    expected_version: int | None = None,
    source: str = LabelSource.MANUAL,
    note: str = "",
    batch: uuid.UUID | None = None,
    flagged_by_run_id: int | None = None,
    reverts: LabelEvent | None = None,
) -> tuple[Annotation, LabelEvent | None]:
    """Set image's label for attribute. Returns the annotation and the event (None: no change).

    expected_version: the annotation version the caller saw; a different current version
    raises StaleLabel, so two people can't silently overwrite each other.
    """
    if source in PERSON_SOURCES:
        roles.check(actor, "relabel")
    if attribute.dataset_id != image.dataset_id:
        raise ValueError(f"attribute '{attribute.name}' belongs to another dataset")
    if label is not None and label.attribute_id != attribute.pk:
        raise ValueError(f"label '{label.name}' is not a label of '{attribute.name}'")
    with transaction.atomic():
        annotation, _ = Annotation.objects.get_or_create(
            image=image, attribute=attribute, defaults={"last_source": source, "version": 1}
        )
        if expected_version is not None and annotation.version != expected_version:
            raise StaleLabel(annotation)
        new_label_id = label.pk if label else None
        if annotation.label_id == new_label_id:
            return annotation, None
        now, actor_id = timezone.now(), getattr(actor, "pk", None)
        changed = Annotation.objects.filter(pk=annotation.pk, version=annotation.version).update(
            label_id=new_label_id,
            version=F("version") + 1,
            last_source=source,
            updated_by_id=actor_id,
            updated_at=now,
        )
        if not changed:  # someone committed between our read and our write
            annotation.refresh_from_db()
            raise StaleLabel(annotation)
        event = LabelEvent.objects.create(
            image=image,
            attribute=attribute,
            old_label_id=annotation.label_id,
            new_label_id=new_label_id,
            actor_id=actor_id,
            source=source,
            note=note[:500],
            batch=batch,
            flagged_by_run_id=flagged_by_run_id,
            reverts=reverts,
        )
    # What the UPDATE wrote (it matched this version), without reading the row back.
    annotation.label_id, annotation.version = new_label_id, annotation.version + 1
    annotation.last_source, annotation.updated_by_id, annotation.updated_at = source, actor_id, now
    return annotation, event


@dataclass
class BulkResult:
    batch: uuid.UUID
    changed: int
    stale: list[str]  # one line per image left alone because someone changed it first


def relabel_images(
    *,
    images: Iterable[Image],
    attribute: Attribute,
    label: Label | None,
    actor,
    note: str = "",
    expected_versions: dict[int, int] | None = None,
    flagged_by_run_id: int | None = None,
) -> BulkResult:
    """Give many images the same label in one batch (revertable together).

    expected_versions: image id -> the annotation version the person saw; images whose label
    changed since are left alone and listed in `stale`, the rest are changed.
    """
    roles.check(actor, "relabel")
    batch = uuid.uuid4()
    changed, stale = relabel_in_batch(
        [(image, label, note) for image in images],
        attribute=attribute,
        actor=actor,
        batch=batch,
        expected_versions=expected_versions or {},
        flagged_by_run_id=flagged_by_run_id,
    )
    return BulkResult(batch, changed, stale)


def relabel_in_batch(
    targets: Iterable[tuple[Image, Label | None, str]],
    *,
    attribute: Attribute,
    actor,
    batch: uuid.UUID,
    expected_versions: Mapping[int, int | None],
    source: str = LabelSource.MANUAL,
    flagged_by_run_id: int | None = None,
) -> tuple[int, list[str]]:
    """relabel_image for each (image, label, note), all in `batch` (revertable together).

    expected_versions: image id -> the annotation version the person saw; an image whose
    label changed since is left alone (its own savepoint) and named in one line, the rest
    are changed. Returns (changed, those lines).
    """
    changed, stale = 0, []
    with transaction.atomic():
        for image, label, note in targets:
            try:
                with transaction.atomic():
                    _, event = relabel_image(
                        image=image,
                        attribute=attribute,
                        label=label,
                        actor=actor,
                        expected_version=expected_versions.get(image.pk),
                        source=source,
                        note=note,
                        batch=batch,
                        flagged_by_run_id=flagged_by_run_id,
                    )
            except StaleLabel as exc:
                stale.append(f"{image.source_path}: {exc.changed_by()} since you loaded the page")
                continue
            changed += event is not None
    return changed, stale


def revert_label_event(
    *, event: LabelEvent, actor, batch: uuid.UUID | None = None
) -> LabelEvent | None:
    """Put the label back to what it was before `event`, as a new `revert` event.

    Refuses when the label has changed again since: reverting would silently drop that
    later change. Returns None when the label is already back at the old value.
    """
    roles.check(actor, "relabel")
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().get(
            image_id=event.image_id, attribute_id=event.attribute_id
        )
        if annotation.label_id == event.old_label_id:
            return None
        if annotation.label_id != event.new_label_id:
            current = annotation.label.name if annotation.label else "no label"
            raise StaleLabel(annotation) from ValueError(
                f"the label has changed since this event (it is now {current}); "
                "revert the later change first"
            )
        _, new_event = relabel_image(
            image=event.image,
            attribute=event.attribute,
            label=event.old_label,
            actor=actor,
            expected_version=annotation.version,
            source=LabelSource.REVERT,
            note=f"revert of event {event.pk}",
            batch=batch,
            reverts=event,
        )
    return new_event


def revert_batch(*, batch: uuid.UUID, actor) -> tuple[int, list[str]]:
    """Revert every event of a batch, newest first. Returns (reverted, problems)."""
    roles.check(actor, "relabel")
    events = list(
        LabelEvent.objects.filter(batch=batch)
        .select_related("image", "attribute", "old_label", "new_label")
        .order_by("-id")
    )
    if not events:
        raise LabelEvent.DoesNotExist(f"no label changes in batch {batch}")
    revert_id = uuid.uuid4()
    reverted, problems = 0, []
    for event in events:
        try:
            with transaction.atomic():
                done = revert_label_event(event=event, actor=actor, batch=revert_id)
            reverted += done is not None
        except StaleLabel as exc:
            problems.append(
                f"{event.image.source_path} ({event.attribute.name}): {exc.__cause__ or exc}"
            )
    return reverted, problems
