"""Per-class precision-recall curves: the AP read off the curve is scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from mlcore.eval.pr_curves import pr_curves


def _probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs.round(2), labels  # rounding makes ties, which the step sum must handle


@pytest.mark.parametrize(("n", "k", "seed"), [(40, 3, 0), (500, 10, 1), (3000, 4, 2)])
def test_average_precision_equals_sklearns(n, k, seed):
    probs, labels = _probs(n, k, seed)
    curves = pr_curves(probs, labels, points=50)
    for c, curve in enumerate(curves):
        expected = average_precision_score(labels == c, probs[:, c])
        assert curve.average_precision == pytest.approx(expected, abs=1e-12)
        assert curve.support == int((labels == c).sum())
        assert len(curve.precision) == len(curve.recall) <= 50
        assert curve.recall[0] == 1.0 and curve.recall[-1] == 0.0  # both ends kept


def test_a_class_nobody_has_gets_no_curve_and_unknown_labels_count_as_negatives():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    curves = pr_curves(probs, np.array([0, 1, -1]))
    assert np.isnan(curves[2].average_precision) and curves[2].support == 0
    assert curves[0].average_precision == pytest.approx(
        average_precision_score([True, False, False], probs[:, 0])
    )


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        pr_curves(np.zeros((3, 2)), np.zeros(2, np.int64))
