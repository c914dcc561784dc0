import numpy as np
import pytest

from mlcore.eval.calibration import (
    Calibration,
    apply_temperature,
    calibrate,
    class_reliability_bins,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def overconfident(n: int, *, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(3 z): a model three times too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5
    true = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(k, p=p) for p in true])
    reported = np.exp(3 * z) / np.exp(3 * z).sum(axis=1, keepdims=True)
    return reported, labels


def test_fit_temperature_recovers_the_overconfidence_factor():
    probs, labels = overconfident(6000)

    assert fit_temperature(probs, labels) == pytest.approx(3.0, rel=0.1)


def test_temperature_keeps_every_prediction_and_lowers_the_test_ece():
    fit_probs, fit_labels = overconfident(4000, seed=1)
    test_probs, test_labels = overconfident(4000, seed=2)

    found = calibrate(
        fit_probs=fit_probs, fit_labels=fit_labels, test_probs=test_probs, test_labels=test_labels
    )

    after = apply_temperature(test_probs, found.temperature)
    assert (after.argmax(axis=1) == test_probs.argmax(axis=1)).all()
    assert found.ece_after < found.ece_before / 2
    assert found.nll_after < found.nll_before
    assert found.fitted_on == 4000 and found.test_count == 4000
    assert Calibration.from_dict(found.to_dict()) == found


def test_rows_without_probabilities_are_left_out_and_nothing_to_fit_keeps_t_one():
    test_probs, test_labels = overconfident(100, seed=3)
    fit_probs = np.full((5, 4), np.nan)

    found = calibrate(
        fit_probs=fit_probs,
        fit_labels=np.zeros(5, dtype=np.int64),
        test_probs=test_probs,
        test_labels=test_labels,
    )

    assert found.temperature == 1.0 and found.fitted_on == 0
    assert found.ece_after == pytest.approx(found.ece_before)


def test_reliability_bins_count_every_row_once_and_ece_of_a_perfect_model_is_zero():
    probs = np.eye(3)[[0, 1, 2, 0]]

    bins = reliability_bins(probs, np.array([0, 1, 2, 0]), bins=10)

    assert sum(b.count for b in bins) == 4
    assert bins[-1].count == 4 and bins[-1].accuracy == 1.0
    assert expected_calibration_error(probs, np.array([0, 1, 2, 0])) == 0.0


def test_calibrate_without_held_out_rows_keeps_t_at_one():
    """A run trained without cross-fitting has no out-of-sample rows to fit on."""
    probs, labels = overconfident(200)
    found = calibrate(
        fit_probs=np.zeros((0, 4)),
        fit_labels=np.zeros(0, dtype=int),
        test_probs=probs,
        test_labels=labels,
    )
    assert (found.temperature, found.fitted_on, found.test_count) == (1.0, 0, 200)
    assert found.ece_after == pytest.approx(found.ece_before) and found.ece_before > 0


def test_class_reliability_bins_are_one_vs_rest():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.15, 0.85], [0.05, 0.95]])
    labels = np.array([0, 1, 1, 1])
    table = class_reliability_bins(probs, labels, label=0, bins=10)
    assert [b.count for b in table] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert table[8].accuracy == 0.0 and table[9].accuracy == 1.0  # p=0.8 was wrong, 0.9 right
    assert table[8].confidence == pytest.approx(0.8)
    assert sum(b.count for b in class_reliability_bins(probs, labels, label=1)) == 4
