"""Near-duplicates across splits and disagreeing duplicates within one, by difference hash."""

from __future__ import annotations

import numpy as np
import pytest

from curation.models import Image, ImageStatus
from curation.queries import health
from curation.queries.near_duplicates import brute_force_pairs, hex_to_u64, near_pairs
from curation.services.labels import relabel_image
from tests.support.hashes import clean, flip, plant

pytestmark = pytest.mark.django_db

# The `imported` catalog: img/0-3 train (sku-0: 0, 1; sku-1: 2, 3), img/4-5 test (sku-2).
# neckline: round, v-neck, boat, round, v-neck, boat; sleeve: short, long, short, long, ...


def _id(dataset, path: str) -> int:
    return Image.objects.get(dataset=dataset, source_path=path).pk


def test_a_clean_catalog_has_nothing_to_report(imported):
    clean(imported)
    found = health.health(imported)
    assert found.search.n_images == 6
    assert (found.search.leaked, found.conflicts, found.search.crowds) == ([], [], [])


def test_it_finds_exact_and_near_copies_across_splits_nearest_first(imported):
    hashes = clean(imported)
    plant(
        imported,
        {"img/4.png": flip(hashes["img/2.png"], 3), "img/5.png": hashes["img/0.png"]},
    )
    found = health.search(imported)
    assert found.leaked == [
        (_id(imported, "img/0.png"), _id(imported, "img/5.png"), 0),
        (_id(imported, "img/2.png"), _id(imported, "img/4.png"), 3),
    ]
    assert found.leaked_test_ids == {_id(imported, "img/4.png"), _id(imported, "img/5.png")}


def test_a_copy_beyond_the_radius_is_not_a_pair(imported):
    hashes = clean(imported)
    plant(imported, {"img/4.png": flip(hashes["img/2.png"], 5)})
    assert health.search(imported, radius=4).leaked == []
    assert health.search(imported, radius=5).leaked == [
        (_id(imported, "img/2.png"), _id(imported, "img/4.png"), 5)
    ]


def test_it_finds_duplicates_within_a_split_whose_labels_disagree(imported):
    hashes = clean(imported)
    # img/1 (v-neck, long) and img/3 (round, long): one split, the necklines disagree.
    plant(imported, {"img/3.png": flip(hashes["img/1.png"], 1)})
    found = health.health(imported)
    neckline = imported.attributes.get(name="neckline")
    assert found.search.leaked == []
    assert [(c.a, c.b, c.distance, c.attributes) for c in found.conflicts] == [
        (_id(imported, "img/1.png"), _id(imported, "img/3.png"), 1, (neckline.pk,))
    ]


def test_duplicates_whose_labels_agree_are_not_conflicts(imported, data_scientist):
    hashes = clean(imported)
    # img/0 (round, short) and img/3 (round, long): only the sleeves disagree.
    plant(imported, {"img/3.png": hashes["img/0.png"]})
    sleeve = imported.attributes.get(name="sleeve")
    assert [c.attributes for c in health.health(imported).conflicts] == [(sleeve.pk,)]
    relabel_image(
        image=Image.objects.get(source_path="img/3.png"),
        attribute=sleeve,
        label=sleeve.labels.get(name="short"),
        actor=data_scientist,
    )
    assert health.health(imported).conflicts == []  # labels are read fresh, not cached


def test_quarantined_images_are_left_out(imported):
    hashes = clean(imported)
    plant(imported, {"img/5.png": hashes["img/0.png"]})
    Image.objects.filter(source_path="img/5.png").update(
        status=ImageStatus.QUARANTINED, quarantine_reason="test"
    )
    assert health.search(imported).leaked == []


def test_a_huge_group_of_identical_hashes_is_one_crowd_not_pairs():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, size=400, dtype=np.int64).astype(np.uint64)
    hashes[:250] = 0  # 250 blank photos, 50 of them in test
    ids = np.arange(1, 401, dtype=np.int64)
    is_test = np.zeros(400, dtype=bool)
    is_test[200:250] = True
    is_test[390:] = True
    found = health.search_arrays(ids, hashes, is_test, radius=4, max_group=100)
    assert found.crowds == [health.Crowd(phash="0" * 16, train=200, test=50, example_id=1)]
    assert all(a > 250 and b > 250 for a, b, _ in found.leaked + found.same_split)


def test_radius_out_of_range_is_named(imported):
    with pytest.raises(ValueError, match="radius must be between 0 and 12"):
        health.search(imported, radius=40)


@pytest.mark.parametrize(("radius", "bands"), [(0, None), (2, None), (4, None), (4, 5), (6, 8)])
def test_banded_search_equals_brute_force_on_a_random_sample(radius, bands):
    rng = np.random.default_rng(radius)
    hashes = rng.integers(0, 2**63, size=4000, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    for k in range(400):  # near copies, 0-8 bits away, around a tenth of the sample
        bits = rng.choice(64, size=rng.integers(0, 9), replace=False)
        hashes[2000 + k] = hashes[k] ^ np.uint64(sum(1 << int(b) for b in bits))
    banded = near_pairs(hashes, radius=radius, bands=bands)
    brute = brute_force_pairs(hashes, radius=radius)
    assert len(brute.i) > 0
    assert np.array_equal(banded.i, brute.i)
    assert np.array_equal(banded.j, brute.j)
    assert np.array_equal(banded.distance, brute.distance)


def test_hashes_that_are_not_hex_are_refused():
    assert hex_to_u64(["00000000000000ff"]).tolist() == [255]
    with pytest.raises(ValueError):
        hex_to_u64(["zz00000000000000"])
    with pytest.raises(ValueError, match="16 hex digits"):
        hex_to_u64(["ff"])


def test_an_image_with_dozens_of_near_hashes_is_a_look_alike_not_a_leak():
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 2**63, size=100, dtype=np.int64).astype(np.uint64)
    for k in range(1, 31):  # 30 hashes 1-2 bits from hash 0: plain images, not copies
        hashes[k] = hashes[0] ^ np.uint64(1 << k) ^ np.uint64(1 << (k + 31))
    hashes[99] = hashes[50]  # and one true copy
    ids = np.arange(1, 101, dtype=np.int64)
    is_test = np.zeros(100, dtype=bool)
    is_test[::2] = True
    found = health.search_arrays(ids, hashes, is_test, radius=4)
    assert found.leaked == [(100, 51, 0)]
    assert found.lookalikes == 31
