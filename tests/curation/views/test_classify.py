"""The classify-a-photo page: roles, an upload as a plain form post and through HTMX, errors,
and the crop shown when the dataset's localizer made one."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.classify import give_a_localizer, photo_bytes, promote_tiny_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_classify_cache")]
URL = "/datasets/dresses/classify/"


@pytest.fixture
def promoted(imported):
    return {
        a.name: promote_tiny_model(a, seed=i)
        for i, a in enumerate(imported.attributes.order_by("position"))
    }


def _photo(name="dress.png", data=None):
    return SimpleUploadedFile(name, photo_bytes() if data is None else data)


def test_the_dataset_page_links_to_the_classify_page(imported, client, viewer):
    client.force_login(viewer)

    body = client.get("/datasets/dresses/").content.decode()

    assert 'href="/datasets/dresses/classify/"' in body


def test_the_page_needs_a_login_and_a_role(imported, client, outsider):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]

    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def test_a_viewer_sees_the_upload_form(promoted, client, viewer):
    client.force_login(viewer)

    response = client.get(URL)

    body = response.content.decode()
    assert response.status_code == 200
    assert 'type="file" name="photo"' in body and 'enctype="multipart/form-data"' in body
    assert "no promoted model" not in body


def test_without_promoted_models_the_page_says_what_to_do(imported, client, viewer):
    client.force_login(viewer)

    body = client.get(URL).content.decode()

    assert "has no promoted model yet" in body


def test_a_plain_form_post_shows_each_attribute_s_top_labels_with_bars(promoted, client, viewer):
    client.force_login(viewer)

    response = client.post(URL, {"photo": _photo()})

    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    for name, run in promoted.items():
        assert f"{name}: " in body and f"run #{run.pk}" in body
    widths = [float(w) for w in re.findall(r'data-width="([\d.]+)"', body)]
    assert len(widths) == 3 + 2  # every label of neckline (3) and sleeve (2)
    assert sum(widths) == pytest.approx(200, abs=0.5)  # each attribute's bars add up to 100%
    assert "No crop: the whole photo was used" in body


def test_an_htmx_post_returns_only_the_result(promoted, client, viewer):
    client.force_login(viewer)

    response = client.post(URL, {"photo": _photo()}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="classify-result"' in body and "neckline: " in body


@pytest.mark.parametrize(
    ("photo", "words"),
    [
        (None, "choose a photo"),
        (_photo("notes.png", b"plain text"), "not an image"),
        (_photo("dress.txt"), "unsupported file extension"),
    ],
)
def test_a_bad_upload_shows_the_reason_with_a_400(promoted, client, viewer, photo, words):
    client.force_login(viewer)

    response = client.post(URL, {} if photo is None else {"photo": photo}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400 and words in response.content.decode()


def test_the_crop_is_shown_when_the_localizer_made_one(promoted, client, viewer, tmp_path):
    give_a_localizer(promoted["neckline"].dataset, tmp_path)
    client.force_login(viewer)

    response = client.post(URL, {"photo": _photo(data=photo_bytes(size=(64, 64)))})

    body = response.content.decode()
    assert response.status_code == 200
    assert 'src="data:image/jpeg;base64,' in body and "Cropped to the dress" in body
    assert "of 64×64 px" in body
