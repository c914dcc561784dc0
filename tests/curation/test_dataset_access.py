"""Per-dataset access: a dataset limited to a team is seen only by its members (any role)
and superusers; everyone else gets a 404 on its URLs, as if it did not exist, and does not
find it in lists, search, the API or similarity results. Open datasets stay open."""

from __future__ import annotations

import io
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client

from curation.access import visible_datasets
from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    EmbeddingMap,
    GoldItem,
    Image,
    ImportJob,
    LabelEvent,
    MapSelection,
    ReviewItem,
    TrainingRun,
)
from curation.roles import ensure_role_groups
from curation.services.datasets import NotATeam, create_dataset, set_dataset_teams
from curation.services.labels import relabel_image
from curation.services.saved_views import save_view
from tests.curation.test_hostile_numbers import routes
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db


def _member(name: str, role: str, *teams: Group) -> User:
    user = User.objects.create_user(username=name, password=f"{name}-password")
    user.groups.add(ensure_role_groups()[role], *teams)
    return user


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def limited(imported, data_scientist, monkeypatch):
    """ "dresses" limited to team brand-a, with one object of each kind in it; an open
    dataset beside it; an insider and an outsider with the same roles."""
    monkeypatch.setattr("curation.services.queue.publish", lambda *a, **k: None)
    brand_a = Group.objects.create(name="brand-a")
    brand_b = Group.objects.create(name="brand-b")
    set_dataset_teams(dataset=imported, teams=[brand_a])
    neckline = Attribute.objects.get(dataset=imported, name="neckline")
    ids = sorted(Image.objects.filter(dataset=imported).values_list("pk", flat=True))
    run = finished_run(neckline, wrong={ids[0], ids[-1]}, actor=data_scientist)
    # The options a real run stores (the run page shows them).
    config = {"arch": "resnet18", "epochs": 1, "image_size": 16, "cv_folds": 2, "cv_epochs": 1}
    TrainingRun.objects.filter(pk=run.pk).update(config=config)
    image = Image.objects.get(pk=ids[0])
    current = Annotation.objects.get(image=image, attribute=neckline).label_id
    batch = uuid.uuid4()
    _, event = relabel_image(
        image=image,
        attribute=neckline,
        label=neckline.labels.exclude(pk=current).first(),
        actor=data_scientist,
        batch=batch,
    )
    assert event is not None
    job = ImportJob.objects.create(dataset_name=imported.name, source="/somewhere")
    embedding_map = EmbeddingMap.objects.create(dataset=imported, source="classifier", run=run)
    item = ReviewItem.objects.filter(run=run).first()
    assert item is not None
    holes = {
        "name": imported.name,
        "attribute": neckline.name,
        "image_id": str(image.pk),
        "run_id": str(run.pk),
        "item_id": str(item.pk),
        "event_id": str(event.pk),
        "label_id": str(neckline.labels.values_list("pk", flat=True)[0]),
        "batch": str(batch),
        "job_id": str(job.pk),
        "view_id": str(save_view(dataset=imported, owner=data_scientist, name="v", query="")[0].pk),
        "map_id": str(embedding_map.pk),
        "selection_id": str(MapSelection.objects.create(map=embedding_map, image_ids=ids).pk),
        "gold_id": str(
            GoldItem.objects.create(attribute=neckline, image=image, answer_id=current).pk
        ),
    }
    create_dataset(name="open-shoes", attributes={"colour": ["red", "blue"]})
    return {
        "dataset": imported,
        "run": run,
        "image": image,
        "holes": holes,
        "insider": _member("ines_insider", "data_scientist", brand_a),
        "insider_viewer": _member("ivan_insider", "viewer", brand_a),
        "outsider": _member("otto_outsider", "data_scientist", brand_b),
        "outsider_admin": _member("oona_outsider", "admin"),
        "superuser": User.objects.create_superuser("sam_super", password="sam-password"),
    }


