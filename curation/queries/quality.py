"""Read side of the QA pages: per-class metrics and confusion matrices from a run's stored
aggregates, error galleries by keyset on (confidence, id), and run-vs-run comparison.

Everything follows the attribute's current label order, whatever order the run had.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from curation.models import (
    Annotation,
    Attribute,
    Label,
    LabelEvent,
    ReviewItem,
    RunImage,
    Split,
    TrainingRun,
)
from curation.params import MAX_ID
from curation.queries.review_answers import MIN_SPOT_ANSWERS, LearnedLeft, answers, learned_left
from mlcore.eval.metrics import metrics_from_confusion

GALLERY_PAGE = 24  # tiles per page; the next page loads as the last tile scrolls in


def classifier_runs(attribute: Attribute) -> QuerySet[TrainingRun]:
    """Finished classifier runs, newest first, without the columns the QA pages don't show."""
    return (
        TrainingRun.objects.filter(
            attribute=attribute,
            kind=TrainingRun.Kind.CLASSIFIER,
            status=TrainingRun.Status.SUCCEEDED,
        )
        .defer(*TrainingRun.HEAVY_FIELDS)
        .order_by("-id")
    )


def run_choices(attribute: Attribute, limit: int = 30) -> list[TrainingRun]:
    """Finished runs for a picker, without their large JSON columns."""
    return list(
        classifier_runs(attribute)
        .select_related("created_by")
        .defer("aggregates", "label_names")[:limit]
    )


def default_run(attribute: Attribute) -> TrainingRun | None:
    """The promoted model's run, else the newest successful run."""
    promoted = getattr(attribute, "promoted", None)
    if promoted is not None and promoted.run.status == TrainingRun.Status.SUCCEEDED:
        return promoted.run
    return classifier_runs(attribute).first()


def current_labels(attribute: Attribute) -> list[Label]:
    return list(Label.objects.filter(attribute=attribute).order_by("position", "id"))


def _reorder(confusion: list[list[int]], run_ids: list[int], labels: list[Label]) -> np.ndarray:
    """A run's confusion (in its label order) in the attribute's current label order."""
    at = {label_id: i for i, label_id in enumerate(run_ids)}
    k = len(labels)
    out = np.zeros((k, k), dtype=np.int64)
    src = np.asarray(confusion, dtype=np.int64)
    pos = [at.get(lab.pk) for lab in labels]
    for r, pr in enumerate(pos):
        for c, pc in enumerate(pos):
            if pr is not None and pc is not None:
                out[r, c] = src[pr, pc]
    return out


@dataclass
class ClassRow:
    label: Label
    precision: float
    recall: float
    f1: float
    support: int
    false_positives: int
    false_negatives: int


@dataclass
class Dashboard:
    run: TrainingRun
    split: str
    labels: list[Label]
    rows: list[ClassRow]
    confusion: np.ndarray  # (K, K), rows = label at training time, columns = predicted
    n: int
    unscored: int
    accuracy: float
    macro_f1: float
    weighted_f1: float

    @property
    def per_class_dicts(self) -> list[dict]:
        return [
            {"name": r.label.name, "f1": r.f1, "precision": r.precision, "recall": r.recall}
            for r in self.rows
        ]

    def matrix(self) -> list[tuple[Label, list[tuple[Label, int, float]], int]]:
        """[(given label, [(predicted label, count, share of row)], row total)]."""
        out = []
        for i, given in enumerate(self.labels):
            total = int(self.confusion[i].sum())
            cells = [
                (pred, int(self.confusion[i, j]), (self.confusion[i, j] / total) if total else 0.0)
                for j, pred in enumerate(self.labels)
            ]
            out.append((given, cells, total))
        return out


def board_cache_key(
    run: TrainingRun, attribute: Attribute, split: str, normalise: bool, labels: list[Label]
) -> str | None:
    """The cache key of a rendered dashboard board, or None while the run has no aggregates.

    A board is a pure function of what goes into this key: the run's aggregates (frozen when
    the run finishes), the split, the display choice, and the attribute's labels with their
    names and order (editable). Anything else changing gives a new key, never a stale page.
    """
    if not run.aggregates:
        return None
    material = json.dumps(
        [
            run.aggregates,
            [(lab.pk, lab.name) for lab in labels],
            attribute.dataset.name,
            attribute.name,
        ],
        sort_keys=True,
    )
    digest = hashlib.blake2b(material.encode(), digest_size=16).hexdigest()
    return f"qa-board:v1:{run.pk}:{split}:{int(normalise)}:{digest}"


