from pathlib import Path

import numpy as np

from mlcore.datasets.synthetic_dresses import ATTRIBUTES
from mlcore.similarity.evaluate import (
    ROLES,
    differs_scores,
    evaluate_lookalikes,
    recall_at_k,
    render_lookalikes,
    triplet_accuracy,
)


def test_triplet_accuracy_counts_correctly_ordered_triplets():
    v = np.array([[1, 0], [0.9, 0.436], [0, 1]], np.float32)

    assert triplet_accuracy(v, np.array([[0, 1, 2], [0, 2, 1]])) == 0.5
    assert np.isnan(triplet_accuracy(v, np.zeros((0, 3))))


def test_recall_at_k_asks_for_a_group_mate_among_the_nearest():
    angles = np.array([0.0, 0.1, 1.0, 1.05, 2.0, 2.5])
    v = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    groups = np.array([0, 0, 1, 1, 2, 3])  # 4 and 5 have no group-mate: not queries

    assert recall_at_k(v, groups, ks=(1, 3)) == {1: 1.0, 3: 1.0}
    swapped = np.array([0, 1, 0, 1, 2, 3])  # each one's nearest is now of another group
    assert recall_at_k(v, swapped, ks=(1, 3))[1] == 0.0


def test_lookalikes_change_exactly_what_their_role_says(dresses):
    assert len(dresses.paths) == 6 * 34 and dresses.roles[:6] == list(ROLES)
    base, look = dresses.positions("base"), dresses.positions("lookalike")
    np.testing.assert_array_equal(dresses.labels[base], dresses.labels[look])
    for col, attribute in enumerate(ATTRIBUTES):
        variant = dresses.positions(attribute)
        differs = dresses.labels[variant] != dresses.labels[base]
        assert differs[:, col].all()
        assert not np.delete(differs, col, axis=1).any()
    x0, y0, x1, y1 = dresses.boxes.T
    assert ((x1 > x0) & (y1 > y0) & (x0 >= 0) & (x1 <= 64)).all()


def test_lookalikes_are_deterministic(dresses, tmp_path):
    again = render_lookalikes(tmp_path, n_products=2, size=64, seed=3)

    for a, b in zip(again.paths, dresses.paths[:12], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_perfect_vectors_score_perfectly(dresses):
    # One direction per product, plus a small push per attribute label: group-mates are
    # nearest, and among other products those sharing labels come first.
    rng = np.random.default_rng(0)
    product = rng.standard_normal((34, 64))
    label_dirs = rng.standard_normal((4, 4, 64)) * 0.15
    v = product[dresses.groups] + sum(label_dirs[c, dresses.labels[:, c]] for c in range(4))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    scores = evaluate_lookalikes(v, dresses)

    assert scores.triplet_accuracy == 1.0 and scores.recall_at_1 == 1.0
    assert scores.variant_hit == 1.0
    assert scores.differs_precision > 0.1


def test_differs_precision_counts_results_that_change_only_that_attribute(dresses):
    # Every photo of a product gets the product's vector: the nearest photo that differs
    # in X is the product's own X-variant, which matches the query on everything else.
    rng = np.random.default_rng(1)
    product = rng.standard_normal((34, 32)).astype(np.float32)
    v = product[dresses.groups] + 0.01 * rng.standard_normal((len(dresses.paths), 32))
    base = dresses.positions("base")

    at_1 = differs_scores(v, dresses.labels, queries=base, groups=dresses.groups, k=1)
    shuffled = differs_scores(
        v, dresses.labels, queries=base, groups=rng.permutation(dresses.groups), k=1
    )

    assert at_1.searches == 34 * 4
    assert at_1.precision == 1.0 and at_1.variant_hit == 1.0
    assert shuffled.variant_hit < 0.2  # the wrong groups: their "variants" are elsewhere