def _pages(world) -> list[str]:
    h = world["holes"]
    return [
        f"/datasets/{h['name']}/",
        f"/datasets/{h['name']}/attributes/neckline/gallery/",
        f"/datasets/{h['name']}/history/",
        f"/datasets/{h['name']}/similarity/",
        f"/images/{h['image_id']}/",
        f"/images/{h['image_id']}/similar/",
        f"/runs/{h['run_id']}/",
        f"/api/datasets/{h['name']}/",
        f"/api/images/{h['image_id']}/",
        f"/api/images/{h['image_id']}/history/",
        f"/api/images/{h['image_id']}/similar/",
        f"/api/runs/{h['run_id']}/",
        f"/api/images/?dataset={h['name']}",
    ]


@pytest.mark.parametrize("who", ["insider", "insider_viewer", "superuser"])
def test_a_team_member_of_any_role_and_a_superuser_see_the_limited_dataset(limited, who):
    client = _client(limited[who])
    h = limited["holes"]
    for url in _pages(limited):
        if "similar" in url:
            continue  # no index is built here; the outsider's 404 below is what matters
        assert client.get(url).status_code == 200, url
    assert h["name"] in client.get("/").content.decode()
    names = [d["name"] for d in client.get("/api/datasets/").json()]
    assert names == ["dresses", "open-shoes"]
    assert str(limited["run"].pk) in client.get("/runs/").content.decode()


def test_roles_still_decide_what_a_member_may_do_inside(limited):
    image = limited["image"]
    neckline = Attribute.objects.get(dataset=limited["dataset"], name="neckline")
    current = Annotation.objects.get(image=image, attribute=neckline).label_id
    label = neckline.labels.exclude(pk=current).first()
    url = f"/images/{image.pk}/relabel/"
    data = {"attribute": "neckline", "label": label.pk}
    assert _client(limited["insider_viewer"]).post(url, data).status_code == 403
    assert _client(limited["insider"]).post(url, data).status_code in (200, 302)
    annotation = Annotation.objects.get(image=image, attribute=neckline)
    assert annotation.label_id == label.pk


@pytest.mark.parametrize("who", ["outsider", "outsider_admin"])
def test_an_outsider_with_the_same_role_gets_404_and_no_listing(limited, who):
    client = _client(limited[who])
    for url in _pages(limited):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
    assert "dresses" not in client.get("/").content.decode()
    assert [d["name"] for d in client.get("/api/datasets/").json()] == ["open-shoes"]
    assert f"/runs/{limited['run'].pk}/" not in client.get("/runs/").content.decode()
    form = client.get("/import/").content.decode()
    assert "dresses" not in form


def test_an_outsider_cannot_classify_search_or_train_by_dataset_name(limited):
    client = _client(limited["outsider"])
    with default_storage.open(limited["image"].file) as stored:
        photo = io.BytesIO(stored.read())
    photo.name = "photo.png"
    h = limited["holes"]
    classify = client.post(
        f"/datasets/{h['name']}/classify/", {"photo": photo}, raise_request_exception=False
    )
    assert classify.status_code == 404
    photo.seek(0)
    api = client.post("/api/classify/", {"dataset": h["name"], "image": photo})
    assert api.status_code == 404, api.content
    by_id = {"dataset": h["name"], "images": [limited["image"].pk]}
    api = client.post("/api/classify/", by_id, content_type="application/json")
    assert api.status_code == 404, api.content
    photo.seek(0)
    similar = client.post("/api/similar/", {"dataset": h["name"], "photo": photo})
    assert similar.status_code == 404, similar.content
    train = client.post(
        "/api/runs/",
        {"dataset": h["name"], "attribute": "neckline"},
        content_type="application/json",
    )
    assert train.status_code == 404, train.content


