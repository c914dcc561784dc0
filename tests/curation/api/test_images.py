"""REST API: listing, filtering, PATCH with If-Match, history, permissions."""

from __future__ import annotations

import pytest

from curation.models import Annotation, Image, LabelEvent
from tests.support.api import api_client

pytestmark = pytest.mark.django_db


def test_anonymous_requests_are_refused(imported):
    assert api_client().get("/api/datasets/").status_code in (401, 403)


def test_a_user_without_a_role_is_refused(imported, outsider):
    assert api_client(outsider).get("/api/datasets/").status_code == 403


def test_datasets_list_attributes_and_labels_in_order(imported, viewer):
    body = api_client(viewer).get("/api/datasets/dresses/").json()
    assert [a["name"] for a in body["attributes"]] == ["neckline", "sleeve"]
    assert body["attributes"][0]["labels"] == ["round", "v-neck", "boat"]


def test_images_filter_by_attribute_label_and_split(imported, viewer):
    client = api_client(viewer)
    body = client.get(
        "/api/images/", {"dataset": "dresses", "attribute": "neckline", "label": "round"}
    ).json()
    assert sorted(r["source_path"] for r in body["results"]) == ["img/0.png", "img/3.png"]
    body = client.get("/api/images/", {"dataset": "dresses", "split": "test"}).json()
    assert sorted(r["source_path"] for r in body["results"]) == ["img/4.png", "img/5.png"]


def test_images_paginate_with_a_cursor(imported, viewer):
    client = api_client(viewer)
    seen = []
    url = "/api/images/?dataset=dresses&page_size=4"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(Image.objects.values_list("id", flat=True))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "dataset"),
        ({"dataset": "dresses", "attribute": "colour"}, "attribute"),
        ({"dataset": "dresses", "attribute": "neckline", "label": "sweetheart"}, "label"),
        ({"dataset": "dresses", "label": "round"}, "attribute"),
        ({"dataset": "dresses", "split": "validation"}, "split"),
    ],
)
def test_bad_filters_get_a_400_naming_the_field(imported, viewer, query, field):
    response = api_client(viewer).get("/api/images/", query)
    assert response.status_code == 400 and field in response.json()


def test_unknown_dataset_or_image_is_a_404(imported, viewer):
    assert api_client(viewer).get("/api/images/", {"dataset": "nope"}).status_code == 404
    assert api_client(viewer).get("/api/images/999999/").status_code == 404


def _image():
    return Image.objects.get(source_path="img/0.png")


def test_patch_with_the_current_version_changes_the_label(imported, merchandiser):
    image = _image()
    response = api_client(merchandiser).patch(
        f"/api/images/{image.pk}/labels/",
        {"attribute": "neckline", "label": "boat"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.json()
    assert response.json()["label"] == "boat" and response.json()["version"] == 2
    assert response["ETag"] == '"2"'


def test_patch_with_a_stale_version_gets_412_and_the_current_value(imported, merchandiser):
    image = _image()
    client = api_client(merchandiser)
    url = f"/api/images/{image.pk}/labels/"
    client.patch(
        url, {"attribute": "neckline", "label": "boat"}, format="json", HTTP_IF_MATCH='"1"'
    )
    response = client.patch(
        url, {"attribute": "neckline", "label": "v-neck"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 412
    assert (
        response.json()["current"]["label"] == "boat" and response.json()["current"]["version"] == 2
    )


def test_patch_without_if_match_gets_428(imported, merchandiser):
    response = api_client(merchandiser).patch(
        f"/api/images/{_image().pk}/labels/",
        {"attribute": "neckline", "label": "boat"},
        format="json",
    )
    assert response.status_code == 428
    assert Annotation.objects.get(image=_image(), attribute__name="neckline").version == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attribute": "colour", "label": "red"}, "attribute"),
        ({"attribute": "neckline", "label": "sweetheart"}, "label"),
        ({"label": "boat"}, "attribute"),
    ],
)
def test_patch_with_bad_body_gets_400(imported, merchandiser, body, field):
    response = api_client(merchandiser).patch(
        f"/api/images/{_image().pk}/labels/", body, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 400 and field in response.json()


def test_a_viewer_cannot_patch(imported, viewer):
    response = api_client(viewer).patch(
        f"/api/images/{_image().pk}/labels/",
        {"attribute": "neckline", "label": "boat"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 403
    assert not LabelEvent.objects.filter(source="manual").exists()


def test_history_lists_changes_newest_first(imported, merchandiser):
    image = _image()
    client = api_client(merchandiser)
    client.patch(
        f"/api/images/{image.pk}/labels/",
        {"attribute": "neckline", "label": "boat"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    body = client.get(f"/api/images/{image.pk}/history/").json()
    first = body["results"][0]
    assert (first["source"], first["old_label"], first["new_label"], first["actor"]) == (
        "manual",
        "round",
        "boat",
        "max_merch",
    )
    assert len(body["results"]) == 3


def test_the_openapi_schema_is_served(imported, viewer):
    response = api_client(viewer).get("/api/schema/")
    assert response.status_code == 200 and b"/api/images/{image_id}/labels/" in response.content
