"""The new-arrivals queue of one attribute: usable images without a label for it that its
promoted model has scored, most (or least) confident first, a page at a time, each with the
suggested label and the next ones.

An image leaves the queue as soon as it has a label (accepted, relabelled, imported); a
reverted batch puts its images back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, QuerySet

from curation.models import (
    Annotation,
    Attribute,
    ImageScore,
    ImageStatus,
    Label,
    LabelEvent,
    ScoringJob,
    TrainingRun,
)
from curation.queries.scores import Suggestion, decoded_probs, top_suggestions

PAGE = 24
TOP = 3  # the suggestion and the next two
ORDERS = ("confident", "least")  # most confident first (the default), least confident first


@dataclass(frozen=True)
class Arrival:
    image_id: int
    source_path: str
    position: int  # 1-based place in the queue ("n of N")
    top: list[Suggestion]  # the suggestion first
    version: int | None  # the empty annotation's version; None: the image has none yet

    @property
    def suggestion(self) -> Suggestion:
        return self.top[0]


@dataclass(frozen=True)
class Queue:
    run: TrainingRun
    page: Page  # of ImageScore rows; `arrivals` is the same page, ready to show
    arrivals: list[Arrival]
    order: str

    @property
    def total(self) -> int:
        return self.page.paginator.count


@dataclass(frozen=True)
class BatchSummary:
    """What one action in the queue wrote: for the undo banner."""

    batch: uuid.UUID
    changed: int
    source: str  # model (accepted) or manual (relabelled)
    reverted: int  # of its events, reverted since


def arrival_scores(attribute: Attribute, run_id: int) -> QuerySet[ImageScore]:
    """ImageScore rows of run_id for usable images of the attribute that have no label."""
    labelled = Annotation.objects.filter(
        image_id=OuterRef("image_id"), attribute_id=attribute.pk, label__isnull=False
    )
    return ImageScore.objects.filter(
        run_id=run_id, attribute_id=attribute.pk, image__status=ImageStatus.OK
    ).filter(~Exists(labelled))


def queue(
    attribute: Attribute,
    run: TrainingRun,
    *,
    labels: list[Label],
    order: str = "confident",
    page: str | int = 1,
) -> Queue:
    """One page of the queue (labels: the attribute's, in order). Three queries: the count,
    the page, its annotations."""
    ordering = ("confidence", "id") if order == "least" else ("-confidence", "id")
    rows = (
        arrival_scores(attribute, run.pk)
        .select_related("image")
        .only("id", "image_id", "probs", "confidence", "image__source_path")
        .order_by(*ordering)
    )
    current = Paginator(rows, PAGE).get_page(page)
    scores = list(current.object_list)
    ids = [s.image_id for s in scores]
    versions = dict(
        Annotation.objects.filter(image_id__in=ids, attribute_id=attribute.pk).values_list(
            "image_id", "version"
        )
    )
    by_name = {label.name: label.pk for label in labels}
    names = list(run.label_names)
    arrivals = [
        Arrival(
            image_id=s.image_id,
            source_path=s.image.source_path,
            position=current.start_index() + i,
            top=top_suggestions(decoded_probs(s.probs), names, by_name, top=TOP),
            version=versions.get(s.image_id),
        )
        for i, s in enumerate(scores)
    ]
    return Queue(run=run, page=current, arrivals=arrivals, order=order)


def batch_summary(attribute: Attribute, batch: uuid.UUID) -> BatchSummary | None:
    """The queue action `batch` on this attribute; None when it wrote nothing here."""
    events = LabelEvent.objects.filter(batch=batch, attribute_id=attribute.pk)
    counts = list(events.values("source").annotate(n=Count("id")).order_by("-n"))
    if not counts:
        return None
    reverted = LabelEvent.objects.filter(reverts__in=events).count()
    return BatchSummary(
        batch=batch,
        changed=sum(c["n"] for c in counts),
        source=counts[0]["source"],
        reverted=reverted,
    )


def active_scoring(attribute: Attribute) -> ScoringJob | None:
    """The attribute's queued or running scoring job, for the empty queue's note."""
    return (
        ScoringJob.objects.filter(attribute_id=attribute.pk, status__in=ScoringJob.ACTIVE)
        .order_by("-id")
        .first()
    )
