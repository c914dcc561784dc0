"""Auto-accept thresholds and wrong-tag forecasts, on simulated models whose truth is known.

The simulation is calibrated by construction: each image's probabilities p are drawn from a
Dirichlet and its true label from p itself, so p is exactly the chance of each label. A
miscalibrated model reports softmax(log p / T) instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.eval.auto_accept import (
    ClassThreshold,
    class_thresholds,
    forecast_tags,
    precision_lower_bound,
    tag_mask,
)
from mlcore.eval.calibration import apply_temperature

ALPHA = (0.5, 0.35, 0.25, 0.15)  # four classes, from easy and common to rare and hard


def simulate(
    rng: np.random.Generator, n: int, *, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) reported probabilities and (N,) true labels drawn from the true probabilities."""
    p = rng.dirichlet(ALPHA, n)  # (N, K)
    truth = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)  # (N,)
    reported = p if temperature == 1.0 else apply_temperature(p, temperature)
    return reported, truth


def outcome(seed: int, *, target: float, level: float = 0.95, temperature: float = 1.0):
    """Thresholds from 5,000 held-out rows, applied to 20,000 arrivals: per tagged class,
    (realized precision, true wrong count, forecast)."""
    rng = np.random.default_rng(seed)
    held_probs, held_labels = simulate(rng, 5_000, temperature=temperature)
    new_probs, new_truth = simulate(rng, 20_000, temperature=temperature)
    thresholds = class_thresholds(held_probs, held_labels, target=target, level=level)
    forecasts = forecast_tags(thresholds, new_probs)
    tagged = tag_mask(thresholds, new_probs)
    predicted = new_probs.argmax(axis=1)
    out = []
    for forecast in forecasts:
        mine = tagged & (predicted == forecast.label)
        if not mine.any():
            continue
        wrong = int((new_truth[mine] != forecast.label).sum())
        out.append((1 - wrong / mine.sum(), wrong, forecast))
    return out


def test_auto_accepted_tags_meet_the_target_and_the_forecast_holds_the_true_wrong_count():
    """The done-when test: one seeded catalog with known truth."""
    target = 0.95
    results = outcome(7, target=target)
    assert len(results) >= 2  # the easy classes get a threshold; a test of nothing can't pass
    for precision, wrong, forecast in results:
        assert forecast.tagged >= 200
        assert precision >= target, (forecast, precision)
        assert forecast.wrong_low <= wrong <= forecast.wrong_high, (forecast, wrong)


@pytest.mark.parametrize(("temperature", "target"), [(1.0, 0.95), (0.6, 0.95), (1.0, 0.9)])
def test_over_many_catalogs_the_rule_rarely_ships_below_target(temperature, target):
    """Across seeds: the share of tagged classes that ship at or above the target, and the
    share whose true wrong count lands in the forecast interval. Over-confident reported
    probabilities (T = 0.6) change neither: both rest on counted held-out mistakes."""
    results = [
        r for seed in range(40) for r in outcome(seed, target=target, temperature=temperature)
    ]
    assert len(results) >= 60
    met = np.mean([precision >= target for precision, _, _ in results])
    covered = np.mean([f.wrong_low <= wrong <= f.wrong_high for _, wrong, f in results])
    shipped = sum(f.tagged for _, _, f in results)
    pooled = 1 - sum(wrong for _, wrong, _ in results) / shipped
    assert met >= 0.85, met
    assert covered >= 0.85, covered
    assert pooled >= target, pooled


def test_the_point_estimate_would_miss_the_target_about_half_the_time():
    """The same check with a 50% bound (the point estimate) fails it: the test can tell."""
    results = [r for seed in range(40) for r in outcome(seed, target=0.95, level=0.5)]
    met = np.mean([precision >= 0.95 for precision, _, _ in results])
    assert met < 0.7, met


def test_calibrated_sum_misleads_when_the_model_is_overconfident():
    """Why the interval comes from counted mistakes: an over-confident model's own
    confidences promise fewer wrong tags than it ships, and the Beta-Binomial does not."""
    results = outcome(3, target=0.9, temperature=0.5)
    wrong = sum(w for _, w, _ in results)
    assert sum(f.expected_wrong_calibrated for _, _, f in results) < 0.7 * wrong
    assert (
        sum(f.wrong_low for _, _, f in results) <= wrong <= sum(f.wrong_high for _, _, f in results)
    )


def test_a_class_without_enough_held_out_rows_tags_nothing():
    """All right but too few: 100 correct rows bound the precision at 0.970 < 0.98."""
    probs = np.tile([[0.99, 0.01]], (100, 1))
    thresholds = class_thresholds(probs, np.zeros(100, dtype=int), target=0.98)
    assert thresholds[0].threshold is None and thresholds[0].predicted == 100
    assert thresholds[1].threshold is None and thresholds[1].predicted == 0
    forecast = forecast_tags(thresholds, np.tile([[0.999, 0.001]], (50, 1)))
    assert [f.tagged for f in forecast] == [0, 0]
    assert not tag_mask(thresholds, np.tile([[0.999, 0.001]], (50, 1))).any()


def test_the_threshold_stops_above_the_first_run_of_mistakes():
    """400 right rows at the top, then mistakes: the threshold stays above the mistakes."""
    confidence = np.linspace(0.99, 0.6, 600)
    correct = np.r_[np.ones(400, dtype=bool), np.zeros(200, dtype=bool)]
    probs = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.where(correct, 0, 1)
    (first, _) = class_thresholds(probs, labels, target=0.98)
    assert first.threshold is not None
    assert 350 <= first.support <= 410 and first.threshold > confidence[410]
    assert first.precision >= 0.98 and first.lower_bound >= 0.98


def test_tied_confidences_are_kept_together():
    """A threshold can't split rows of equal confidence: all 300 or none."""
    probs = np.tile([[0.9, 0.1]], (300, 1))
    labels = np.r_[np.zeros(299, dtype=int), 1]
    (first, _) = class_thresholds(probs, labels, target=0.97)
    assert (first.threshold, first.support, first.correct) == (0.9, 300, 299)


def test_lower_bound_is_clopper_pearson():
    # all n right: (1 - level)^(1/n); none right: 0
    assert precision_lower_bound(149, 149)[()] == pytest.approx(0.05 ** (1 / 149))
    assert precision_lower_bound(0, 10)[()] == 0.0
    assert precision_lower_bound(95, 100)[()] == pytest.approx(0.8979, abs=1e-3)


def test_forecast_interval_widens_with_fewer_held_out_rows():
    few = ClassThreshold(0, 0.9, support=200, correct=196, lower_bound=0.95, predicted=200)
    many = ClassThreshold(0, 0.9, support=20_000, correct=19_600, lower_bound=0.98, predicted=1)
    arrivals = np.full((1_000, 1), 0.95)  # one column: every arrival predicted as class 0
    (f_few,) = forecast_tags([few], arrivals)
    (f_many,) = forecast_tags([many], arrivals)
    assert f_few.tagged == f_many.tagged == 1_000
    assert f_few.expected_wrong == pytest.approx(1_000 * 5 / 202)
    assert f_few.wrong_high - f_few.wrong_low > f_many.wrong_high - f_many.wrong_low
    assert f_many.wrong_low <= 20 <= f_many.wrong_high


def test_bad_target_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        class_thresholds(np.ones((1, 2)) / 2, np.zeros(1, dtype=int), target=1.0)