def attribute_of(run: TrainingRun) -> Attribute:
    """The classifier run's attribute (a similarity run has none and no QA pages)."""
    assert run.attribute is not None, f"run {run.pk} is not a classifier run"
    return run.attribute


def dashboard(run: TrainingRun, split: str, labels: list[Label] | None = None) -> Dashboard:
    aggregates = run.aggregates or count_run_aggregates(run)
    labels = current_labels(attribute_of(run)) if labels is None else labels
    entry = aggregates["splits"].get(split) or {"confusion": None, "unscored": 0}
    k = len(aggregates["label_ids"])
    confusion = _reorder(entry["confusion"] or [[0] * k] * k, aggregates["label_ids"], labels)
    summary = metrics_from_confusion(confusion, [lab.name for lab in labels])
    rows = [
        ClassRow(
            label=lab,
            precision=c.precision,
            recall=c.recall,
            f1=c.f1,
            support=c.support,
            false_positives=int(confusion[:, i].sum() - confusion[i, i]),
            false_negatives=int(confusion[i, :].sum() - confusion[i, i]),
        )
        for i, (lab, c) in enumerate(zip(labels, summary.per_class, strict=True))
    ]
    return Dashboard(
        run=run,
        split=split,
        labels=labels,
        rows=rows,
        confusion=confusion,
        n=summary.n,
        unscored=int(entry["unscored"]),
        accuracy=summary.accuracy,
        macro_f1=summary.macro_f1,
        weighted_f1=summary.weighted_f1,
    )


@dataclass
class GalleryFilter:
    split: str = Split.TEST
    given: int | None = None  # label id (a confusion cell: given and predicted)
    predicted: int | None = None
    false_positives_of: int | None = None  # label id
    false_negatives_of: int | None = None

    def describe(self, names: dict[int, str]) -> str:
        if self.false_positives_of is not None:
            return (
                f"False positives of {names.get(self.false_positives_of, '?')}: "
                "predicted it, labelled otherwise"
            )
        if self.false_negatives_of is not None:
            return (
                f"False negatives of {names.get(self.false_negatives_of, '?')}: "
                "labelled it, predicted otherwise"
            )
        if self.given is not None and self.predicted is not None:
            return (
                f"Labelled {names.get(self.given, '?')}, predicted {names.get(self.predicted, '?')}"
            )
        return "All mistakes"


# What gallery() writes: repr() of a confidence in [0, 1], a colon, a row id.
_CURSOR = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,20})?(?:e-[0-9]{1,3})?):([0-9]{1,19})")


def parse_cursor(raw: str | None) -> tuple[float, int] | None:
    """'<confidence>:<id>' from the previous page, or None. Raises ValueError when malformed."""
    if not raw:
        return None
    found = _CURSOR.fullmatch(raw)
    if found is None or int(found[2]) > MAX_ID:
        raise ValueError("the cursor is not one a gallery page wrote")
    value, image_row = float(found[1]), int(found[2])
    if not np.isfinite(value):
        raise ValueError("cursor confidence must be a finite number")
    return value, image_row


def gallery_rows(run: TrainingRun, flt: GalleryFilter) -> QuerySet[RunImage]:
    """The run's rows a gallery shows, unordered (each filter has its index)."""
    qs = RunImage.objects.filter(run=run, split=flt.split, confidence__isnull=False)
    if flt.false_positives_of is not None:
        return qs.filter(predicted_label_id=flt.false_positives_of, is_error=True)
    if flt.false_negatives_of is not None:
        return qs.filter(given_label_id=flt.false_negatives_of, is_error=True)
    if flt.given is not None and flt.predicted is not None:
        return qs.filter(given_label_id=flt.given, predicted_label_id=flt.predicted)
    return qs.filter(is_error=True)


def _after(qs: QuerySet[RunImage], key: tuple[float, int]) -> QuerySet[RunImage]:
    """Rows after (confidence, id) in gallery order (most confident first, then by id down)."""
    conf, pk = key
    # The first condition bounds the index range; the second breaks ties by id.
    return qs.filter(confidence__lte=conf).filter(Q(confidence__lt=conf) | Q(id__lt=pk))


def _before(qs: QuerySet[RunImage], key: tuple[float, int]) -> QuerySet[RunImage]:
    conf, pk = key
    return qs.filter(confidence__gte=conf).filter(Q(confidence__gt=conf) | Q(id__gt=pk))


