"""Pages: roles, empty states, helpful 404s, HTMX relabel and revert, import upload."""

from __future__ import annotations

import io
import zipfile

import pytest

from curation.models import Annotation, Image, ImportJob, LabelEvent

pytestmark = pytest.mark.django_db


def test_pages_need_login(imported, client):
    for url in ("/", "/datasets/dresses/", f"/images/{Image.objects.first().pk}/", "/import/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_user_without_a_role_sees_a_clear_403(imported, client, outsider):
    client.force_login(outsider)
    response = client.get("/datasets/dresses/")
    assert response.status_code == 403 and b"no role yet" in response.content


def test_empty_state_on_the_dataset_list(client, data_scientist):
    client.force_login(data_scientist)
    body = client.get("/").content.decode()
    assert "No datasets yet" in body and "Import a catalog" in body


def test_dataset_page_shows_counts_per_label_and_split(imported, client, viewer):
    client.force_login(viewer)
    body = client.get("/datasets/dresses/").content.decode()
    assert "neckline" in body and "v-neck" in body and "train 4" in body and "test 2" in body


def test_missing_things_get_a_helpful_404(imported, client, viewer):
    client.force_login(viewer)
    response = client.get("/datasets/nope/")
    assert (
        response.status_code == 404
        and b"There is no dataset called &#x27;nope&#x27;" in response.content
    )
    assert b"There is no image #424242" in client.get("/images/424242/").content


def test_gallery_filters_by_label_and_pages_with_htmx(imported, client, viewer):
    client.force_login(viewer)
    round_id = imported.attributes.get(name="neckline").labels.get(name="round").pk
    body = client.get(f"/datasets/dresses/?attribute=neckline&label={round_id}").content.decode()
    assert body.count('class="tile"') == 2
    first_id = Image.objects.order_by("id").first().pk
    partial = client.get(
        f"/datasets/dresses/?after={first_id}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more"
    )
    assert partial.status_code == 200
    assert partial.content.decode().count('class="tile"') == 5 and b"<html" not in partial.content


def test_thumbnails_and_originals_are_served_to_viewers_only(imported, client, viewer, outsider):
    image = Image.objects.first()
    client.force_login(viewer)
    thumb = client.get(f"/images/{image.pk}/thumb/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    assert b"".join(thumb.streaming_content)[:4] == b"\x89PNG"
    client.force_login(outsider)
    assert client.get(f"/images/{image.pk}/file/").status_code == 403


def test_a_viewer_sees_labels_without_controls(imported, client, viewer):
    client.force_login(viewer)
    body = client.get(f"/images/{Image.objects.first().pk}/").content.decode()
    assert "<select" not in body and "Revert" not in body


def test_a_viewer_posting_a_relabel_gets_403(imported, client, viewer):
    client.force_login(viewer)
    image = Image.objects.get(source_path="img/0.png")
    boat = imported.attributes.get(name="neckline").labels.get(name="boat")
    response = client.post(
        f"/images/{image.pk}/relabel/", {"attribute": "neckline", "label": boat.pk, "version": 1}
    )
    assert response.status_code == 403
    assert not LabelEvent.objects.filter(source="manual").exists()


def test_htmx_relabel_swaps_labels_and_history(imported, client, merchandiser):
    client.force_login(merchandiser)
    image = Image.objects.get(source_path="img/0.png")
    boat = imported.attributes.get(name="neckline").labels.get(name="boat")
    response = client.post(
        f"/images/{image.pk}/relabel/",
        {"attribute": "neckline", "label": boat.pk, "version": 1},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "max_merch" in body and "Revert" in body
    assert Annotation.objects.get(image=image, attribute__name="neckline").label_id == boat.pk


def test_a_stale_relabel_shows_who_changed_it(imported, client, merchandiser, data_scientist):
    image = Image.objects.get(source_path="img/0.png")
    labels = {lab.name: lab for lab in imported.attributes.get(name="neckline").labels.all()}
    client.force_login(data_scientist)
    client.post(
        f"/images/{image.pk}/relabel/",
        {"attribute": "neckline", "label": labels["boat"].pk, "version": 1},
    )
    client.force_login(merchandiser)
    response = client.post(
        f"/images/{image.pk}/relabel/",
        {"attribute": "neckline", "label": labels["v-neck"].pk, "version": 1},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "dana_ds changed neckline to boat" in response.content.decode()


def test_revert_from_the_history(imported, client, merchandiser):
    client.force_login(merchandiser)
    image = Image.objects.get(source_path="img/0.png")
    boat = imported.attributes.get(name="neckline").labels.get(name="boat")
    client.post(
        f"/images/{image.pk}/relabel/", {"attribute": "neckline", "label": boat.pk, "version": 1}
    )
    event = LabelEvent.objects.get(source="manual")
    response = client.post(f"/history/{event.pk}/revert/")
    assert response.status_code == 302
    assert Annotation.objects.get(image=image, attribute__name="neckline").label.name == "round"


def test_a_merchandiser_cannot_import(client, merchandiser):
    client.force_login(merchandiser)
    assert client.get("/import/").status_code == 403


def _zip_of(folder) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.rglob("*"):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent).as_posix())
    buffer.seek(0)
    buffer.name = "catalog.zip"
    return buffer


def test_uploading_a_zip_imports_it_and_shows_the_report(
    small_catalog, client, data_scientist, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/import/", {"dataset": "uploaded", "create": "on", "upload": _zip_of(small_catalog)}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = ImportJob.objects.get()
    assert job.status == "succeeded" and job.report["created"] == 6
    page = client.get(response["Location"]).content.decode()
    assert "succeeded" in page and "Open the dataset" in page
    assert Image.objects.filter(dataset__name="uploaded").count() == 6


def test_an_unsafe_zip_is_refused_with_a_reason(client, data_scientist):
    client.force_login(data_scientist)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.csv", "path\n")
    buffer.seek(0)
    buffer.name = "evil.zip"
    response = client.post("/import/", {"dataset": "x", "create": "on", "upload": buffer})
    assert response.status_code == 400 and "is unsafe" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_failed_import_job_shows_its_error(
    client, data_scientist, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/import/", {"dataset": "x", "source": str(tmp_path / "nowhere")})
    job = ImportJob.objects.get()
    assert job.status == "failed" and "does not exist" in job.error
    assert "does not exist" in client.get(response["Location"]).content.decode()


def test_a_data_scientist_moves_labels_and_tables_follow(imported, client, data_scientist):
    client.force_login(data_scientist)
    attribute = imported.attributes.get(name="neckline")
    boat = attribute.labels.get(name="boat")
    response = client.post(
        f"/datasets/dresses/labels/{boat.pk}/move/", {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert list(attribute.labels.order_by("position").values_list("name", flat=True)) == [
        "round",
        "boat",
        "v-neck",
    ]
    body = client.get("/datasets/dresses/").content.decode()
    assert body.index(">boat<") < body.index(">v-neck<")
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(data_scientist)
    assert api.get("/api/datasets/dresses/").json()["attributes"][0]["labels"] == [
        "round",
        "boat",
        "v-neck",
    ]


def test_a_merchandiser_cannot_move_labels(imported, client, merchandiser):
    client.force_login(merchandiser)
    boat = imported.attributes.get(name="neckline").labels.get(name="boat")
    assert (
        client.post(f"/datasets/dresses/labels/{boat.pk}/move/", {"direction": "up"}).status_code
        == 403
    )
    assert "▲" not in client.get("/datasets/dresses/").content.decode()
