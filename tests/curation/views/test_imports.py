"""The import pages: damaged uploads get a form error, unpacked uploads go when the import
ends, and server paths are shown only to those who import."""

from __future__ import annotations

import html
import io
import os
import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from curation.models import Image, ImportJob
from curation.roles import ensure_role_groups
from curation.services import import_jobs
from tests.curation.services.test_archives import DAMAGED
from tests.support import zips

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Duplicate name")]


def _post(client, data: bytes, *, name="Spring shoot.zip", dataset="up", **fields):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/import/", {"dataset": dataset, "create": "on", "upload": upload, **fields})


def _left(folder) -> list:
    return list(folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def temp_dir(settings, tmp_path):
    """Django's own temporary upload files go here (every upload is big enough to spill)."""
    folder = tmp_path / "upload-temp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    return folder


@pytest.fixture
def admin_user(db):
    user = User.objects.create_user(username="ada_admin", password="ada_admin-password")
    user.groups.add(ensure_role_groups()["admin"])
    return user


# The form refuses an empty file before the archive code sees it.
ON_THE_PAGE = {"empty file": ["The submitted file is empty"]}


@pytest.mark.parametrize(
    ("make", "words"),
    [(make, ON_THE_PAGE.get(case, words)) for case, make, words in DAMAGED],
    ids=[c[0] for c in DAMAGED],
)
def test_a_damaged_zip_gets_a_form_error_naming_the_entry_and_leaves_nothing(
    client, data_scientist, settings, temp_dir, make, words
):
    client.force_login(data_scientist)
    response = _post(client, make(), name="catalog.zip")
    assert response.status_code == 400
    page = response.content.decode()
    errors = html.unescape(" ".join(re.findall(r'class="[^"]*error[^"]*"[^>]*>(.*?)<', page)))
    assert all(w in errors for w in words), errors
    assert not ImportJob.objects.exists() and not Image.objects.exists()
    assert _left(settings.VAR_DIR / "uploads") == [] and _left(temp_dir) == []


def _upload_folders(settings) -> list:
    root = settings.VAR_DIR / "uploads"
    return list(root.iterdir()) if root.exists() else []


def test_the_unpacked_upload_is_removed_when_the_import_succeeds(
    client, data_scientist, settings, temp_dir, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, zips.build(zips.catalog()))
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "succeeded" and job.report["created"] == 1
    assert _upload_folders(settings) == [] and _left(temp_dir) == []


def test_the_unpacked_upload_is_removed_when_the_import_fails(
    client, data_scientist, settings, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, zips.build(zips.catalog()), create="")  # the dataset does not exist
    job = ImportJob.objects.get()
    assert job.status == "failed" and "does not exist" in job.error
    assert _upload_folders(settings) == []


def test_the_unpacked_upload_is_removed_when_a_queued_import_is_cancelled(
    client, data_scientist, settings
):
    client.force_login(data_scientist)
    _post(client, zips.build(zips.catalog()))  # on-commit callbacks don't run: it stays queued
    job = ImportJob.objects.get()
    assert job.status == "queued" and len(_upload_folders(settings)) == 1
    response = client.post(f"/import/{job.pk}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled" and "cancelled by dana_ds" in job.error
    assert _upload_folders(settings) == []
    import_jobs.run_import_job(job.pk)  # the task arrives late: it does nothing
    job.refresh_from_db()
    assert job.status == "cancelled" and not Image.objects.exists()


def test_a_running_import_cancelled_stops_at_its_next_chunk_then_removes_the_upload(
    client, data_scientist, settings, monkeypatch
):
    client.force_login(data_scientist)
    _post(client, zips.build(zips.catalog()))
    job = ImportJob.objects.get()
    seen = {}

    def import_catalog(source, *, progress, **options):
        progress(0, 2)
        import_jobs.cancel_import_job(job, actor=data_scientist)
        seen["folder kept while the worker reads it"] = len(_upload_folders(settings)) == 1
        progress(1, 2)
        raise AssertionError("progress() should have stopped the import")

    monkeypatch.setattr(import_jobs, "import_catalog", import_catalog)
    import_jobs.run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == "cancelled" and seen == {"folder kept while the worker reads it": True}
    assert _upload_folders(settings) == []


def test_the_unpacked_upload_is_removed_when_the_broker_is_down(client, data_scientist, settings):
    client.force_login(data_scientist)
    _post(client, zips.build(zips.catalog()))
    job = ImportJob.objects.get()
    import_jobs.fail_unqueued(job.pk, ConnectionError("no broker"))
    job.refresh_from_db()
    assert job.status == "failed" and _upload_folders(settings) == []


def test_only_an_uploads_folder_is_ever_removed(tmp_path):
    keep = tmp_path / "catalog"
    keep.mkdir()
    import_jobs.remove_upload(str(keep))
    import_jobs.remove_upload(str(tmp_path))
    assert keep.is_dir()


def test_a_merchandiser_cannot_cancel_an_import(client, data_scientist, merchandiser):
    client.force_login(data_scientist)
    _post(client, zips.build(zips.catalog()))
    job = ImportJob.objects.get()
    client.force_login(merchandiser)
    assert client.post(f"/import/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


@pytest.fixture
def failed_upload(client, data_scientist, django_capture_on_commit_callbacks):
    """An uploaded import that failed with the server path in its error."""
    client.force_login(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, zips.build({"labels.csv": b"path\n\xffbad\n"}))
    job = ImportJob.objects.get()
    job.error = f"cannot read {job.source}/labels.csv: permission denied"
    job.save(update_fields=["error"])
    client.logout()
    return job


@pytest.mark.parametrize(
    ("role", "sees_paths"),
    [("viewer", False), ("merchandiser", False), ("data_scientist", True), ("admin_user", True)],
)
def test_the_job_page_shows_server_paths_only_to_those_who_import(
    client, failed_upload, settings, request, role, sees_paths
):
    client.force_login(request.getfixturevalue(role))
    page = client.get(f"/import/{failed_upload.pk}/").content.decode()
    assert (failed_upload.source in page) is sees_paths
    assert (str(settings.VAR_DIR) in page) is sees_paths
    assert "Spring shoot.zip" in page or sees_paths
    assert "/labels.csv: permission denied" in page  # the error itself is kept


def test_a_server_folder_import_shows_only_its_last_name_to_a_viewer(client, viewer, tmp_path):
    job = ImportJob.objects.create(
        source=str(tmp_path / "catalogs" / "spring"), dataset_name="d", error="failed"
    )
    client.force_login(viewer)
    page = client.get(f"/import/{job.pk}/").content.decode()
    assert "a server folder (spring)" in page and str(tmp_path) not in page


def test_a_new_upload_sweeps_day_old_folders_no_unfinished_import_uses(
    client, data_scientist, settings
):
    root = settings.VAR_DIR / "uploads"
    orphan, in_use, fresh = (root / (c * 32) for c in "abc")
    for folder in (orphan, in_use, fresh):
        folder.mkdir(parents=True)
        (folder / "labels.csv").write_bytes(zips.MANIFEST)
    for folder in (orphan, in_use):
        os.utime(folder, (time.time() - 2 * 86400,) * 2)
    ImportJob.objects.create(source=str(in_use), upload_dir=str(in_use), dataset_name="d")
    client.force_login(data_scientist)
    _post(client, zips.build(zips.catalog()))
    assert not orphan.exists() and in_use.is_dir() and fresh.is_dir()
    assert len(_upload_folders(settings)) == 3  # those two and the new upload


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_a_damaged_zip_gets_the_form_back_with_the_entry_named(
    data_scientist, open_as, settings, tmp_path
):
    archive = tmp_path / "catalog.zip"
    archive.write_bytes(zips.flip_data_byte(zips.build(zips.catalog()), "img/a.png"))
    page = open_as(data_scientist, "/import/")  # a live server: CSRF is checked, as in production

    page.fill("#id_dataset", "uploaded")
    page.set_input_files("#id_upload", str(archive))
    page.get_by_role("button", name="Start import").click()

    expect(page.locator(".error").first).to_contain_text("'img/a.png' is damaged (Bad CRC-32")
    expect(page.locator("#id_dataset")).to_have_value("uploaded")
    assert not ImportJob.objects.exists() and _upload_folders(settings) == []
