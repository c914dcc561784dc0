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
from django.db.models import Max
from django.utils import timezone

from curation import roles
from curation.models import (
    Label,
    LabelEvent,
    LabelSource,
    ReviewCase,
    ReviewItem,
    ReviewVote,
    RunImage,
    TrainingRun,
)
from curation.params import BadParameter, parse_int
from curation.queries.review_answers import spot_checks
from curation.services.labels import relabel_image

DEFAULT_QUEUE_SIZE = 200


class ReviewError(Exception):
    """A vote that can't be taken; the message says why."""


def queue_suspects(*, run: TrainingRun, limit: int = DEFAULT_QUEUE_SIZE) -> int:
    """Put the first `limit` images of the run's review order in its review queue (runs from
    before the review order: its `limit` top flagged suspects). Idempotent; returns how many
    items were added.

    An image already under review joins its case: its votes, and its decision unless the label
    has changed since, carry over (a decided item lands in the run's decided tab, not the open
    queue). A label changed since the decision opens a new case."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    rank = "review_rank"
    if not RunImage.objects.filter(run=run, review_rank__isnull=False).exists():
        rank = "suspect_rank"
    ranked = RunImage.objects.filter(run=run, **{f"{rank}__isnull": False, f"{rank}__lte": limit})
    return len(add_to_queue(run, ranked, rank))


def queue_image(*, run: TrainingRun, image_id: int) -> ReviewItem:
    """The image's item in the run's review queue, put there if it isn't yet (an API client
    answering for an image further down the review order than the queue reaches).
    ReviewError when the image has no place in the run's review order."""
    item = ReviewItem.objects.filter(run=run, image_id=image_id).first()
    if item is not None:
        return item
    rows = RunImage.objects.filter(run=run, image_id=image_id, review_rank__isnull=False)
    if not add_to_queue(run, rows, "review_rank"):
        raise ReviewError(f"image {image_id} is not in the review order of run {run.pk}")
    return ReviewItem.objects.get(run=run, image_id=image_id)


def queue_spot_checks(*, run: TrainingRun) -> int:
    """Put the run's spot checks (queries.review_answers.spot_checks: a uniform random sample
    of its scored images) in its review queue, at their places in the review order. Their
    answers are what the count of wrong labels left is made from. Returns how many were
    added."""
    rows = RunImage.objects.filter(
        run=run, image_id__in=spot_checks(run), review_rank__isnull=False
    )
    return len(add_to_queue(run, rows, "review_rank"))


def add_to_queue(run: TrainingRun, rows, rank: str) -> list[ReviewItem]:
    """Queue items for these RunImage rows of the run (those with a prediction and not queued
    yet), joining their cases; `rank` names the RunImage field that orders them."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    queued = ReviewItem.objects.filter(run=run).values("image_id")
    rows = list(
        rows.exclude(predicted_label=None)
        .exclude(image_id__in=queued)
        .values_list("image_id", "given_label_id", "predicted_label_id", "quality", rank)
    )
    with transaction.atomic():
        cases = cases_to_join(run.attribute_id, [row[0] for row in rows])
        items = [
            ReviewItem(
                run=run,
                image_id=image_id,
                attribute_id=run.attribute_id,
                case=cases[image_id],
                status=cases[image_id].status,
                given_label_id=given,
                suggested_label_id=predicted if predicted != given else None,
                score=quality,
                rank=rank or 0,  # never 0: the query takes ranked rows only
            )
            for image_id, given, predicted, quality, rank in rows
        ]
        ReviewItem.objects.bulk_create(items, batch_size=1000)
    return items


def cases_to_join(attribute_id: int, image_ids: list[int]) -> dict[int, ReviewCase]:
    """image id -> the case a new queue item of the image joins: its latest case, unless that
    one was decided and the label has changed since; else a new open case."""
    latest: dict[int, ReviewCase] = {}
    for case in ReviewCase.objects.filter(attribute_id=attribute_id, image_id__in=image_ids):
        if case.image_id not in latest or case.pk > latest[case.image_id].pk:
            latest[case.image_id] = case
    decided = [c.image_id for c in latest.values() if c.status == ReviewCase.Status.DECIDED]
    last_event = dict(
        LabelEvent.objects.filter(attribute_id=attribute_id, image_id__in=decided)
        .values("image_id")
        .annotate(last=Max("id"))
        .values_list("image_id", "last")
    )
    for image_id in decided:
        if last_event.get(image_id, 0) > (latest[image_id].label_event_id or 0):
            del latest[image_id]  # relabelled since the decision: review it afresh
    new = [
        ReviewCase(attribute_id=attribute_id, image_id=image_id)
        for image_id in image_ids
        if image_id not in latest
    ]
    for case in ReviewCase.objects.bulk_create(new, batch_size=1000):
        latest[case.image_id] = case
    return latest


def assign_batch(*, run: TrainingRun, assignee, count: int, actor) -> int:
    """Give the run's next `count` open, unassigned items (by rank) to `assignee`, who then
    sees them first and alone. Returns how many were assigned."""
    roles.check(actor, "assign_reviews")
    if not roles.may(assignee, "vote"):
        raise ReviewError(f"{assignee.username} may not vote in reviews")
    ids = list(
        ReviewItem.objects.filter(run=run, status=ReviewItem.Status.OPEN, assigned_to=None)
        .order_by("rank")
        .values_list("id", flat=True)[:count]
    )
    return ReviewItem.objects.filter(pk__in=ids).update(assigned_to=assignee)


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
    """Record a vote on the item's case; when the rule decides, apply the label (source
    `review`).

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
        case = (
            ReviewCase.objects.select_for_update(of=("self",))
            .select_related("decided_label")
            .get(pk=item.case_id or 0)
        )
        item = ReviewItem.objects.select_related("run__dataset", "image", "attribute").get(
            pk=item.pk or 0
        )
        item.case = case
        if case.status == ReviewCase.Status.DECIDED:
            decided = case.decided_label.name if case.decided_label else "no label"
            raise ReviewError(f"this image was already decided as {decided}")
        assignee = item.assigned_to_id
        if reviewer is not None and assignee is not None and assignee != reviewer.pk:
            raise ReviewError("this image is assigned to another reviewer")
        try:
            with transaction.atomic():
                ReviewVote.objects.create(
                    case=case,
                    reviewer=reviewer,
                    worker="" if reviewer is not None else worker,
                    label=label,
                    expert=roles.may(reviewer, "decide"),
                )
        except IntegrityError:
            who = "you have" if reviewer is not None else f"worker {worker} has"
            raise ReviewError(f"{who} already voted on this image") from None
        votes = list(case.votes.order_by("id"))
        decision = decide(item, votes)
        if decision.label_id is not None:
            _apply(item, decision, votes, actor=reviewer or actor)
        elif len(votes) >= item.run.dataset.review_max_votes:
            set_status(item, ReviewCase.Status.NO_CONSENSUS)
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
    # The label's version at the decision: its latest event, written just now or before (a
    # decision that keeps the label writes none).
    case = item.case
    case.label_event = (
        LabelEvent.objects.filter(image_id=item.image_id, attribute_id=item.attribute_id)
        .order_by("-id")
        .first()
    )
    case.decided_label = label
    case.decided_at = timezone.now()
    case.save(update_fields=["decided_label", "decided_at", "label_event"])
    set_status(item, ReviewCase.Status.DECIDED)


def set_status(item: ReviewItem, status: str) -> None:
    """The case's status, and its copy on every run's item of the case."""
    item.case.status = status
    item.case.save(update_fields=["status"])
    ReviewItem.objects.filter(case_id=item.case_id).update(status=status)
    item.status = status


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
