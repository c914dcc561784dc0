"""Auto-accept: per-class confidence thresholds that meet a target precision, and how many
wrong tags they are expected to ship on new arrivals.

Thresholds come from held-out calibrated probabilities with known labels (a run's
out-of-sample training rows). For class c, the candidates are the held-out rows the model
predicts as c; a threshold t tags every such row with confidence >= t, and its precision is
the share of those rows whose label is c.

The rule: walk STEPS (50) candidate thresholds down from the most confident row, evenly
spaced in the class's held-out rows, and keep going while the one-sided Clopper-Pearson
lower bound of the precision, at `level` (95%), is at or above the target; the threshold is
the last candidate that passed before the first that fails (candidates above the first pass,
where too few rows can pass, are skipped). Why:
- the point estimate meets the target about half the time when the true precision sits at
  the target: a 98% target would ship 97% about as often as 99%. The bound makes "at or
  above the target" the likely outcome, not a coin flip;
- stopping at the first failure (fixed-sequence testing, as in Learn-then-Test) keeps the
  chance of shipping below the target near 1 - level. Taking the lowest threshold that
  passes anywhere scans hundreds of nested tests and keeps the luckiest: in simulation
  (the Dirichlet catalogs of tests/mlcore/eval/test_auto_accept.py, 5,000 held-out rows,
  60 seeds) its true precision missed a 95% target in 9% of the classes it tagged and a 98%
  one in 19%; this rule missed 5% and 0 of 11. A candidate at every row instead of 50
  stops at the first unlucky row: as safe, about 15% fewer tags;
- it needs no separate minimum support: with every row right, k = n, the bound is
  (1 - level)^(1/n), so a 98% target needs n >= 149 held-out rows above the threshold and
  a 99.9% target about 3,000. A class the held-out rows can't vouch for tags nothing;
- Clopper-Pearson (exact) rather than Wilson: Wilson's bound undershoots its level near 1,
  where auto-accept targets live.

Expected wrong tags on arrivals: posterior predictive of a Beta-Binomial. With w wrong and r
right held-out rows above the threshold, a uniform prior gives precision ~ Beta(r+1, w+1),
so of n arrivals tagged, wrong ~ BetaBinomial(n, w+1, r+1). Why this and not the sum of the
arrivals' own (1 - confidence) (Poisson-binomial): that trusts the calibration exactly and
its interval is far too narrow when the calibration is off; the Beta-Binomial rests on
counted mistakes, and its interval carries both the held-out uncertainty and the arrivals'
own luck. The calibrated sum is kept too, as a cross-check (`expected_wrong_calibrated`).
Both assume the arrivals look like the held-out rows above the threshold.

What "right" means: the held-out label, i.e. the catalog's label, so precision is agreement
with the labels as given (noisy labels make it look lower than the truth would). The
held-out rows are cross-fitted fold models' predictions; the model that scores arrivals was
trained on all the training rows, usually a little better, which errs on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, betabinom

LEVEL = 0.95  # one-sided confidence of the precision bound
INTERVAL = 0.95  # central interval of the wrong-tag count
STEPS = 50  # candidate thresholds per class, evenly spaced in held-out rows


@dataclass(frozen=True)
class ClassThreshold:
    """One class's threshold from held-out rows."""

    label: int  # class index, in the probabilities' column order
    threshold: float | None  # tag at confidence >= threshold; None: nothing meets the target
    support: int  # held-out rows predicted as the class at or above the threshold
    correct: int  # of those, rows whose label is the class
    lower_bound: float  # one-sided lower bound of their precision (0 when no threshold)
    predicted: int  # held-out rows predicted as the class, at any confidence

    @property
    def precision(self) -> float:
        return self.correct / self.support if self.support else 0.0

    @property
    def wrong(self) -> int:
        return self.support - self.correct


@dataclass(frozen=True)
class TagForecast:
    """What one class's threshold would do to a set of arrivals."""

    label: int
    threshold: float | None
    tagged: int  # arrivals predicted as the class with confidence >= threshold
    expected_wrong: float  # Beta-Binomial mean
    wrong_low: int  # central INTERVAL of the wrong count
    wrong_high: int
    expected_wrong_calibrated: float  # sum of (1 - confidence) over the tagged arrivals


