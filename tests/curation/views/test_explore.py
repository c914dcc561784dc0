"""The Explore sidebar over HTTP: filtered pages and their HTMX swap, 400s naming the
parameter, tagging a selection and one image, saved views (open by URL, owner-only edits,
per-dataset access) and a page whose queries do not grow with its tiles."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import Image, ImageTag, SavedView
from curation.roles import ensure_role_groups
from curation.services.datasets import set_dataset_teams
from curation.services.saved_views import save_view
from curation.services.tags import tag_images

pytestmark = pytest.mark.django_db

URL = "/datasets/dresses/"


def _tiles(html: str) -> list[str]:
    return re.findall(r'<a class="tile" href="/images/(\d+)/"', html)


def _ids(dataset) -> dict[str, int]:
    return dict(Image.objects.filter(dataset=dataset).values_list("source_path", "pk"))


def test_the_sidebar_filters_the_gallery_and_shows_its_filters(imported, client, viewer):
    client.force_login(viewer)
    html = client.get(URL, {"split": "test", "q": "sku-2"}).content.decode()
    ids = _ids(imported)
    assert _tiles(html) == [str(ids["img/4.png"]), str(ids["img/5.png"])]
    assert 'name="q" value="sku-2"' in html
    assert '<option value="test" selected>' in html
    assert 'name="query" value="split=test&amp;q=sku-2"' in html  # what "Save view" keeps


def test_an_htmx_filter_swaps_the_sidebar_and_gallery_only(imported, client, viewer):
    client.force_login(viewer)
    response = client.get(
        URL, {"split": "train"}, headers={"HX-Request": "true", "HX-Target": "explore"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="explore-filters"' in html and "<h1>" not in html
    assert len(_tiles(html)) == 4


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"split": "val"}, "split"), ({"conf_min": "2"}, "conf_min"), ({"tag": "nope"}, "tag")],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(imported, client, viewer, query, parameter):
    client.force_login(viewer)
    response = client.get(URL, query)
    assert response.status_code == 400
    assert parameter in response.content.decode()


def test_a_merchandiser_tags_a_selection_then_filters_by_it(imported, client, merchandiser):
    client.force_login(merchandiser)
    ids = _ids(imported)
    chosen = [ids["img/1.png"], ids["img/3.png"]]
    response = client.post(
        f"{URL}tags/",
        {"image": chosen, "tag": "Reshoot", "action": "add", "next": f"{URL}?split=train"},
    )
    assert response.status_code == 302 and response["Location"] == f"{URL}?split=train"
    assert sorted(ImageTag.objects.values_list("image_id", flat=True)) == sorted(chosen)
    html = client.get(URL, {"tag": "reshoot"}).content.decode()
    assert _tiles(html) == [str(i) for i in sorted(chosen)]
    assert html.count('<span class="badge tag">reshoot</span>') == 2

    client.post(f"{URL}tags/", {"image": chosen[:1], "tag": "reshoot", "action": "remove"})
    assert list(ImageTag.objects.values_list("image_id", flat=True)) == chosen[1:]


def test_tagging_one_image_from_its_page(imported, client, merchandiser):
    client.force_login(merchandiser)
    image = Image.objects.get(dataset=imported, source_path="img/2.png")
    response = client.post(f"/images/{image.pk}/tags/", {"tag": "ambiguous", "action": "add"})
    assert response.status_code == 302
    html = client.get(f"/images/{image.pk}/").content.decode()
    assert 'id="image-tags"' in html and "?tag=ambiguous#gallery" in html


def test_a_viewer_cannot_tag_and_sees_no_tag_form(imported, client, viewer):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=imported).first()
    assert client.post(f"{URL}tags/", {"image": [image.pk], "tag": "x"}).status_code == 403
    assert client.post(f"/images/{image.pk}/tags/", {"tag": "x"}).status_code == 403
    assert 'id="tagging"' not in client.get(URL).content.decode()
    assert not ImageTag.objects.exists()


def test_a_bad_tag_name_says_why(imported, client, merchandiser):
    client.force_login(merchandiser)
    image = Image.objects.filter(dataset=imported).first()
    response = client.post(
        f"/images/{image.pk}/tags/", {"tag": "<script>", "action": "add"}, follow=True
    )
    assert "is not a tag name" in response.content.decode()
    assert not ImageTag.objects.exists()


def test_a_saved_view_opens_by_url_for_another_user(imported, client, viewer, merchandiser):
    client.force_login(viewer)
    response = client.post(f"{URL}views/", {"name": "Test SKU 2", "query": "q=sku-2&split=test"})
    view = SavedView.objects.get()
    assert view.owner_id == viewer.pk and view.query == "split=test&q=sku-2"
    assert response["Location"] == f"{URL}views/{view.pk}/"

    client.force_login(merchandiser)
    opened = client.get(f"{URL}views/{view.pk}/", follow=True)
    html = opened.content.decode()
    ids = _ids(imported)
    assert _tiles(html) == [str(ids["img/4.png"]), str(ids["img/5.png"])]
    assert "View <strong>Test SKU 2</strong>" in html
    assert 'name="q" value="sku-2"' in html
    assert "saved_view_edit" not in html and f"{URL}views/{view.pk}/edit/" not in html


def test_a_saved_view_with_bad_filters_is_refused(imported, client, viewer):
    client.force_login(viewer)
    response = client.post(f"{URL}views/", {"name": "bad", "query": "split=sideways"})
    assert response.status_code == 400 and "split" in response.content.decode()
    assert not SavedView.objects.exists()


def test_only_the_owner_edits_or_deletes_a_view(imported, client, viewer, merchandiser):
    view, _ = save_view(dataset=imported, owner=viewer, name="tests", query="split=test")
    client.force_login(merchandiser)
    assert client.post(f"{URL}views/{view.pk}/edit/", {"name": "mine"}).status_code == 403
    assert client.post(f"{URL}views/{view.pk}/delete/").status_code == 403

    client.force_login(viewer)
    client.post(f"{URL}views/{view.pk}/edit/", {"name": "test split", "query": "split=train"})
    view.refresh_from_db()
    assert (view.name, view.query) == ("test split", "split=train")
    client.post(f"{URL}views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_a_view_of_a_team_dataset_is_a_404_outside_the_team(imported, client, viewer):
    view, _ = save_view(dataset=imported, owner=viewer, name="tests", query="split=test")
    set_dataset_teams(dataset=imported, teams=[Group.objects.create(name="brand-a")])
    otto = User.objects.create_user(username="otto", password="otto-password")
    otto.groups.add(ensure_role_groups()["viewer"])
    client.force_login(otto)
    assert client.get(f"{URL}views/{view.pk}/").status_code == 404
    assert client.post(f"{URL}views/", {"name": "x", "query": ""}).status_code == 404
    assert client.post("/datasets/dresses/tags/", {"image": [1], "tag": "x"}).status_code == 404


def test_the_page_reads_tags_in_one_query_whatever_the_tiles(imported, client, merchandiser):
    client.force_login(merchandiser)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        return len(queries)

    before = count()
    ids = list(_ids(imported).values())
    tag_images(dataset=imported, image_ids=ids, name="reshoot", actor=merchandiser)
    tag_images(dataset=imported, image_ids=ids, name="ambiguous", actor=merchandiser)
    save_view(dataset=imported, owner=merchandiser, name="a", query="")
    save_view(dataset=imported, owner=merchandiser, name="b", query="split=test")
    assert count() == before
