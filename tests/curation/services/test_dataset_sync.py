"""Scheduled re-sync: the beat task re-imports a dataset's source (an s3:// prefix on a real
SeaweedFS server, or a server folder) as an ImportJob; unchanged sources change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from curation.models import Dataset, Image, ImportJob, LabelEvent
from curation.services.dataset_sync import resync_due_datasets, set_dataset_sync
from curation.services.imports import import_catalog
from curation.services.sources import SourceError
from curation.tasks import resync_datasets
from tests.support.catalogs import png_bytes, write_manifest, write_png

pytestmark = pytest.mark.django_db


def _put_s3_catalog(client, bucket: str, n: int) -> None:
    rows = ["path,product,colour"]
    for i in range(n):
        client.put_object(Bucket=bucket, Key=f"cat/img/{i}.png", Body=png_bytes((i * 20, 9, 9)))
        rows.append(f"img/{i}.png,p{i},{['red', 'blue'][i % 2]}")
    client.put_object(Bucket=bucket, Key="cat/labels.csv", Body="\n".join(rows).encode())


def _write_folder_catalog(root, n: int):
    for i in range(n):
        write_png(root / "img" / f"{i}.png", colour=(i * 20, 9, 9))
    rows = [[f"img/{i}.png", f"p{i}", ["red", "blue"][i % 2]] for i in range(n)]
    write_manifest(root, ["path", "product", "colour"], rows)
    return root


@pytest.fixture
def beat_tick(django_capture_on_commit_callbacks):
    """One tick of beat's `curation.resync_datasets`; the imports it queues run here (eager)."""

    def tick() -> list[int]:
        with django_capture_on_commit_callbacks(execute=True):
            return resync_datasets()

    return tick


def _due(dataset: Dataset) -> None:
    """As if the interval had passed since the last re-sync."""
    Dataset.objects.filter(pk=dataset.pk).update(
        last_synced_at=timezone.now() - timedelta(minutes=(dataset.sync_every_minutes or 0) + 1)
    )


@pytest.mark.s3
def test_new_objects_under_an_s3_prefix_arrive_by_themselves_and_an_unchanged_one_changes_nothing(
    settings, s3_server, s3_bucket, data_scientist, beat_tick
):
    settings.CURATION_SOURCE_S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.AWS_ACCESS_KEY_ID = s3_server.access_key
    settings.AWS_SECRET_ACCESS_KEY = s3_server.secret_key
    client = s3_server.client()
    source = f"s3://{s3_bucket}/cat/"
    _put_s3_catalog(client, s3_bucket, 3)
    import_catalog(source, dataset_name="synced", create=True)
    dataset = Dataset.objects.get(name="synced")
    set_dataset_sync(dataset, source=source, every_minutes=30, actor=data_scientist)

    _put_s3_catalog(client, s3_bucket, 5)  # two new objects under the prefix
    [first] = beat_tick()  # just turned on: due at once
    assert Image.objects.filter(dataset=dataset).count() == 5
    job = ImportJob.objects.get(pk=first)
    assert job.status == "succeeded" and job.source == source and job.report["created"] == 2

    events, images = LabelEvent.objects.count(), Image.objects.count()
    assert beat_tick() == []  # not due yet: 30 minutes have not passed
    _due(Dataset.objects.get(pk=dataset.pk))
    [again] = beat_tick()
    again_job = ImportJob.objects.get(pk=again)
    assert again_job.status == "succeeded" and again_job.report["created"] == 0
    assert (LabelEvent.objects.count(), Image.objects.count()) == (events, images)


def test_a_server_folder_resyncs_and_a_dataset_with_a_running_import_is_skipped(
    tmp_path, data_scientist, beat_tick
):
    root = _write_folder_catalog(tmp_path / "folder", 2)
    import_catalog(str(root), dataset_name="folder-synced", create=True)
    dataset = Dataset.objects.get(name="folder-synced")
    set_dataset_sync(dataset, source=str(root), every_minutes=5, actor=data_scientist)
    _write_folder_catalog(root, 4)

    busy = ImportJob.objects.create(
        dataset_name="folder-synced", source=str(root), status=ImportJob.Status.RUNNING
    )
    assert beat_tick() == []  # the previous sync is still running
    ImportJob.objects.filter(pk=busy.pk).update(status=ImportJob.Status.SUCCEEDED)
    [job_id] = beat_tick()
    assert ImportJob.objects.get(pk=job_id).status == "succeeded"
    assert sorted(Image.objects.filter(dataset=dataset).values_list("source_path", flat=True)) == [
        f"img/{i}.png" for i in range(4)
    ]


def test_resync_off_and_refused_sources(tmp_path, data_scientist, merchandiser):
    root = _write_folder_catalog(tmp_path / "folder", 1)
    import_catalog(str(root), dataset_name="off", create=True)
    dataset = Dataset.objects.get(name="off")
    with pytest.raises(SourceError, match="CURATION_IMPORT_ROOTS"):
        set_dataset_sync(dataset, source="/etc", every_minutes=5, actor=data_scientist)
    with pytest.raises(PermissionDenied):
        set_dataset_sync(dataset, source=str(root), every_minutes=5, actor=merchandiser)
    set_dataset_sync(dataset, source=str(root), every_minutes=5, actor=data_scientist)
    set_dataset_sync(dataset, source="", every_minutes=None, actor=data_scientist)
    assert resync_due_datasets() == [] and not ImportJob.objects.exists()