def precision_lower_bound(correct, support, *, level: float = LEVEL) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound of correct / support (0 where correct is 0).
    correct, support: (M,) int arrays (or scalars) -> (M,) float64."""
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(support, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = beta.ppf(1.0 - level, k, n - k + 1.0)
    return np.where(k > 0, np.nan_to_num(bound), 0.0)


def class_thresholds(
    probs: np.ndarray, labels: np.ndarray, *, target: float, level: float = LEVEL
) -> list[ClassThreshold]:
    """One ClassThreshold per column of probs. probs: (N, K) held-out calibrated
    probabilities; labels: (N,) int in [0, K); target: the precision asked, in (0, 1)."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target precision must be between 0 and 1, got {target}")
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    k = probs.shape[1] if probs.ndim == 2 else 0
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)  # (N,)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)  # (N,)
    return [
        _threshold_for(c, confidence[predicted == c], labels[predicted == c] == c, target, level)
        for c in range(k)
    ]


def _threshold_for(
    label: int, confidence: np.ndarray, correct: np.ndarray, target: float, level: float
) -> ClassThreshold:
    """confidence, correct: (M,) the held-out rows predicted as `label`."""
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    support = np.arange(1, len(order) + 1)  # (M,) rows at or above each confidence
    right = np.cumsum(correct)  # (M,)
    # STEPS candidates down the class's rows; a threshold keeps every row tied with it, so
    # each candidate moves to the last row of its tie.
    steps = np.unique(np.linspace(0, max(len(order) - 1, 0), STEPS).astype(np.int64))
    steps = steps[: len(order)]  # none for a class never predicted
    candidates = np.unique(np.searchsorted(-confidence, -confidence[steps], side="right") - 1)
    passes = precision_lower_bound(right[candidates], support[candidates], level=level) >= target
    if not passes.any():
        return ClassThreshold(label, None, 0, 0, 0.0, len(order))
    first = int(np.argmax(passes))
    fails = np.flatnonzero(~passes[first:])
    stop = first + int(fails[0]) if len(fails) else len(passes)
    i = int(candidates[stop - 1])  # the last pass before the first failure
    bound = float(precision_lower_bound(right[i], support[i], level=level))
    return ClassThreshold(
        label=label,
        threshold=float(confidence[i]),
        support=int(support[i]),
        correct=int(right[i]),
        lower_bound=bound,
        predicted=len(order),
    )


def tag_mask(thresholds: list[ClassThreshold], probs: np.ndarray) -> np.ndarray:
    """Which rows the thresholds tag (with their argmax class). probs: (M, K) -> (M,) bool."""
    probs = np.asarray(probs, dtype=np.float64)
    if not len(probs):
        return np.zeros(0, dtype=bool)
    cut = np.array([np.inf if t.threshold is None else t.threshold for t in thresholds])  # (K,)
    predicted = probs.argmax(axis=1)  # (M,)
    return probs.max(axis=1) >= cut[predicted]


def forecast_tags(
    thresholds: list[ClassThreshold], probs: np.ndarray, *, interval: float = INTERVAL
) -> list[TagForecast]:
    """Per class: how many of the arrivals the thresholds tag and how many of those are
    expected wrong, with a central `interval`. probs: (M, K) the arrivals' calibrated
    probabilities, same columns as the held-out rows."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(thresholds))
    tagged = tag_mask(thresholds, probs)  # (M,)
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    out = []
    for t in thresholds:
        mine = tagged & (predicted == t.label)  # (M,)
        n = int(mine.sum())
        if t.threshold is None or n == 0:
            out.append(TagForecast(t.label, t.threshold, 0, 0.0, 0, 0, 0.0))
            continue
        wrong = betabinom(n, t.wrong + 1, t.correct + 1)
        tail = (1.0 - interval) / 2
        out.append(
            TagForecast(
                label=t.label,
                threshold=t.threshold,
                tagged=n,
                expected_wrong=float(wrong.mean()),
                wrong_low=int(wrong.ppf(tail)),
                wrong_high=int(wrong.ppf(1.0 - tail)),
                expected_wrong_calibrated=float((1.0 - confidence[mine]).sum()),
            )
        )
    return out