def gallery_total(run: TrainingRun, flt: GalleryFilter) -> int:
    """How many rows the gallery holds, from the run's stored confusion counts (no count
    over the rows; a run without stored counts is counted once)."""
    aggregates = run.aggregates
    if not aggregates:
        return gallery_rows(run, flt).count()
    entry = aggregates["splits"].get(flt.split) or {}
    confusion = np.array(entry.get("confusion") or [], dtype=np.int64)
    if confusion.size == 0:
        return 0
    index = {label_id: i for i, label_id in enumerate(aggregates["label_ids"])}
    errors = confusion - np.diag(np.diag(confusion))  # (K, K) off the diagonal
    if flt.false_positives_of is not None:
        i = index.get(flt.false_positives_of)
        return 0 if i is None else int(errors[:, i].sum())
    if flt.false_negatives_of is not None:
        i = index.get(flt.false_negatives_of)
        return 0 if i is None else int(errors[i, :].sum())
    if flt.given is not None and flt.predicted is not None:
        g, p = index.get(flt.given), index.get(flt.predicted)
        return 0 if g is None or p is None else int(confusion[g, p])
    return int(errors.sum())


@dataclass
class Neighbours:
    """An image's place in a gallery: the rows before and after it (None at either end)."""

    row: RunImage
    previous: RunImage | None
    next: RunImage | None

    def cursor_before(self) -> str | None:
        """The cursor of a gallery page that starts with this row (None: the first page)."""
        if self.previous is None:
            return None
        return f"{self.previous.confidence!r}:{self.previous.pk}"


def gallery_neighbours(run: TrainingRun, flt: GalleryFilter, image_id: int) -> Neighbours | None:
    """The rows either side of the image in the gallery's order, by keyset (two indexed
    single-row reads, whatever the gallery's size); None when the image is not in it."""
    rows = gallery_rows(run, flt)
    row = rows.filter(image_id=image_id).first()
    if row is None:
        return None
    assert row.confidence is not None  # gallery_rows() keeps scored rows only
    key = (row.confidence, row.pk)
    return Neighbours(
        row=row,
        previous=_before(rows, key).order_by("confidence", "id").first(),
        next=_after(rows, key).order_by("-confidence", "-id").first(),
    )


def gallery(
    run: TrainingRun,
    flt: GalleryFilter,
    *,
    after: tuple[float, int] | None,
    labels: dict[int, Label] | None = None,
    limit: int | None = None,
) -> tuple[list[RunImage], str | None]:
    """One page of the run's rows for a filter, most confident first. Returns (rows, next cursor).

    labels: the attribute's labels by id, when the caller has them: the rows' label objects
    come from there instead of three joins and 72 label rows a page."""
    limit = limit or GALLERY_PAGE
    if labels is None:
        labels = {lab.pk: lab for lab in current_labels(attribute_of(run))}
    qs = gallery_rows(run, flt)
    if after is not None:
        qs = _after(qs, after)
    page = list(qs.select_related("image").order_by("-confidence", "-id")[: limit + 1])
    next_cursor = None
    if len(page) > limit:
        last = page[limit - 1]
        next_cursor = f"{last.confidence!r}:{last.pk}"
    page = page[:limit]
    attach_labels(page, labels)
    attach_current(page, attribute_of(run).pk, labels)
    return page, next_cursor


@functools.cache
def _id_url(name: str) -> str:
    """The URL pattern of a view that takes one image id, as a format string."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def attach_tile_urls(rows: list[RunImage]) -> None:
    """row.page_url, row.thumb_url, row.relabel_url: a gallery page has 24 tiles with 4 links
    each, and reversing every one of them cost more than the page's queries."""
    page, thumb, relabel = (
        _id_url(f"curation:{n}") for n in ("image_detail", "image_thumbnail", "gallery_relabel")
    )
    for r in rows:
        r.page_url = page.format(r.image_id)  # type: ignore[attr-defined]
        r.thumb_url = thumb.format(r.image_id)  # type: ignore[attr-defined]
        r.relabel_url = relabel.format(r.image_id)  # type: ignore[attr-defined]


def _label_lookup(labels: dict[int, Label], ids: set[int]) -> dict[int, Label]:
    """labels, plus any of ids it lacks (none, unless a label was added since it was read)."""
    missing = ids - labels.keys()
    return {**labels, **Label.objects.in_bulk(missing)} if missing else labels