def test_an_outsider_cannot_import_into_the_limited_dataset(limited, small_catalog):
    client = _client(limited["outsider"])
    response = client.post("/import/", {"dataset": "dresses", "source": str(small_catalog)})
    assert response.status_code == 400
    assert "not a dataset you can import into" in response.content.decode()
    assert ImportJob.objects.count() == 1  # only the fixture's


@pytest.mark.parametrize("who", ["outsider", "outsider_admin"])
def test_every_url_of_the_limited_dataset_is_a_404_for_an_outsider(limited, who):
    """The walk: each route that takes a dataset name or an object id, with the limited
    dataset's objects in its holes, GET and POST (and PATCH under /api/), answers the
    outsider 404."""
    client = _client(limited[who])
    holes = limited["holes"]
    tried = []
    for template, _ in routes():
        if template.startswith("/admin/"):
            continue
        names = {n for n in holes if "{" + n + "}" in template}
        if not names or "{token}" in template:
            continue  # a crowd link's signature is its access check (test_review_batches.py)
        url = template.format(**holes)
        for method in ("get", "post", "patch") if url.startswith("/api/") else ("get", "post"):
            response = getattr(client, method)(url)
            tried.append(url)
            if response.status_code == 405:
                continue  # the other method is the route's
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
    assert len(tried) > 60


def test_an_open_dataset_stays_visible_to_every_role(limited):
    for who in ("insider", "insider_viewer", "outsider", "outsider_admin", "superuser"):
        client = _client(limited[who])
        assert client.get("/datasets/open-shoes/").status_code == 200, who
        assert "open-shoes" in [d["name"] for d in client.get("/api/datasets/").json()]


def test_a_user_without_a_role_sees_nothing_even_in_the_team(limited):
    user = User.objects.create_user("tom_team_only")
    user.groups.add(Group.objects.get(name="brand-a"))
    assert not visible_datasets(user).exists()


def test_a_role_is_not_a_team(limited):
    with pytest.raises(NotATeam):
        set_dataset_teams(dataset=limited["dataset"], teams=[ensure_role_groups()["viewer"]])


def test_the_command_limits_and_opens_a_dataset(limited):
    out = io.StringIO()
    call_command("dataset_teams", "--dataset", "open-shoes", "--team", "brand-a", stdout=out)
    assert "limited to brand-a" in out.getvalue()
    shoes = Dataset.objects.get(name="open-shoes")
    assert not visible_datasets(limited["outsider"]).filter(pk=shoes.pk).exists()
    call_command(
        "dataset_teams", "--dataset", "open-shoes", "--team", "brand-a", "--remove", stdout=out
    )
    assert "open to every role" in out.getvalue()
    assert visible_datasets(limited["outsider"]).filter(pk=shoes.pk).exists()
    with pytest.raises(CommandError, match="no team 'brand-z'"):
        call_command("dataset_teams", "--dataset", "open-shoes", "--team", "brand-z")
    with pytest.raises(CommandError, match="is a role"):
        call_command("dataset_teams", "--dataset", "open-shoes", "--team", "viewer")


def test_existing_datasets_stay_open_after_the_migration(imported, viewer):
    """No teams is the default: a dataset from before the field is open to every role."""
    assert list(imported.teams.all()) == []
    assert visible_datasets(viewer).filter(pk=imported.pk).exists()
    assert LabelEvent.objects.exists()


def test_the_admin_offers_teams_but_not_roles(limited):
    client = _client(limited["superuser"])
    page = client.get(f"/admin/curation/dataset/{limited['dataset'].pk}/change/")
    assert page.status_code == 200
    teams = page.content.decode().split('name="teams"', 1)[1].split("</select>", 1)[0]
    assert "brand-a" in teams and "brand-b" in teams
    assert ">viewer<" not in teams and ">data_scientist<" not in teams
    brand_a = Group.objects.get(name="brand-a").pk
    listing = client.get(f"/admin/curation/dataset/?teams__id__exact={brand_a}").content.decode()
    assert "/change/" in listing and "open-shoes" not in listing and "dresses" in listing
