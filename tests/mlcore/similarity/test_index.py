import numpy as np
import pytest

from mlcore.similarity.index import IndexConfig, VectorIndex


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(ids: np.ndarray, vecs: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(vecs @ q), kind="stable")[:k]]


FLAT = IndexConfig(hnsw_threshold=10**9)
HNSW = IndexConfig(hnsw_threshold=1)
KINDS = [pytest.param(FLAT, id="flat"), pytest.param(HNSW, id="hnsw")]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return np.arange(1500, dtype=np.int64) * 7 + 3, unit(rng, 1500), unit(rng, 40)


def test_hnsw_agrees_with_exact_search(data):
    ids, vecs, queries = data
    flat, hnsw = VectorIndex(16, FLAT), VectorIndex(16, HNSW)
    flat.add(ids, vecs)
    hnsw.add(ids, vecs)

    assert (flat.kind, hnsw.kind) == ("flat", "hnsw")
    overlap = [len(set(flat.search(q, 10).ids) & set(hnsw.search(q, 10).ids)) / 10 for q in queries]
    assert np.mean(overlap) >= 0.95
    exact = flat.search(queries[0], 10)
    assert list(exact.ids) == list(brute(ids, vecs, queries[0], 10))
    assert np.all(np.diff(exact.scores) <= 0)


def test_it_switches_to_hnsw_at_the_threshold_and_keeps_every_item(data):
    ids, vecs, _ = data
    index = VectorIndex(16, IndexConfig(hnsw_threshold=1000))
    index.add(ids[:999], vecs[:999])
    assert index.kind == "flat"

    index.add(ids[999:], vecs[999:])

    assert index.kind == "hnsw" and len(index) == 1500
    hits = [index.search(vecs[i], 1).ids[0] == ids[i] for i in range(0, 1500, 50)]
    assert all(hits)


@pytest.mark.parametrize("config", KINDS)
def test_incremental_adds_find_what_one_add_finds(data, config):
    ids, vecs, queries = data
    once, steps = VectorIndex(16, config), VectorIndex(16, config)
    once.add(ids, vecs)
    for lo in range(0, 1500, 400):
        steps.add(ids[lo : lo + 400], vecs[lo : lo + 400])

    assert len(steps) == 1500 and sorted(steps.ids) == sorted(ids)
    for q in queries[:10]:
        a, b = once.search(q, 10), steps.search(q, 10)
        assert len(set(a.ids) & set(b.ids)) >= 9


@pytest.mark.parametrize("config", KINDS)
def test_removed_ids_never_come_back(data, config):
    ids, vecs, queries = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)
    gone = ids[:200]  # under compact_share: stays as dead rows

    assert index.remove(gone) == 200
    assert index.remove([gone[0], -5]) == 0

    assert len(index) == 1300 and gone[0] not in index
    for i in range(0, 200, 20):
        found = index.search(vecs[i], 20)
        assert len(found) == 20 and not set(found.ids) & set(gone)
    assert index.search_many(vecs[:5], 20)[0].shape == (5, 20)
    assert not set(index.search_many(vecs[:5], 20)[0].ravel()) & set(gone)


@pytest.mark.parametrize("config", KINDS)
def test_removing_most_items_compacts_and_search_stays_exact(data, config):
    ids, vecs, queries = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)

    index.remove(ids[:1200])

    assert len(index) == 300 and index._ids.shape[0] == 300  # rebuilt without dead rows
    expected = brute(ids[1200:], vecs[1200:], queries[0], 5)
    assert set(index.search(queries[0], 5).ids) == set(expected)


@pytest.mark.parametrize("config", KINDS)
def test_adding_a_known_id_replaces_its_vector(data, config):
    ids, vecs, _ = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)

    index.add(ids[:1], vecs[1:2])  # id 3 now has the vector of id 10

    assert len(index) == 1500
    np.testing.assert_allclose(index.vectors([ids[0]])[0], vecs[1], atol=1e-6)
    found = index.search(vecs[1], 2)
    assert set(found.ids) == {ids[0], ids[1]}


@pytest.mark.parametrize("config", KINDS)
def test_bytes_and_file_round_trip(data, config, tmp_path):
    ids, vecs, queries = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)
    index.remove(ids[:10])

    copy = VectorIndex.from_bytes(index.to_bytes())
    index.save(tmp_path / "sub" / "index.npz")
    loaded = VectorIndex.load(tmp_path / "sub" / "index.npz")

    for other in (copy, loaded):
        assert other.kind == index.kind and len(other) == 1490 and other.config == index.config
        for q in queries[:5]:
            assert list(other.search(q, 10).ids) == list(index.search(q, 10).ids)
    loaded.add([10**12], queries[:1])
    assert loaded.search(queries[0], 1).ids[0] == 10**12


def test_it_refuses_bytes_that_are_not_an_index(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not an index")

    with pytest.raises(ValueError, match="bad.npz"):
        VectorIndex.load(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("config", KINDS)
@pytest.mark.parametrize("share", [3, 60, 1400], ids=["tiny", "some", "most"])
@pytest.mark.parametrize("gather_limit", [4096, 10], ids=["numpy", "idselector"])
def test_filtered_search_returns_only_allowed_ids(data, config, share, gather_limit, monkeypatch):
    monkeypatch.setattr("mlcore.similarity.index.GATHER_LIMIT", gather_limit)
    ids, vecs, queries = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)
    allowed = np.random.default_rng(1).choice(ids, share, replace=False)

    for q in queries[:10]:
        found = index.search(q, 10, allow=allowed, exclude_ids=[allowed[0]])

        assert set(found.ids) <= set(allowed) - {allowed[0]}
        assert len(found) == min(10, share - 1)
        pick = np.isin(ids, allowed[1:])
        expected = brute(ids[pick], vecs[pick], q, 10)
        assert len(set(found.ids) & set(expected)) >= 0.9 * len(expected)


@pytest.mark.parametrize("config", KINDS)
def test_predicate_filter_grows_the_fetch_until_enough_pass(data, config):
    ids, vecs, queries = data
    index = VectorIndex(16, config)
    index.add(ids, vecs)
    rare = set(ids[::250].tolist())  # 6 of 1500: the fetch must grow to the whole index

    found = index.search(queries[0], 10, allow=lambda batch: np.isin(batch, list(rare)))

    assert set(found.ids) == rare


def test_bad_vectors_and_ids_are_refused():
    index = VectorIndex(4)
    with pytest.raises(ValueError, match="shape"):
        index.add([1], np.ones((1, 5)))
    with pytest.raises(ValueError, match="non-zero"):
        index.add([1], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="distinct"):
        index.add([1, 1], np.ones((2, 4)))
    with pytest.raises(ValueError, match="2 ids for 1"):
        index.add([1, 2], np.ones((1, 4)))
    assert len(index.search(np.ones(4), 5)) == 0
