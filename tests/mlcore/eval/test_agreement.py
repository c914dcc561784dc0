"""Fleiss' and Cohen's kappa against published worked examples."""

import numpy as np
import pytest

from mlcore.eval.agreement import fleiss_kappa, fleiss_kappa_first_votes, pairwise_cohen_kappa

# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
# 5 categories; P-bar 0.378, P-bar_e 0.213, kappa 0.210.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_matches_the_published_example():
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_from_first_votes_matches_the_table():
    votes = [[k for k, n in enumerate(row) for _ in range(n)] for row in FLEISS_1971]

    found = fleiss_kappa_first_votes(votes, raters=14, num_classes=5)

    assert (found.items, found.left_out, found.raters) == (10, 0, 14)
    assert found.kappa == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_takes_the_first_votes_and_counts_items_left_out():
    # The third vote of the last item is left out, and so is the one-vote item.
    votes = [[0, 0], [1, 1], [0, 1, 1], [2]]

    found = fleiss_kappa_first_votes(votes, raters=2, num_classes=3)

    assert (found.items, found.left_out) == (3, 1)
    expected = fleiss_kappa(np.array([[2, 0, 0], [0, 2, 0], [1, 1, 0]]))
    assert found.kappa == pytest.approx(expected)
    assert expected == pytest.approx(1 / 3)  # P-bar 2/3, P-bar_e 1/2


def test_fleiss_kappa_is_undefined_or_refused_where_the_formula_does_not_hold():
    assert fleiss_kappa(np.array([[2, 0], [2, 0]])) is None  # one category: no chance baseline
    assert fleiss_kappa(np.zeros((0, 3))) is None
    assert fleiss_kappa(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same number of votes"):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))
    with pytest.raises(ValueError, match="at least 2 votes"):
        fleiss_kappa(np.array([[1, 0], [0, 1]]))
    assert fleiss_kappa_first_votes([[0], [1]], raters=2, num_classes=2).kappa is None


def test_cohen_kappa_matches_the_published_example():
    # Wikipedia's "Cohen's kappa" example: 50 proposals, A and B both yes on 20, A yes and
    # B no on 5, A no and B yes on 10, both no on 15: p_o 0.7, p_e 0.5, kappa 0.4.
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    votes = np.column_stack([a, b]).astype(np.float64)

    (pair,) = pairwise_cohen_kappa(votes)

    assert (pair.a, pair.b, pair.items) == (0, 1, 50)
    assert pair.agree == pytest.approx(0.7)
    assert pair.kappa == pytest.approx(0.4)


def test_cohen_kappa_pairs_only_reviewers_who_share_items():
    nan = np.nan
    votes = np.array(
        [
            [0, 0, nan],
            [1, 1, nan],
            [0, nan, 0],
            [nan, 1, 1],
            [nan, 1, 1],
        ]
    )

    pairs = {(p.a, p.b): p for p in pairwise_cohen_kappa(votes)}

    assert set(pairs) == {(0, 1), (1, 2)}  # 0 and 2 share one item only
    assert pairs[(0, 1)].kappa == pytest.approx(1.0)
    assert pairs[(1, 2)].kappa is None  # both always said 1: kappa is undefined
    assert pairs[(1, 2)].agree == 1.0
