import pytest
from statsmodels.stats.proportion import proportion_confint

from mlcore.eval.strength import model_strength, wilson_interval


@pytest.mark.parametrize("correct,n", [(0, 10), (3, 10), (43, 180), (930, 1000), (10, 10)])
def test_wilson_interval_matches_statsmodels(correct, n):
    low, high = wilson_interval(correct, n)
    ref_low, ref_high = proportion_confint(correct, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-9)
    assert high == pytest.approx(ref_high, abs=1e-9)


def test_a_model_at_chance_on_four_balanced_classes_is_weak():
    # the necklines: 24% test accuracy on 4 classes of 45 test images each
    strength = model_strength(correct=43, supports=[45, 45, 45, 45], names=list("abcd"))
    assert strength.weak
    assert strength.baseline == pytest.approx(0.25)
    assert strength.accuracy == pytest.approx(43 / 180)


def test_a_good_fashion_mnist_model_is_not_weak():
    strength = model_strength(correct=9300, supports=[1000] * 10, names=[str(k) for k in range(10)])
    assert not strength.weak
    assert strength.low > 0.92


def test_accuracy_below_the_commonest_label_share_is_weak_even_when_it_looks_high():
    strength = model_strength(correct=700, supports=[750, 150, 100], names=["a", "b", "c"])
    assert strength.weak
    assert strength.majority == "a"
    assert strength.baseline == pytest.approx(0.75)


@pytest.mark.parametrize("correct,weak", [(6, True), (9, False)])
def test_a_small_test_split_needs_a_clear_margin(correct, weak):
    assert model_strength(correct=correct, supports=[5, 5], names=["x", "y"]).weak is weak


def test_an_empty_test_split_is_weak():
    assert model_strength(correct=0, supports=[0, 0], names=["x", "y"]).weak


def test_it_refuses_counts_that_do_not_add_up():
    with pytest.raises(ValueError, match="correct"):
        model_strength(correct=11, supports=[5, 5], names=["x", "y"])
