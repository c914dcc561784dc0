"""Auto-accept: a data scientist's target precision per attribute, and writing the tags it
allows on new arrivals (source `auto`, one batch, revertible together).

The plan (which arrivals get which label) is queries/auto_accept.auto_accept_plan; apply
recomputes it and refuses when it is not the plan the person previewed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction

from curation import roles
from curation.models import Annotation, Attribute, Image, Label, LabelSource
from curation.queries.auto_accept import Plan, auto_accept_plan
from curation.services.labels import StaleLabel, relabel_image

TARGET_MIN, TARGET_MAX = 0.5, 0.999


class BadTarget(ValueError):
    """A target precision the app can't use."""


class PlanChanged(Exception):
    """The arrivals, scores or target changed since the preview the person applied."""


def clean_target(raw: str) -> float | None:
    """A typed target precision ("0.98"); None for an empty field (auto-accept off)."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadTarget(
            f"target: '{text}' is not a number; enter a precision between {TARGET_MIN} and "
            f"{TARGET_MAX}, e.g. 0.98 (leave it empty to turn auto-accept off)."
        ) from None
    if not TARGET_MIN <= value <= TARGET_MAX:
        raise BadTarget(
            f"target: {text} is outside {TARGET_MIN}–{TARGET_MAX}; enter a precision such as "
            "0.98 for 98% (a share, not a percentage)."
        )
    return value


def set_auto_accept_target(*, attribute: Attribute, target: float | None, actor) -> Attribute:
    """Set (or, with None, clear) the precision auto-accept must meet for the attribute."""
    roles.check(actor, "auto_accept")
    if target is not None and not TARGET_MIN <= target <= TARGET_MAX:
        raise BadTarget(f"target: {target} is outside {TARGET_MIN}–{TARGET_MAX}.")
    attribute.auto_accept_target = target
    attribute.save(update_fields=["auto_accept_target"])
    return attribute


@dataclass
class AutoAcceptResult:
    batch: uuid.UUID | None  # None: nothing was written
    tagged: int
    per_class: dict[str, int] = field(default_factory=dict)  # label name -> tags written
    skipped: list[str] = field(default_factory=list)  # labelled by someone meanwhile


def apply_auto_accept(
    *, attribute: Attribute, actor, fingerprint: str | None = None
) -> AutoAcceptResult:
    """Tag the arrivals the attribute's target allows, with source `auto`, naming the
    promoted run. fingerprint: the previewed plan's; a different plan now raises PlanChanged
    (nothing written), so only what the person saw is tagged."""
    roles.check(actor, "auto_accept")
    roles.check(actor, "relabel")
    plan = auto_accept_plan(attribute)
    if fingerprint is not None and plan.fingerprint != fingerprint:
        raise PlanChanged(
            "The preview changed since you loaded it (new scores, labels or target): "
            f"it now tags {plan.tagged} image(s). Check it and apply again."
        )
    if not plan.tags:
        return AutoAcceptResult(None, 0)
    return _write(plan, attribute, actor)


def _write(plan: Plan, attribute: Attribute, actor) -> AutoAcceptResult:
    assert plan.run is not None and plan.target is not None
    image_ids = [image_id for image_id, _, _ in plan.tags]
    images = Image.objects.in_bulk(image_ids)
    labels = Label.objects.in_bulk({label_id for _, label_id, _ in plan.tags})
    thresholds = {c.label_id: c.threshold for c in plan.classes}
    batch = uuid.uuid4()
    result = AutoAcceptResult(batch, 0)
    with transaction.atomic():
        current = {
            image_id: (version, given)
            for image_id, version, given in Annotation.objects.filter(
                image_id__in=image_ids, attribute_id=attribute.pk
            )
            .select_for_update()
            .values_list("image_id", "version", "label_id")
        }
        for image_id, label_id, confidence in plan.tags:
            label = labels[label_id]
            version, given = current.get(image_id, (None, None))
            if given is not None:  # a person or an import labelled it after the plan was read
                result.skipped.append(f"{images[image_id].source_path}: labelled meanwhile")
                continue
            note = (
                f"auto-accept at target {plan.target:.3f}: confidence {confidence:.3f} "
                f">= threshold {thresholds[label_id]:.3f} of run {plan.run.pk}"
            )
            try:
                with transaction.atomic():
                    _, event = relabel_image(
                        image=images[image_id],
                        attribute=attribute,
                        label=label,
                        actor=actor,
                        expected_version=version,
                        source=LabelSource.AUTO,
                        note=note,
                        batch=batch,
                        flagged_by_run_id=plan.run.pk,
                    )
            except StaleLabel as exc:
                result.skipped.append(f"{images[image_id].source_path}: {exc.changed_by()}")
                continue
            if event is not None:
                result.tagged += 1
                result.per_class[label.name] = result.per_class.get(label.name, 0) + 1
    if not result.tagged:
        result.batch = None
    return result
