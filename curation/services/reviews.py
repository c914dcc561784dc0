"""The likely-mislabel review queue: suspects of a run go to reviewers, who vote; the
dataset's rule decides, and a decision is applied as a `review` label change.

The same rule takes votes from signed-in reviewers and from an outside crowd (answers
imported from a CSV/JSON export), so both paths decide alike.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from curation import roles
from curation.models import Label, LabelSource, ReviewItem, ReviewVote, RunImage, TrainingRun
from curation.params import BadParameter, parse_int
from curation.services.labels import relabel_image

DEFAULT_QUEUE_SIZE = 200


class ReviewError(Exception):
    """A vote that can't be taken; the message says why."""


def queue_suspects(*, run: TrainingRun, limit: int = DEFAULT_QUEUE_SIZE) -> int:
    """Put the first `limit` images of the run's review order in its review queue (runs from
    before the review order: its `limit` top flagged suspects). Idempotent; returns how many
    items were added."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    rank = "review_rank"
    if not RunImage.objects.filter(run=run, review_rank__isnull=False).exists():
        rank = "suspect_rank"
    rows = list(
        RunImage.objects.filter(run=run, **{f"{rank}__isnull": False, f"{rank}__lte": limit})
        .exclude(predicted_label=None)
        .values_list("image_id", "given_label_id", "predicted_label_id", "quality", rank)
    )
    items = [
        ReviewItem(
            run=run,
            image_id=image_id,
            attribute_id=run.attribute_id,
            given_label_id=given,
            suggested_label_id=predicted if predicted != given else None,
            score=quality,
            rank=rank or 0,  # never 0: the query takes ranked rows only
        )
        for image_id, given, predicted, quality, rank in rows
    ]
    before = ReviewItem.objects.filter(run=run).count()
    ReviewItem.objects.bulk_create(items, ignore_conflicts=True, batch_size=1000)
    return ReviewItem.objects.filter(run=run).count() - before


@dataclass
class Decision:
    label_id: int | None  # None: not decided yet
    reason: str


def decide(item: ReviewItem, votes: list[ReviewVote]) -> Decision:
    """Apply the dataset's rule to an item's votes."""
    dataset = item.run.dataset
    experts = [v for v in votes if v.expert]
    if dataset.review_expert_decides and experts:
        return Decision(experts[-1].label_id, "an expert decided")
    counts = Counter(v.label_id for v in votes)
    if counts:
        label_id, n = counts.most_common(1)[0]
        if n >= dataset.review_agree:
            return Decision(label_id, f"{n} of {len(votes)} reviewers agree")
    return Decision(None, "")


def cast_vote(
    *, item: ReviewItem, label: Label, reviewer=None, worker: str = "", actor=None
) -> ReviewItem:
    """Record a vote; when the rule decides, apply the label (source `review`).

    reviewer: the signed-in user voting. worker: an outside crowd worker's id (then `actor`,
    the person importing the answers, is the one who applies the decision).
    """
    worker = worker.strip()[:120]
    if reviewer is not None:
        roles.check(reviewer, "vote")
    elif not worker:
        raise ReviewError("a vote needs a reviewer or a crowd worker id")
    else:
        roles.check(actor, "vote")
    if label.attribute_id != item.attribute_id:
        raise ReviewError(f"'{label.name}' is not a label of this attribute")
    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("run__dataset", "image", "attribute", "decided_label")
            .get(pk=item.pk or 0)
        )
        if item.status == ReviewItem.Status.DECIDED:
            decided = item.decided_label.name if item.decided_label else "no label"
            raise ReviewError(f"this image was already decided as {decided}")
        try:
            with transaction.atomic():
                ReviewVote.objects.create(
                    item=item,
                    reviewer=reviewer,
                    worker="" if reviewer is not None else worker,
                    label=label,
                    expert=roles.may(reviewer, "decide"),
                )
        except IntegrityError:
            who = "you have" if reviewer is not None else f"worker {worker} has"
            raise ReviewError(f"{who} already voted on this image") from None
        votes = list(item.votes.order_by("id"))
        decision = decide(item, votes)
        if decision.label_id is not None:
            _apply(item, decision, votes, actor=reviewer or actor)
        elif len(votes) >= item.run.dataset.review_max_votes:
            item.status = ReviewItem.Status.NO_CONSENSUS
            item.save(update_fields=["status"])
    return item


def _apply(item: ReviewItem, decision: Decision, votes: list[ReviewVote], *, actor) -> None:
    assert decision.label_id is not None
    label = Label.objects.get(pk=decision.label_id)
    names = ", ".join(v.reviewer.username if v.reviewer else f"crowd:{v.worker}" for v in votes)
    relabel_image(
        image=item.image,
        attribute=item.attribute,
        label=label,
        actor=actor,
        source=LabelSource.REVIEW,
        note=f"review of run {item.run_id}: {decision.reason} ({names})",
        flagged_by_run_id=item.run_id,
    )
    item.status = ReviewItem.Status.DECIDED
    item.decided_label = label
    item.decided_at = timezone.now()
    item.save(update_fields=["status", "decided_label", "decided_at"])


@dataclass
class AnswerReport:
    votes: int = 0
    decided: int = 0
    errors: list[dict] = field(default_factory=list)  # [{line, reason}]


def task_number(raw: str) -> int | None:
    """A crowd answer's task_id as an id, or None when it isn't one (ASCII digits only: "²"
    passes str.isdigit() and then fails int())."""
    try:
        return parse_int(raw, "task_id", low=1)
    except BadParameter:
        return None


def import_answers(*, run: TrainingRun, data: bytes, filename: str, actor) -> AnswerReport:
    """Crowd answers back in: CSV (task_id, worker_id, label) or a JSON list of such objects.

    Each answer is taken or refused on its own, with its line (CSV) or position (JSON).
    """
    roles.check(actor, "vote")
    assert run.attribute is not None, "a classifier run has an attribute"
    report = AnswerReport()
    try:
        rows = _answer_rows(data, filename)
    except ValueError as exc:
        report.errors.append({"line": 0, "reason": str(exc)})
        return report
    labels = {lab.name: lab for lab in Label.objects.filter(attribute=run.attribute)}
    items = {i.pk: i for i in ReviewItem.objects.filter(run=run)}
    for line, row in rows:
        task, worker, label_name = (
            str(row.get(k) or "").strip() for k in ("task_id", "worker_id", "label")
        )
        task_id = task_number(task)
        if task_id is None or task_id not in items:
            report.errors.append(
                {"line": line, "reason": f"task_id '{task}' is not a task of run {run.pk}"}
            )
            continue
        if not worker:
            report.errors.append({"line": line, "reason": "worker_id is empty"})
            continue
        if label_name not in labels:
            report.errors.append(
                {"line": line, "reason": f"'{label_name}' is not a label of {run.attribute.name}"}
            )
            continue
        try:
            item = cast_vote(
                item=items[task_id], label=labels[label_name], worker=worker, actor=actor
            )
        except ReviewError as exc:
            report.errors.append({"line": line, "reason": str(exc)})
            continue
        report.votes += 1
        report.decided += item.status == ReviewItem.Status.DECIDED
    return report


def _answer_rows(data: bytes, filename: str) -> list[tuple[int, dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the answers file is not UTF-8 text") from None
    if filename.lower().endswith(".json"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answers file is not valid JSON: {exc}") from None
        if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
            raise ValueError("the JSON answers must be a list of {task_id, worker_id, label}")
        return [(i + 1, r) for i, r in enumerate(parsed)]
    reader = csv.DictReader(io.StringIO(text))
    missing = {"task_id", "worker_id", "label"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"the answers CSV lacks the column(s) {', '.join(sorted(missing))}")
    return [(reader.line_num, row) for row in reader]
