"""The Import page in its own words: its errors name its checkbox (not --create), a refused
path says why, an upload is shown by its name, and unknown labels are listed with the way to
add them by name."""

from __future__ import annotations

import html
import io

import pytest

from curation.models import ImportJob, Label
from tests.support import zips

pytestmark = [pytest.mark.django_db]


def _post(client, data: bytes, *, dataset="up", **fields):
    upload = io.BytesIO(data)
    upload.name = "Spring shoot.zip"
    return client.post("/import/", {"dataset": dataset, "upload": upload, **fields})


def test_a_web_import_into_a_missing_dataset_names_the_checkbox(
    client, data_scientist, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, zips.build(zips.catalog()))

    job = ImportJob.objects.get()
    assert job.status == "failed"
    assert "--create" not in job.error
    assert job.error == (
        "dataset 'up' does not exist; tick 'Create the dataset and attributes (columns) if "
        "missing' on the Import page to create it"
    )
    page = html.unescape(client.get(f"/import/{job.pk}/").content.decode())
    assert "tick 'Create the dataset and attributes (columns) if missing'" in page


def test_a_refused_path_says_why_and_nothing_else(client, data_scientist, settings, tmp_path):
    settings.CURATION_IMPORT_ROOTS = [str(tmp_path / "allowed")]
    client.force_login(data_scientist)

    response = client.post("/import/", {"dataset": "x", "source": "/etc"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "imports from the web may read only under" in page
    assert "Give a source path" not in page


def test_an_uploads_job_page_shows_the_zips_name(
    client, data_scientist, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, zips.build(zips.catalog()), create="on")
    job = ImportJob.objects.get()

    page = client.get(f"/import/{job.pk}/").content.decode()

    assert "Source: <code>Spring shoot.zip</code>" in page
    assert job.upload_dir not in page


def test_unknown_labels_are_listed_and_created_only_by_name(
    client, data_scientist, imported, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    manifest = {"labels.csv": b"path,neckline\nimg/a.png,sweetheart\n"}
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, zips.build(zips.catalog(**manifest)), dataset="dresses", create="on")
    job = ImportJob.objects.get()
    page = html.unescape(client.get(f"/import/{job.pk}/").content.decode())

    assert not Label.objects.filter(name="sweetheart").exists()
    assert "unknown label 'sweetheart' for attribute 'neckline'" in page
    assert 'id="new-labels"' in page and "not created: its rows are not imported" in page
    assert "<code>neckline:sweetheart</code>" in page
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            client,
            zips.build(zips.catalog(**manifest)),
            dataset="dresses",
            create_labels="neckline:sweetheart",
        )
    again = ImportJob.objects.latest("id")
    assert again.report["created"] == 1
    assert Label.objects.filter(attribute__name="neckline", name="sweetheart").exists()
    assert "created, as asked" in client.get(f"/import/{again.pk}/").content.decode()
