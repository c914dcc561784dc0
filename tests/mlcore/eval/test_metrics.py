import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from mlcore.eval.metrics import compute_metrics


def one_hot_probs(pred: list[int], k: int) -> np.ndarray:
    probs = np.full((len(pred), k), 0.1 / (k - 1))
    probs[np.arange(len(pred)), pred] = 0.9
    return probs


def test_precision_and_recall_are_not_swapped():
    # class a: 4 images, 2 found, nothing else predicted as a -> precision 1, recall 0.5
    # class b: 2 images, both found, plus 2 of a's       -> precision 0.5, recall 1
    labels = [0, 0, 0, 0, 1, 1]
    pred = [0, 0, 1, 1, 1, 1]

    m = compute_metrics(labels, one_hot_probs(pred, 2), ["a", "b"])

    a, b = m.per_class
    assert (a.precision, a.recall, a.support) == (1.0, 0.5, 4)
    assert (b.precision, b.recall, b.support) == (0.5, 1.0, 2)
    assert a.f1 == pytest.approx(2 / 3) and b.f1 == pytest.approx(2 / 3)
    assert m.confusion.tolist() == [[2, 2], [0, 2]]  # rows true, columns predicted
    assert m.accuracy == pytest.approx(4 / 6)


CASES = [
    pytest.param(0, 5, 200, None, id="random"),
    pytest.param(1, 4, 60, "never-predicted", id="class-never-predicted"),
    pytest.param(2, 4, 60, "zero-support", id="class-with-zero-support"),
    pytest.param(3, 3, 7, "both", id="tiny-both"),
]


def case(seed: int, k: int, n: int, kind: str | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n)
    if kind in ("never-predicted", "both"):
        probs[:, 1] = 0.0  # class 1 is never the argmax
    if kind in ("zero-support", "both"):
        labels[labels == k - 1] = 0  # the last class has no true example...
        probs[: n // 3, k - 1] = 5.0  # ...but gets predicted
    return labels, probs / probs.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("seed", "k", "n", "kind"), CASES)
def test_figures_agree_with_scikit_learn(seed, k, n, kind):
    labels, probs = case(seed, k, n, kind)
    pred = probs.argmax(axis=1)
    everything = list(range(k))

    m = compute_metrics(labels, probs, [f"c{i}" for i in everything])

    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=everything, zero_division=0)
    np.testing.assert_allclose([c.precision for c in m.per_class], p)
    np.testing.assert_allclose([c.recall for c in m.per_class], r)
    np.testing.assert_allclose([c.f1 for c in m.per_class], f)
    assert [c.support for c in m.per_class] == s.tolist()
    assert m.confusion.tolist() == confusion_matrix(labels, pred, labels=everything).tolist()
    assert m.macro_f1 == pytest.approx(f1_score(labels, pred, average="macro", zero_division=0))
    assert m.weighted_f1 == pytest.approx(
        f1_score(labels, pred, labels=everything, average="weighted", zero_division=0)
    )
    assert m.accuracy == pytest.approx((labels == pred).mean())


def test_mistakes_are_listed_per_class_most_confident_first():
    labels = np.array([0, 0, 1, 1, 2, 0])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # right
            [0.2, 0.7, 0.1],  # a 0 predicted 1 at 0.7
            [0.1, 0.8, 0.1],  # right
            [0.6, 0.3, 0.1],  # a 1 predicted 0 at 0.6
            [0.1, 0.1, 0.8],  # right
            [0.1, 0.85, 0.05],  # a 0 predicted 1 at 0.85
        ]
    )

    m = compute_metrics(labels, probs, ["a", "b", "c"])

    assert m.false_positives == {"a": [3], "b": [5, 1], "c": []}
    assert m.false_negatives == {"a": [5, 1], "b": [3], "c": []}


def test_to_dict_is_json_with_every_figure():
    labels, probs = case(0, 3, 30, None)

    data = json.loads(json.dumps(compute_metrics(labels, probs, ["x", "y", "z"]).to_dict()))

    assert set(data) >= {
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "per_class",
        "confusion",
        "false_positives",
        "false_negatives",
        "label_names",
    }
    assert data["per_class"][0].keys() == {"name", "precision", "recall", "f1", "support"}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        compute_metrics([0, 1], np.zeros((2, 3)), ["a", "b"])
