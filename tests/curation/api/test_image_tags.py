"""Tags in the API: GET /api/images/{id}/ lists them; POST / DELETE /api/images/{id}/tags/
put one on and take it off (merchandisers and above, within the datasets one may see)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from curation.models import Image, ImageTag
from curation.services.datasets import set_dataset_teams

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_post_tags_and_get_lists_them(imported, merchandiser):
    image = Image.objects.filter(dataset=imported).first()
    api = _api(merchandiser)
    response = api.post(f"/api/images/{image.pk}/tags/", {"tag": "Reshoot"}, format="json")
    assert response.status_code == 200 and response.json() == {"tags": ["reshoot"]}
    api.post(f"/api/images/{image.pk}/tags/", {"tag": "ambiguous"}, format="json")
    assert api.get(f"/api/images/{image.pk}/").json()["tags"] == ["ambiguous", "reshoot"]
    listed = api.get("/api/images/", {"dataset": "dresses"}).json()["results"]
    assert {row["id"]: row["tags"] for row in listed}[image.pk] == ["ambiguous", "reshoot"]


def test_delete_takes_a_tag_off(imported, merchandiser):
    image = Image.objects.filter(dataset=imported).first()
    api = _api(merchandiser)
    api.post(f"/api/images/{image.pk}/tags/", {"tag": "reshoot"}, format="json")
    response = api.delete(f"/api/images/{image.pk}/tags/", {"tag": "reshoot"}, format="json")
    assert response.status_code == 200 and response.json() == {"tags": []}
    assert not ImageTag.objects.exists()


def test_a_bad_tag_is_a_400_naming_the_field(imported, merchandiser):
    image = Image.objects.filter(dataset=imported).first()
    response = _api(merchandiser).post(
        f"/api/images/{image.pk}/tags/", {"tag": "no;way"}, format="json"
    )
    assert response.status_code == 400 and "tag" in response.json()


def test_a_viewer_may_not_tag(imported, viewer):
    image = Image.objects.filter(dataset=imported).first()
    response = _api(viewer).post(f"/api/images/{image.pk}/tags/", {"tag": "x"}, format="json")
    assert response.status_code == 403 and not ImageTag.objects.exists()


def test_an_image_of_a_hidden_dataset_is_a_404(imported, merchandiser):
    set_dataset_teams(dataset=imported, teams=[Group.objects.create(name="brand-a")])
    image = Image.objects.filter(dataset=imported).first()
    response = _api(merchandiser).post(f"/api/images/{image.pk}/tags/", {"tag": "x"}, format="json")
    assert response.status_code == 404 and not ImageTag.objects.exists()
