import numpy as np
import pytest

from mlcore.similarity.index import IndexConfig, VectorIndex
from mlcore.similarity.search import LabelTable, differs_search, similar

# Columns: silhouette, neckline, sleeve. The query is item 0: labels (0, 0, 0).
LABELS = {
    0: (0, 0, 0),  # the query itself
    1: (0, 0, 0),  # same labels: never a "differs in neckline" answer
    2: (0, 1, 2),  # neckline differs, but so does the sleeve: 1 agreement
    3: (0, 2, 0),  # neckline differs, all else equal: 2 agreements
    4: (0, -1, 0),  # neckline unknown: not a candidate
    5: (-1, 3, 0),  # neckline differs, silhouette unknown: 1 agreement
    6: (1, 1, 1),  # neckline differs, nothing else agrees
}
# Similarity to the query falls with the id: item 2 is nearer than item 3, and so on.
ANGLES = {0: 0.0, 1: 0.05, 2: 0.1, 3: 0.2, 4: 0.25, 5: 0.3, 6: 0.4}


def vec(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle), 0.0], np.float32)


# loose_filter_share 0: the label filter is a predicate on fetched candidates;
# 1: an id list. Both, on an exact and an HNSW index, must give the same answers.
CONFIGS = [
    IndexConfig(loose_filter_share=share, hnsw_threshold=threshold)
    for share in (0.0, 1.0)
    for threshold in (1, 1000)
]


@pytest.fixture(params=CONFIGS, ids=["predicate-hnsw", "predicate-flat", "ids-hnsw", "ids-flat"])
def setup(request):
    ids = np.array(list(LABELS), np.int64)
    index = VectorIndex(3, request.param)
    index.add(ids, np.stack([vec(ANGLES[i]) for i in ids]))
    table = LabelTable(
        ids, np.array([LABELS[i] for i in ids]), ("silhouette", "neckline", "sleeve")
    )
    return index, table


def test_differs_ranks_by_agreements_then_similarity(setup):
    index, table = setup

    found = differs_search(index, vec(0), LABELS[0], table, "neckline", k=10, exclude_ids=[0])

    assert list(found.ids) == [3, 2, 5, 6]
    assert list(found.agreements) == [2, 1, 1, 0]
    assert found.scores[1] > found.scores[2]  # ties on agreements go by similarity


def test_differs_with_a_value_returns_only_that_value(setup):
    index, table = setup

    found = differs_search(index, vec(0), LABELS[0], table, 1, value=1, k=10, exclude_ids=[0])

    assert list(found.ids) == [2, 6]


def test_differs_needs_the_query_label_or_a_value(setup):
    index, table = setup
    with pytest.raises(ValueError, match="neckline is unknown"):
        differs_search(index, vec(0), (0, -1, 0), table, "neckline")

    found = differs_search(index, vec(0), (0, -1, 0), table, "neckline", value=2)

    assert list(found.ids) == [3]


def test_differs_only_reranks_within_the_pool(setup):
    index, table = setup

    found = differs_search(index, vec(0), LABELS[0], table, "neckline", k=1, pool=1)

    assert list(found.ids) == [2]  # the nearest candidate; item 3 agrees more but is farther


def test_k_limits_the_result_and_unknown_attribute_names_are_refused(setup):
    index, table = setup

    assert len(differs_search(index, vec(0), LABELS[0], table, "sleeve", k=1)) == 1
    with pytest.raises(ValueError, match="unknown attribute 'colour'"):
        differs_search(index, vec(0), LABELS[0], table, "colour")


def test_plain_similar_search_excludes_the_query(setup):
    index, _ = setup

    assert list(similar(index, vec(0), k=3, exclude_ids=[0]).ids) == [1, 2, 3]


def test_label_table_lookup():
    table = LabelTable(np.array([30, 10, 20]), np.array([[3, 3], [1, 1], [2, -1]]))

    np.testing.assert_array_equal(table.of([20, 99, 30]), [[2, -1], [-1, -1], [3, 3]])
    assert (table.count(1), table.count(1, 3), table.count(1, 7)) == (2, 1, 0)
    with pytest.raises(ValueError, match="distinct"):
        LabelTable(np.array([1, 1]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        LabelTable(np.array([1, 2]), np.zeros((3, 2)))


def test_label_table_rows_and_new_labels_keep_the_ids():
    table = LabelTable(np.array([30, 10, 20]), np.array([[3, 3], [1, 1], [2, -1]]))

    np.testing.assert_array_equal(table.rows_of([20, 99, 30, 10]), [2, -1, 0, 1])
    changed = table.with_labels(np.array([[3, 0], [1, 1], [2, 0]]))
    np.testing.assert_array_equal(changed.of([20, 10]), [[2, 0], [1, 1]])
    assert (changed.count(1), changed.count(1, 0), changed.count(1, 3)) == (3, 2, 0)
    assert table.count(1, 3) == 1  # the original is untouched
    with pytest.raises(ValueError, match="shape"):
        table.with_labels(np.zeros((2, 2)))
