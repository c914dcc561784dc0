"""How many wrong labels are left, learned from what the reviewers found.

A run's confident-joint estimate (mlcore.eval.issues.estimate_wrong_labels) counts every
confident disagreement between the labels and the model: where the model itself is wrong
as often as the labels are (shirt vs T-shirt), most of those are the model's mistakes, and
the estimate stays far above the truth once the catalog is clean (bench/curation.py: 1,344
expected against 374 left). The reviewers' answers on the top of the review order say how
often a label of a given quality really was wrong: a one-feature logistic model of
P(wrong | logit of the label quality), fitted on those answers (fit_review_outcomes).

The reviewed images come from the top of the order, so the fit sees low qualities only and
the rest is an extrapolation along the logistic curve. In simulation with the curve right
(1,000 labels, the lowest 15% answered) the sum still fell outside a factor of 2 of the
truth in 8 of 40 seeds. So the count people are told comes from spot checks, a uniform
random sample of the run's images that reviewers answer too (spot_check_count): the
difference estimator of survey sampling uses the curve where it helps and the sample to
correct it, and is unbiased either way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MIN_REVIEWED = 50  # answers before the fit is trusted over the confident joint
MIN_EACH = 5  # of each outcome: all wrong or all right says nothing about the slope
MIN_STRATUM = 10  # answered spot checks before a stratum's own residual is used
_EDGE = 12.0  # |logit| cap: a quality of exactly 0 or 1 would be infinite


def quality_logit(quality: np.ndarray) -> np.ndarray:
    """(N,) label qualities in [0, 1] -> (N,) float64 log-odds, capped at +-12."""
    q = np.clip(np.asarray(quality, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.clip(np.log(q) - np.log1p(-q), -_EDGE, _EDGE)


@dataclass
class ReviewFit:
    """P(wrong | quality) = sigmoid(intercept + slope * logit(quality)), from the answers."""

    intercept: float
    slope: float
    reviewed: int  # answers it was fitted on
    found_wrong: int  # of them, labels the reviewers changed

    def p_wrong(self, quality: np.ndarray) -> np.ndarray:
        """(N,) qualities -> (N,) float64 probability that each label is wrong."""
        return _sigmoid(self.intercept + self.slope * quality_logit(quality))

    def expected(self, quality: np.ndarray) -> float:
        """How many of these labels (qualities (N,)) are expected to be wrong."""
        return float(self.p_wrong(quality).sum()) if len(quality) else 0.0


def fit_review_outcomes(quality: np.ndarray, wrong: np.ndarray) -> ReviewFit | None:
    """quality: (R,) label qualities of the reviewed images; wrong: (R,) bool, the reviewer
    changed the label. None when the answers can't support a fit: fewer than MIN_REVIEWED,
    fewer than MIN_EACH of either outcome, answers that separate perfectly, or a fit in which
    a better label quality does not mean fewer wrong labels."""
    x = quality_logit(quality)
    y = np.asarray(wrong, dtype=bool)
    if len(x) != len(y):
        raise ValueError(f"quality and wrong differ in length: {len(x)} vs {len(y)}")
    if len(y) < MIN_REVIEWED or min(y.sum(), (~y).sum()) < MIN_EACH:
        return None
    fitted = _logistic(x, y.astype(np.float64))
    if fitted is None or fitted[1] >= 0:
        return None
    return ReviewFit(
        intercept=float(fitted[0]),
        slope=float(fitted[1]),
        reviewed=len(y),
        found_wrong=int(y.sum()),
    )


def _spread(residual: np.ndarray) -> float:
    """The residuals' standard deviation, never below that of one wrong label in n + 1: a
    sample with no wrong label at all (or a model that matched every answer) must not claim
    certainty."""
    n = len(residual)
    return max(float(residual.std(ddof=1)), float(np.sqrt(n / (n + 1) ** 2)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Maximum-likelihood (intercept, slope) (statsmodels' Logit); None when the answers
    separate perfectly (no finite fit) or the fit fails."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation shows as overflow before it is caught
        try:
            result = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError, ValueError):
            return None
    theta = np.asarray(result.params)
    if not np.isfinite(theta).all() or abs(theta[1]) > 50:
        return None
    return theta


@dataclass
class CheckedCount:
    """Wrong labels among the labels nobody has answered for, from the spot checks that
    reviewers answered, corrected by a model of P(wrong) where one exists."""

    expected: float
    low: float  # 95% interval
    high: float
    sampled: int  # spot checks answered


def spot_check_count(
    open_p: np.ndarray,
    open_stratum: np.ndarray,
    sample_p: np.ndarray,
    sample_wrong: np.ndarray,
    sample_stratum: np.ndarray,
) -> CheckedCount:
    """The difference estimator of survey sampling, stratified: per stratum, the model's sum
    over the open labels plus their number times the mean residual (answer - model) of the
    stratum's answered spot checks. Unbiased whatever the model when the spot checks are a
    uniform sample and, within a stratum, the answered ones are as good as random; a good
    model only narrows the interval (with no model pass zeros: the plain expansion).

    Strata follow the review order (its top is answered in order, spot checks included, so a
    single stratum would over-weight the top). A stratum with fewer than MIN_STRATUM answered
    spot checks borrows the pooled residual.

    open_p, open_stratum: (U,) P(wrong) and stratum of each open label;
    sample_p, sample_wrong, sample_stratum: (n,) the same and the answer (bool) for the
    answered spot checks."""
    y = np.asarray(sample_wrong, dtype=np.float64)
    p = np.asarray(sample_p, dtype=np.float64)
    n = len(y)
    if n < 2 or n != len(p) or n != len(sample_stratum):
        raise ValueError(f"a spot check needs 2 or more answers with model values, got {n}")
    residual = y - p
    pooled = (residual.mean(), _spread(residual), n)
    expected, variance = 0.0, 0.0
    for h in np.unique(open_stratum):
        here = open_p[open_stratum == h]
        answered = residual[sample_stratum == h]
        mean, spread, count = pooled
        if len(answered) >= MIN_STRATUM:
            mean, spread, count = answered.mean(), _spread(answered), len(answered)
        expected += here.sum() + len(here) * mean
        variance += (len(here) * spread) ** 2 / count
    expected = max(0.0, float(expected))
    half = 1.96 * float(np.sqrt(variance))
    return CheckedCount(
        expected=expected, low=max(0.0, expected - half), high=expected + half, sampled=n
    )
