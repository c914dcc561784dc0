import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from mlcore.train.loss import build_criterion, class_counts, class_weights
from tests.mlcore.conftest import tiny_config


def test_class_counts_count_every_class_including_absent_ones():
    assert class_counts([0, 2, 2, 2], 4).tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        class_counts([0, 3], 3)


def test_inverse_weights_match_scikit_learn_balanced():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 5)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)

    weights = class_weights(class_counts(labels, 3), scheme="inverse")

    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)


def test_effective_number_weights_follow_cui_et_al():
    counts = np.array([1000, 100, 10])
    beta = 0.99
    effective = (1 - beta**counts) / (1 - beta)
    expected = (1 / effective) / (1 / effective).sum() * 3

    weights = class_weights(counts, scheme="effective", beta=beta)

    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
    assert weights.sum().item() == pytest.approx(3.0)


@pytest.mark.parametrize("scheme", ["inverse", "effective"])
def test_the_rare_class_gets_the_largest_weight(scheme):
    weights = class_weights(np.array([500, 50, 5]), scheme=scheme, beta=0.999)

    assert weights[2] > weights[1] > weights[0] > 0


@pytest.mark.parametrize("scheme", ["none", "inverse", "effective"])
def test_a_class_without_examples_gives_finite_weights_and_loss(scheme):
    counts = np.array([10, 0, 3])

    weights = class_weights(counts, scheme=scheme)
    criterion = build_criterion(tiny_config(class_weighting=scheme, label_smoothing=0.1), counts)
    loss = criterion(torch.randn(6, 3), torch.tensor([0, 2, 0, 2, 0, 0]))

    assert torch.isfinite(weights).all()
    assert torch.isfinite(loss)
    if scheme != "none":
        assert weights[1] == 0


def test_weighting_changes_the_loss_towards_the_rare_class():
    counts = np.array([90, 10])
    logits = torch.tensor([[0.0, 2.0], [2.0, 0.0]])  # one mistake on each class
    targets = torch.tensor([0, 1])
    plain = torch.nn.functional.cross_entropy(logits, targets, reduction="none")

    weighted = build_criterion(tiny_config(class_weighting="inverse"), counts)(logits, targets)

    w = class_weights(counts, scheme="inverse")
    assert weighted.item() == pytest.approx(((plain * w).sum() / w.sum()).item(), rel=1e-6)
