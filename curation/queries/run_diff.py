"""Two runs of one attribute, image by image: the images whose prediction flipped.

Right and wrong are judged at each run, against the label that run saw (RunImage.is_error:
given != predicted, stored when the run finished), so a relabel between the runs shows up
as what it did to each run, not as a change of today's label.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from curation.models import RunImage, TrainingRun


@dataclass(frozen=True)
class FlipKind:
    key: str
    title: str
    condition: Q  # over run B's rows annotated with run A's a_error and a_predicted


KINDS = (
    FlipKind("right_to_wrong", "Right in A, wrong in B", Q(a_error=False, is_error=True)),
    FlipKind("wrong_to_right", "Wrong in A, right in B", Q(a_error=True, is_error=False)),
    FlipKind(
        "both_wrong",
        "Wrong in both, with another prediction",
        Q(a_error=True, is_error=True) & ~Q(a_predicted=F("predicted_label_id")),
    ),
)
KIND_KEYS = tuple(k.key for k in KINDS)


def paired_rows(run_a: TrainingRun, run_b: TrainingRun, split: str) -> QuerySet[RunImage]:
    """Run B's scored rows of `split` for images that run A scored too, each annotated with
    A's a_error and a_predicted (one lookup on A's unique (run, image) index a row)."""
    a_row = RunImage.objects.filter(run_id=run_a.pk, image_id=OuterRef("image_id"))
    return (
        RunImage.objects.filter(run_id=run_b.pk, split=split, predicted_label__isnull=False)
        .annotate(
            a_error=Subquery(a_row.values("is_error")[:1]),
            a_predicted=Subquery(a_row.values("predicted_label_id")[:1]),
        )
        .filter(a_predicted__isnull=False)
    )


def flip_counts(run_a: TrainingRun, run_b: TrainingRun, split: str) -> dict[str, int]:
    """{kind key: images} and "paired": the images both runs scored on the split."""
    found = paired_rows(run_a, run_b, split).aggregate(
        paired=Count("id"), **{k.key: Count("id", filter=k.condition) for k in KINDS}
    )
    return {key: int(value or 0) for key, value in found.items()}


def flipped(run_a: TrainingRun, run_b: TrainingRun, split: str, kind: str) -> QuerySet[RunImage]:
    """Run B's rows of one kind of flip, B's most confident first (a stable order for pages)."""
    condition = next(k.condition for k in KINDS if k.key == kind)
    return (
        paired_rows(run_a, run_b, split)
        .filter(condition)
        .select_related("image")
        .order_by("-confidence", "id")
    )
