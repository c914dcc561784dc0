"""Read side of scoring jobs: what partials/_scoring.html shows on each attribute card.

Two queries for a whole dataset page (the promoted runs, then the latest job of each
attribute); the numbers come from the job's row, never from counting scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max

from curation.models import Attribute, Dataset, PromotedModel, ScoringJob


@dataclass
class ScoringPanel:
    dataset: Dataset
    attribute: Attribute
    run_id: int | None  # the promoted run, when it has a stored model to score with
    latest: ScoringJob | None  # the attribute's most recent job, any model

    @property
    def queue(self) -> str:
        """The queue the attribute's jobs go to, for the "waiting for a worker" note."""
        return settings.CURATION_SCORE_QUEUE

    @property
    def element_id(self) -> str:
        """The panel's HTML id: the element that polls itself and that its buttons swap."""
        return f"scoring-{self.attribute.pk}"

    @property
    def active(self) -> bool:
        return self.latest is not None and self.latest.status in ScoringJob.ACTIVE

    @property
    def current(self) -> bool:
        """The latest job was with today's promoted model."""
        return self.latest is not None and self.latest.run_id == self.run_id

    @property
    def scored(self) -> int:
        return self.latest.done - self.latest.skipped if self.latest is not None else 0


def scoring_panels(dataset: Dataset, attributes: Sequence[Attribute]) -> dict[int, ScoringPanel]:
    """{attribute id: ScoringPanel} for attributes of `dataset`."""
    ids = [a.pk for a in attributes]
    runs = dict(
        PromotedModel.objects.filter(attribute_id__in=ids)
        .exclude(run__artifact_uri="")
        .values_list("attribute_id", "run_id")
    )
    last_ids = (
        ScoringJob.objects.filter(attribute_id__in=ids)
        .values("attribute_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    latest = {j.attribute_id: j for j in ScoringJob.objects.filter(pk__in=list(last_ids))}
    return {a.pk: ScoringPanel(dataset, a, runs.get(a.pk), latest.get(a.pk)) for a in attributes}


def scoring_panel(attribute: Attribute) -> ScoringPanel:
    """One attribute's panel (attribute with .dataset loaded)."""
    return scoring_panels(attribute.dataset, [attribute])[attribute.pk]


def active_job(attribute: Attribute) -> ScoringJob | None:
    """The attribute's queued or running job, if any."""
    jobs = ScoringJob.objects.filter(attribute_id=attribute.pk, status__in=ScoringJob.ACTIVE)
    return jobs.order_by("-id").first()