def attach_labels(rows: list[RunImage], labels: dict[int, Label]) -> None:
    """row.given_label and row.predicted_label from the attribute's labels by id."""
    ids = {r.given_label_id for r in rows} | {r.predicted_label_id for r in rows}
    known = _label_lookup(labels, {i for i in ids if i is not None})
    for r in rows:
        r.given_label = known[r.given_label_id]
        r.predicted_label = known.get(r.predicted_label_id)  # type: ignore[arg-type]


def attach_current(rows: list[RunImage], attribute_id: int, labels: dict[int, Label]) -> None:
    """row.current: the image's label annotation today (it may differ from the run's), with
    its label from the attribute's labels by id."""
    annotations = {
        a.image_id: a
        for a in Annotation.objects.filter(
            image_id__in=[r.image_id for r in rows], attribute_id=attribute_id
        )
    }
    known = _label_lookup(labels, {a.label_id for a in annotations.values() if a.label_id})
    for a in annotations.values():
        a.label = known.get(a.label_id) if a.label_id else None  # type: ignore[arg-type]
    for r in rows:
        r.current = annotations.get(r.image_id)  # type: ignore[attr-defined]


def guideline_examples(
    run: TrainingRun, labels: list[Label], per_label: int = 6
) -> list[tuple[Label, list[RunImage]]]:
    """Clear examples of each label: test images labelled and predicted it, most confident first."""
    out = []
    for lab in labels:  # one indexed query per label (a handful of labels, not a loop over rows)
        rows = list(
            RunImage.objects.filter(
                run=run,
                split=Split.TEST,
                given_label=lab,
                predicted_label=lab,
                confidence__isnull=False,
            )
            .select_related("image")
            .order_by("-confidence", "-id")[:per_label]
        )
        out.append((lab, rows))
    return out


@dataclass
class CompareRow:
    label: Label
    f1_a: float
    f1_b: float
    delta: float
    from_relabels: float  # A re-scored on today's labels minus A on its own labels
    from_model: float  # B minus A, both on today's labels
    rest: float  # B on its own labels minus B on today's (labels changed after B)


# A label change read into a run's snapshot can carry a time a little before the run row's.
SNAPSHOT_MARGIN = timedelta(hours=1)


def today_confusion(run: TrainingRun, labels: list[Label]) -> np.ndarray:
    """The run's stored test predictions against today's labels of the same test images.

    Starts from the run's own test confusion (its aggregates, labels as the run saw them) and
    moves only the images whose label changed since: every change has a history row, so
    those are among the images with history since the run began. A compare page then reads
    the relabelled few, not the whole test split (250,000 rows at 1M images)."""
    aggregates = run.aggregates or count_run_aggregates(run)
    entry = aggregates["splits"].get(Split.TEST) or {"confusion": None}
    k = len(aggregates["label_ids"])
    out = _reorder(entry["confusion"] or [[0] * k] * k, aggregates["label_ids"], labels)
    touched = LabelEvent.objects.filter(
        attribute_id=attribute_of(run).pk, created_at__gte=run.created_at - SNAPSHOT_MARGIN
    ).values("image_id")
    moved = list(
        RunImage.objects.filter(
            run=run, split=Split.TEST, predicted_label__isnull=False, image_id__in=touched
        ).values_list("image_id", "given_label_id", "predicted_label_id")
    )
    today = dict(
        Annotation.objects.filter(
            attribute_id=attribute_of(run).pk, image_id__in=[m[0] for m in moved]
        ).values_list("image_id", "label_id")
    )
    at = {lab.pk: i for i, lab in enumerate(labels)}
    for image_id, given, predicted in moved:
        now = today.get(image_id)
        if now == given or predicted not in at:
            continue
        if given in at:
            out[at[given], at[predicted]] -= 1
        if now in at:
            out[at[now], at[predicted]] += 1
    return out


