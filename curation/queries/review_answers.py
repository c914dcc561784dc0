"""What the reviewers' answers on a run's images say about the wrong labels still left.

An answer is a label a reviewer changed through the run's review (a relabel that names the
run, from the queue, a gallery or the API's PATCH with `flagged_by_run`), or a label a
decision kept as it was (the queue's Keep, a vote through the API).

Answers on the top of the review order say how often a label of a given quality is wrong
(mlcore.eval.review_estimate.fit_review_outcomes), but only where the reviewers looked.
The run's spot checks, a fixed uniform random sample of its scored images, say what the
rest holds: once enough of them are answered, the count is the difference estimator over
the whole run (spot_check_count) less the wrong labels already found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import F

from curation.models import LabelEvent, ReviewItem, RunImage, TrainingRun
from mlcore.eval.review_estimate import ReviewFit, fit_review_outcomes, spot_check_count

SPOT_CHECKS = (
    400  # per run: a 95% interval about 400 wide on 405 left in 15,000 (bench/spot_checks.py)
)
MIN_SPOT_ANSWERS = 30  # before the spot checks are trusted over the run's own estimate


@dataclass
class LearnedLeft:
    """The wrong labels left among the run's images, learned from the answers."""

    answers: int  # images answered for
    found_wrong: int  # of them, labels the reviewers changed (fixed now)
    spot_answers: int  # of them, spot checks
    expected: float
    low: float  # 95% interval
    high: float
    by_split: dict[str, float]  # expected, per split
    fit: ReviewFit | None  # P(wrong | quality) from every answer, for the queue's next items


def answers(run: TrainingRun) -> dict[int, bool]:
    """image id -> whether the reviewers found its label wrong, for the run's answered images."""
    changed = (
        LabelEvent.objects.filter(flagged_by_run_id=run.pk, attribute_id=run.attribute_id or 0)
        .exclude(new_label_id=None)
        .values_list("image_id", flat=True)
    )
    kept = ReviewItem.objects.filter(
        run=run,
        status=ReviewItem.Status.DECIDED,
        case__decided_label_id=F("given_label_id"),
    ).values_list("image_id", flat=True)
    return {**dict.fromkeys(kept, False), **dict.fromkeys(changed, True)}


def spot_checks(run: TrainingRun) -> list[int]:
    """The run's spot checks: image ids, a uniform random sample (seeded by the run) of its
    scored images, the same on every call."""
    key = f"spot-checks:{run.pk}:{run.finished_at}"
    ids = cache.get(key)
    if ids is None:
        scored = RunImage.objects.filter(run=run, quality__isnull=False)
        every = np.array(sorted(scored.values_list("image_id", flat=True)), dtype=np.int64)
        rng = np.random.default_rng(run.pk)
        ids = sorted(rng.choice(every, min(SPOT_CHECKS, len(every)), replace=False).tolist())
        cache.set(key, ids, 3600)
    return ids


def learned_left(run: TrainingRun, found: dict[int, bool]) -> LearnedLeft | None:
    """From the run's answers (answers(run)); None until MIN_SPOT_ANSWERS spot checks are
    answered."""
    if len(found) < MIN_SPOT_ANSWERS:
        return None
    spots = set(spot_checks(run))
    answered_spots = sum(1 for i in found if i in spots)
    if answered_spots < MIN_SPOT_ANSWERS:
        return None
    digest = hashlib.sha256(repr(sorted(found.items())).encode()).hexdigest()[:16]
    key = f"learned-left:{run.pk}:{digest}"  # any new, changed or withdrawn answer: a new key
    learned = cache.get(key)
    if learned is None:
        learned = _learn(run, found, spots)
        cache.set(key, learned, 600)
    return learned


STRATA = 5  # bands of the review order the spot checks are weighed in


def _learn(run: TrainingRun, found: dict[int, bool], spots: set[int]) -> LearnedLeft:
    rows = RunImage.objects.filter(run=run, quality__isnull=False).values_list(
        "image_id", "quality", "split", "review_rank"
    )
    ids, quality, split, rank = [], [], [], []
    for image_id, q, s, r in rows.iterator(chunk_size=10_000):
        ids.append(image_id)
        quality.append(q)
        split.append(s)
        rank.append(r or 0)
    at = {image_id: i for i, image_id in enumerate(ids)}
    q_all, split_all = np.array(quality), np.array(split)
    # Bands of the review order (rows without a rank: the last band).
    order = np.argsort(np.where(np.array(rank) > 0, rank, len(ids) + 1), kind="stable")
    stratum = np.empty(len(ids), dtype=np.int64)
    stratum[order] = np.arange(len(ids)) * STRATA // max(1, len(ids))
    answered = np.array([at[i] for i in found if i in at], dtype=np.int64)
    wrong = np.array([found[ids[j]] for j in answered], dtype=bool)
    fit = fit_review_outcomes(q_all[answered], wrong)
    p_all = fit.p_wrong(q_all) if fit is not None else np.zeros(len(ids))
    in_sample = np.array([ids[j] in spots for j in answered], dtype=bool)
    sample = answered[in_sample]
    open_rows = np.ones(len(ids), dtype=bool)
    open_rows[answered] = False
    checked = spot_check_count(
        p_all[open_rows], stratum[open_rows], p_all[sample], wrong[in_sample], stratum[sample]
    )
    # Per split: the model's share of what is left among the open images.
    weight = p_all[open_rows] if fit is not None else np.ones(int(open_rows.sum()))
    total = weight.sum() or 1.0
    by_split = {
        s: float(checked.expected * weight[split_all[open_rows] == s].sum() / total)
        for s in ("train", "test")
    }
    return LearnedLeft(
        answers=len(answered),
        found_wrong=int(wrong.sum()),
        spot_answers=len(sample),
        expected=checked.expected,
        low=checked.low,
        high=checked.high,
        by_split=by_split,
        fit=fit,
    )
