"""What curation bought, and what is left: per attribute, the images people reviewed since
the run before the latest began, the labels that changed (train / test), the macro F1 change
between the two runs split into relabels and model (quality.compare), that change per 100
images reviewed, and the wrong labels the latest run still expects (quality.wrong_labels_left).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, OuterRef, Q, Subquery

from curation.models import (
    HUMAN_SOURCES,
    Annotation,
    Attribute,
    Image,
    LabelEvent,
    ReviewCase,
    Split,
    TrainingRun,
)
from curation.queries.quality import WrongLabels, classifier_runs, compare, wrong_labels_left


@dataclass
class Reviewed:
    """What people did to an attribute's labels since a moment."""

    since: datetime
    images: int  # decided in the review queue or relabelled by a person (each image once)
    by_split: dict[str, int]  # of images, per split
    changed: dict[str, int]  # per split: images whose label today differs from before

    @property
    def changed_total(self) -> int:
        return sum(self.changed.values())

    @property
    def confirmed(self) -> int:
        """Images looked at whose label stayed as it was (kept, or changed and put back)."""
        return self.images - self.changed_total


@dataclass
class Payoff:
    latest: TrainingRun
    previous: TrainingRun | None  # the finished run before the latest; None for the first
    reviewed: Reviewed  # since the previous run began (the latest, without a previous)
    waiting: Reviewed | None  # since the latest run began: not yet in any run's model
    change: dict | None  # quality.compare's macro summary, previous -> latest
    wrong: WrongLabels | None  # the latest run's estimate; None for a run from before it

    def per_100(self, key: str) -> float | None:
        """A part of the F1 change (macro_delta, macro_from_relabels, macro_from_model) per
        100 images reviewed; None when there is no change to share out or nobody reviewed."""
        if self.change is None or not self.reviewed.images:
            return None
        return self.change[key] * 100 / self.reviewed.images

    @property
    def delta_per_100(self) -> float | None:
        return self.per_100("macro_delta")

    @property
    def relabels_per_100(self) -> float | None:
        return self.per_100("macro_from_relabels")

    @property
    def model_per_100(self) -> float | None:
        return self.per_100("macro_from_model")


def reviewed_since(attribute: Attribute, since: datetime) -> Reviewed:
    """Images of the attribute people looked at since `since`, and those whose label changed:
    today's label differs from the one before their first change by a person since then (a
    relabel that was reverted changed nothing). Two aggregate queries."""
    decided = ReviewCase.objects.filter(
        attribute=attribute, status=ReviewCase.Status.DECIDED, decided_at__gte=since
    ).values("image_id")
    events = LabelEvent.objects.filter(
        attribute=attribute, source__in=HUMAN_SOURCES, created_at__gte=since
    )
    looked = Image.objects.filter(
        Q(pk__in=decided) | Q(pk__in=events.values("image_id"))
    ).aggregate(
        n=Count("id"),
        **{split: Count("id", filter=Q(split=split)) for split in Split.values},
    )
    before = (
        events.filter(image_id=OuterRef("image_id"))
        .order_by("created_at", "id")
        .values("old_label_id")
    )
    differs = (
        Q(before__isnull=True, label__isnull=False)
        | Q(before__isnull=False, label__isnull=True)
        | (Q(before__isnull=False, label__isnull=False) & ~Q(label_id=F("before")))
    )
    changed = (
        Annotation.objects.filter(attribute=attribute, image_id__in=events.values("image_id"))
        .annotate(before=Subquery(before[:1]))
        .aggregate(
            **{split: Count("id", filter=differs & Q(image__split=split)) for split in Split.values}
        )
    )
    return Reviewed(
        since=since,
        images=looked["n"],
        by_split={split: looked[split] for split in Split.values},
        changed={split: changed[split] for split in Split.values},
    )


def payoff(attribute: Attribute) -> Payoff | None:
    """The attribute's latest finished run against the one before; None without any run."""
    runs = list(classifier_runs(attribute).defer(None).defer("loss_curve", "progress")[:2])
    if not runs:
        return None
    for run in runs:
        run.attribute = attribute  # compare() reads it; one less query per run
    latest = runs[0]
    previous = runs[1] if len(runs) > 1 else None
    reviewed = reviewed_since(attribute, (previous or latest).created_at)
    waiting = reviewed_since(attribute, latest.created_at) if previous is not None else None
    change = compare(previous, latest)[1] if previous is not None else None
    return Payoff(
        latest=latest,
        previous=previous,
        reviewed=reviewed,
        waiting=waiting,
        change=change,
        wrong=wrong_labels_left(latest),
    )