def compare(run_a: TrainingRun, run_b: TrainingRun) -> tuple[list[CompareRow], dict]:
    """Per-class F1 of two runs on the fixed test split, with the change split into relabels
    and model. Returns (rows, macro summary)."""
    labels = current_labels(attribute_of(run_a))
    names = [lab.name for lab in labels]
    own_a, own_b = dashboard(run_a, Split.TEST, labels), dashboard(run_b, Split.TEST, labels)
    today_a = metrics_from_confusion(today_confusion(run_a, labels), names)
    today_b = metrics_from_confusion(today_confusion(run_b, labels), names)
    rows = []
    for i, lab in enumerate(labels):
        fa, fb = own_a.rows[i].f1, own_b.rows[i].f1
        ta, tb = today_a.per_class[i].f1, today_b.per_class[i].f1
        rows.append(CompareRow(lab, fa, fb, fb - fa, ta - fa, tb - ta, fb - tb))
    summary = {
        "macro_a": own_a.macro_f1,
        "macro_b": own_b.macro_f1,
        "macro_delta": own_b.macro_f1 - own_a.macro_f1,
        "macro_from_relabels": today_a.macro_f1 - own_a.macro_f1,
        "macro_from_model": today_b.macro_f1 - today_a.macro_f1,
        "macro_rest": own_b.macro_f1 - today_b.macro_f1,
        "accuracy_a": own_a.accuracy,
        "accuracy_b": own_b.accuracy,
        "n_a": own_a.n,
        "n_b": own_b.n,
    }
    return rows, summary


def run_label_ids(run: TrainingRun) -> list[int]:
    """The run's labels as ids, in the run's order (run.label_names)."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    by_name = dict(
        Label.objects.filter(attribute_id=run.attribute_id, name__in=run.label_names).values_list(
            "name", "id"
        )
    )
    return [by_name[name] for name in run.label_names]


def count_run_aggregates(run: TrainingRun) -> dict:
    """Count (split, given, predicted) over the run's rows (services.aggregates stores them).

    Stored shape: {"label_ids": [...], "splits": {"test": {"confusion": K×K, "unscored": n},
    "train": {...}}} with rows = given label, columns = predicted label, in label_ids order.
    """
    label_ids = run_label_ids(run)
    index = {label_id: i for i, label_id in enumerate(label_ids)}
    k = len(label_ids)
    splits: dict[str, dict] = {}
    rows = (
        RunImage.objects.filter(run=run)
        .values_list("split", "given_label_id", "predicted_label_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for split, given, predicted, n in rows:
        entry = splits.setdefault(split, {"confusion": [[0] * k for _ in range(k)], "unscored": 0})
        if predicted is None or given not in index or predicted not in index:
            entry["unscored"] += n
        else:
            entry["confusion"][index[given]][index[predicted]] += n
    return {"label_ids": label_ids, "splits": splits}


NEXT_ITEMS = 200  # how far ahead the review page says what the queue holds


@dataclass
class WrongLabels:
    """How many wrong labels the run expects, how many have been fixed through its review
    since, and what the next open items of its queue hold."""

    estimated: float  # at the run: the confident joint's off-diagonal, train + test
    by_split: dict[str, float]
    fixed: int  # images relabelled since, through this run's review order
    next_items: int  # open items looked at (at most NEXT_ITEMS)
    # The wrong ones expected among them: from the reviewers' answers once they carry a fit,
    # else the sum of 1 - p(given label)
    next_expected: float
    # Learned from the reviewers' answers on this run's images; None: too few answers yet
    learned: LearnedLeft | None = None
    min_answers: int = MIN_SPOT_ANSWERS  # spot checks answered before they make the count

    @property
    def left(self) -> float:
        if self.learned is not None:
            return self.learned.expected
        return max(0.0, self.estimated - self.fixed)


def wrong_labels_left(run: TrainingRun) -> WrongLabels | None:
    """None for a run from before the estimate was stored."""
    estimate = (run.metrics or {}).get("wrong_labels")
    if not estimate:
        return None
    by_split = {split: float(sum(per_class.values())) for split, per_class in estimate.items()}
    found = answers(run)
    fixed = sum(found.values())  # images relabelled through the run's review
    relabelled = LabelEvent.objects.filter(flagged_by_run_id=run.pk).values("image_id")
    scores = list(
        ReviewItem.objects.filter(run=run, status=ReviewItem.Status.OPEN)
        .exclude(image_id__in=relabelled)  # answered through the API or a gallery
        .order_by("rank")
        .values_list("score", flat=True)[:NEXT_ITEMS]
    )
    learned = learned_left(run, found)
    known = np.array([s for s in scores if s is not None])
    next_expected = float((1.0 - known).sum())
    if learned is not None and learned.fit is not None:
        next_expected = learned.fit.expected(known)
    return WrongLabels(
        estimated=sum(by_split.values()),
        by_split=by_split,
        fixed=fixed,
        next_items=len(scores),
        next_expected=next_expected,
        learned=learned,
    )
