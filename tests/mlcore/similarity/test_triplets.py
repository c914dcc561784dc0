import numpy as np
import pytest

from mlcore.similarity.triplets import (
    attribute_triplets,
    flip_triplets,
    group_triplets,
    human_triplets,
)


def test_flip_triplets_pair_an_image_with_itself_against_another():
    t = flip_triplets(5, per_item=3, seed=1)

    assert t.shape == (15, 3)
    assert (t[:, 0] == t[:, 1]).all() and (t[:, 2] != t[:, 0]).all()
    assert sorted(set(t[:, 0])) == [0, 1, 2, 3, 4]


def test_group_triplets_take_the_closer_from_the_group_and_the_farther_from_outside():
    groups = np.array([7, 7, 7, 2, 2, 9])  # item 5 is alone: it is never a reference

    t = group_triplets(groups, per_item=20, seed=0)

    assert t.shape == (100, 3)
    assert 5 not in t[:, 0]
    assert (groups[t[:, 1]] == groups[t[:, 0]]).all() and (t[:, 1] != t[:, 0]).all()
    assert (groups[t[:, 2]] != groups[t[:, 0]]).all()
    assert set(t[t[:, 0] == 0, 1]) == {1, 2}  # every group-mate gets drawn


def test_attribute_triplets_match_all_labels_and_prefer_near_misses():
    labels = np.array(
        [
            [0, 0, 0],
            [0, 0, 0],  # same as 0
            [0, 0, 1],  # differs from 0 in one attribute
            [1, 1, 1],
            [1, 1, 1],  # same as 3
            [1, 2, 2],
            [0, -1, 0],  # unknown: takes no part
        ]
    )

    t = attribute_triplets(labels, per_item=10, hard=8, seed=0)

    assert 6 not in t
    assert (labels[t[:, 1]] == labels[t[:, 0]]).all()
    assert (labels[t[:, 2]] != labels[t[:, 0]]).any(1).all()
    from_zero = t[t[:, 0] == 0, 2]
    assert (from_zero == 2).mean() > 0.5  # the one-attribute miss is the usual negative


def test_human_triplets_map_item_ids_to_positions():
    ids = [101, 205, 300, 42]

    t = human_triplets([(205, 42, 101), (300, 101, 205)], ids)

    np.testing.assert_array_equal(t, [[1, 3, 0], [2, 0, 1]])
    with pytest.raises(ValueError, match="item id 999"):
        human_triplets([(205, 999, 101)], ids)
    with pytest.raises(ValueError, match="must differ"):
        human_triplets([(205, 205, 101)], ids)
