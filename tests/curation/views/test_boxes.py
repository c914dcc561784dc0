"""The box editor: draw and save a dress box (fractions of the image), validation, roles,
'save and next', the list of images needing a box, and links from the image and
similarity pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Image, ImageBox
from curation.services.demo import load_demo_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(tmp_path):
    """Six synthetic photos with exact boxes; the first three lose theirs."""
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=2)
    found = list(Image.objects.order_by("pk"))
    ImageBox.objects.filter(image__in=found[:3]).delete()
    return found


def _url(image) -> str:
    return reverse("curation:image_box", args=[image.pk])


BOX = {"x0": "0.1", "y0": "0.2", "x1": "0.6", "y1": "0.9"}


def test_a_merchandiser_saves_a_box(client, merchandiser, images):
    client.force_login(merchandiser)
    response = client.post(_url(images[0]), BOX)
    assert response.status_code == 302 and response["Location"] == _url(images[0])
    box = ImageBox.objects.get(image=images[0])
    assert (box.x0, box.y0, box.x1, box.y1, box.source) == (0.1, 0.2, 0.6, 0.9, "manual")
    assert box.updated_by_id == merchandiser.pk
    page = client.get(_url(images[0])).content.decode()
    assert "Saved box: manual by max_merch" in page and 'value="0.1"' in page


def test_save_and_next_goes_to_the_next_image_without_a_box(client, merchandiser, images):
    client.force_login(merchandiser)
    response = client.post(_url(images[0]), {**BOX, "then": "next"})
    assert response["Location"] == _url(images[1])


@pytest.mark.parametrize(
    ("data", "words", "status"),
    [
        ({**BOX, "x1": "0.05"}, "a box needs 0 ≤ x0 &lt; x1 ≤ 1", 400),
        ({**BOX, "y0": "1.5"}, "less than or equal to 1", 400),
        ({k: v for k, v in BOX.items() if k != "y1"}, "This field is required", 400),
        ({**BOX, "x0": "nan"}, "Enter a number", 400),
        ({**BOX, "x0": "0.1", "x1": "0.101"}, "smaller than 2 pixels", 400),
    ],
)
def test_a_bad_box_is_refused_with_a_reason(client, merchandiser, images, data, words, status):
    client.force_login(merchandiser)
    page = client.post(_url(images[0]), data)
    assert page.status_code == status and words in page.content.decode()
    assert not ImageBox.objects.filter(image=images[0]).exists()


def test_a_viewer_sees_the_box_but_cannot_save_one(client, viewer, images):
    client.force_login(viewer)
    page = client.get(_url(images[4]))
    body = page.content.decode()
    assert page.status_code == 200 and "Viewers can look" in body and 'id="box-form"' not in body
    assert 'class="box current"' in body  # the saved synthetic box is drawn
    before = list(ImageBox.objects.values_list("image_id", "x0", "y0", "x1", "y1"))
    assert client.post(_url(images[4]), BOX).status_code == 403
    assert client.post(_url(images[0]), BOX).status_code == 403
    assert list(ImageBox.objects.values_list("image_id", "x0", "y0", "x1", "y1")) == before


def test_the_list_of_images_needing_a_box_and_the_links_to_the_editor(client, viewer, images):
    client.force_login(viewer)
    dataset = images[0].dataset
    page = client.get(reverse("curation:boxes_missing", args=[dataset.name])).content.decode()
    assert "Images needing a box (3)" in page
    assert [f'href="{_url(im)}"' in page for im in images] == [True] * 3 + [False] * 3
    assert _url(images[0]) in client.get(images[0].get_absolute_url()).content.decode()
    similarity = client.get(reverse("curation:dataset_similarity", args=[dataset.name]))
    assert "Images needing a box (3)" in similarity.content.decode()


def test_the_count_of_images_needing_a_box_leaves_out_quarantined_ones(client, viewer, images):
    from curation.models import Image

    dataset = images[0].dataset
    # One without a box and one with a box leave the usable set: the count drops by one.
    Image.objects.filter(pk__in=[images[0].pk, images[5].pk]).update(status="quarantined")
    client.force_login(viewer)
    page = client.get(reverse("curation:boxes_missing", args=[dataset.name])).content.decode()
    assert "Images needing a box (2)" in page
