"""The data-health page: pairs side by side, fixes by HTMX and by plain form, who may fix,
bad input named, pagination and empty states."""

from __future__ import annotations

import pytest

from curation.models import Image, ImageStatus, Quarantine, SplitMove
from curation.queries import health
from tests.support.hashes import clean, flip, plant

pytestmark = pytest.mark.django_db

PAGE = "/datasets/dresses/health/"
FIX = "/datasets/dresses/health/fix/"
HX = {"HTTP_HX_REQUEST": "true"}


def _id(path: str) -> int:
    return Image.objects.get(source_path=path).pk


@pytest.fixture
def leaked(imported):
    """img/5 (test) is an exact copy of img/0 (train), img/4 (test) 2 bits from img/2."""
    hashes = clean(imported)
    plant(imported, {"img/5.png": hashes["img/0.png"], "img/4.png": flip(hashes["img/2.png"], 2)})
    return imported


def _fix(client, fix: str, train: str = "img/0.png", test: str = "img/5.png", **extra):
    data = {"fix": fix, "train": _id(train), "test": _id(test), **extra}
    return client.post(FIX, data, **HX)


def test_a_clean_catalog_says_there_are_no_leaked_pairs(imported, client, viewer):
    clean(imported)
    client.force_login(viewer)
    body = client.get(PAGE).content.decode()
    assert "No leaked pairs" in body and "No duplicates with disagreeing labels" in body
    assert "no leaked pairs" in client.get("/datasets/dresses/").content.decode()


def test_the_page_shows_each_pair_side_by_side_nearest_first(leaked, client, data_scientist):
    client.force_login(data_scientist)
    body = client.get(PAGE).content.decode()
    first, second = (
        f'id="pair-{_id("img/0.png")}-{_id("img/5.png")}"',
        f'id="pair-{_id("img/2.png")}-{_id("img/4.png")}"',
    )
    assert first in body and second in body and body.index(first) < body.index(second)
    assert "2 pairs" in body and "2 test images" in body
    assert f"/images/{_id('img/5.png')}/thumb/" in body and "product sku-2" in body
    assert "Move test product to train" in body and "Quarantine test image" in body
    detail = client.get("/datasets/dresses/").content.decode()
    assert "2 leaked test images" in detail and PAGE in detail


def test_a_viewer_sees_pairs_without_fix_buttons_and_cannot_post_one(leaked, client, viewer):
    client.force_login(viewer)
    body = client.get(PAGE).content.decode()
    assert "pair-" in body and "Quarantine test image" not in body
    response = _fix(client, "quarantine-test")
    assert response.status_code == 403
    assert Image.objects.get(source_path="img/5.png").status == ImageStatus.OK


def test_quarantining_the_test_image_by_htmx_swaps_the_pair(leaked, client, data_scientist):
    client.force_login(data_scientist)
    response = _fix(client, "quarantine-test")
    assert response.status_code == 200
    body = response.content.decode()
    assert (
        f'id="pair-{_id("img/0.png")}-{_id("img/5.png")}"' in body and "Quarantined image" in body
    )
    record = Quarantine.objects.get()
    assert (record.image_id, record.actor_id) == (_id("img/5.png"), data_scientist.pk)
    assert f"#{_id('img/0.png')}" in record.reason
    assert len(health.search(leaked).leaked) == 1


def test_moving_the_test_product_by_plain_form_redirects_back(leaked, client, data_scientist):
    client.force_login(data_scientist)
    data = {"fix": "move-test", "train": _id("img/0.png"), "test": _id("img/5.png"), "next": PAGE}
    response = client.post(FIX, data)
    assert response.status_code == 302 and response["Location"] == PAGE
    move = SplitMove.objects.get()
    assert (move.product.key, move.new_split, move.actor) == ("sku-2", "train", "dana_ds")
    # sku-2 holds both test images: both pairs are gone.
    body = client.get(PAGE).content.decode()
    assert "Moved product sku-2" in body and "No leaked pairs" in body


def test_moving_the_train_product_to_test(leaked, client, data_scientist):
    client.force_login(data_scientist)
    assert _fix(client, "move-train").status_code == 200
    assert Image.objects.get(source_path="img/0.png").split == "test"
    assert [p[1] for p in health.search(leaked).leaked] == [_id("img/4.png")]


def test_a_pair_fixed_already_is_refused_by_name(leaked, client, data_scientist):
    client.force_login(data_scientist)
    assert _fix(client, "quarantine-test").status_code == 200
    again = _fix(client, "quarantine-train")
    assert again.status_code == 409
    assert "no longer a leaked pair" in again.content.decode()
    assert Quarantine.objects.count() == 1
    assert Image.objects.get(source_path="img/0.png").status == ImageStatus.OK


def test_bad_input_is_named(leaked, client, data_scientist):
    client.force_login(data_scientist)
    unknown = client.post(FIX, {"fix": "move-test", "train": 99999, "test": _id("img/5.png")})
    assert unknown.status_code == 404 and b"no image #99999 (train side" in unknown.content
    not_a_fix = _fix(client, "delete-both")
    assert not_a_fix.status_code == 400 and b"'delete-both' is not a fix" in not_a_fix.content
    not_a_pair = _fix(client, "move-test", train="img/1.png")
    assert not_a_pair.status_code == 409 and b"no longer a leaked pair" in not_a_pair.content
    bad_radius = client.get(PAGE + "?radius=99")
    assert bad_radius.status_code == 400 and b"radius must be a whole number" in bad_radius.content
    assert not SplitMove.objects.exists() and not Quarantine.objects.exists()


def test_a_wider_radius_finds_farther_copies(imported, client, viewer):
    hashes = clean(imported)
    plant(imported, {"img/5.png": flip(hashes["img/0.png"], 6)})
    client.force_login(viewer)
    assert "No leaked pairs" in client.get(PAGE).content.decode()
    assert "1 pair," in client.get(PAGE + "?radius=6").content.decode()


def test_disagreeing_duplicates_are_listed_with_the_attribute(imported, client, viewer):
    hashes = clean(imported)
    plant(imported, {"img/3.png": flip(hashes["img/1.png"], 1)})
    client.force_login(viewer)
    body = client.get(PAGE).content.decode()
    assert f'id="conflict-{_id("img/1.png")}-{_id("img/3.png")}"' in body
    assert "neckline disagrees" in body


def test_leaked_pairs_page_by_twenty(imported, client, viewer, monkeypatch):
    clean(imported)
    pairs = [(_id("img/0.png"), _id("img/5.png"), d % 5) for d in range(45)]
    found = health.Search(radius=4, n_images=6, leaked=pairs, same_split=[], crowds=[], skipped=0)
    monkeypatch.setattr(health, "search", lambda dataset, radius=4: found)
    client.force_login(viewer)
    body = client.get(PAGE + "?page=3").content.decode()
    assert "Page 3 of 3" in body and body.count('class="pair"') == 5


def test_the_dataset_page_does_not_run_the_search_itself(leaked, client, viewer):
    client.force_login(viewer)
    assert "not checked since the last change" in client.get("/datasets/dresses/").content.decode()
    client.get(PAGE)
    assert "2 leaked test images" in client.get("/datasets/dresses/").content.decode()
