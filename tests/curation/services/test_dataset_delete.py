"""Deleting a dataset: confirmed by its name, refused while something of it runs; rows and the
files only it used are removed, photos another dataset holds too stay."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage

from curation.access import visible_datasets
from curation.models import Dataset, Image, ImportJob, LabelEvent, TrainingRun
from curation.services.dataset_delete import DeleteRefused, delete_dataset, request_delete
from curation.services.imports import import_catalog

pytestmark = pytest.mark.django_db


def test_a_wrong_confirmation_is_refused_and_keeps_everything(imported, data_scientist):
    with pytest.raises(DeleteRefused, match="type the dataset's name, dresses"):
        request_delete(imported, actor=data_scientist, confirm="dress")
    imported.refresh_from_db()
    assert imported.deleting_since is None


def test_a_merchandiser_may_not_delete(imported, merchandiser):
    with pytest.raises(PermissionDenied):
        request_delete(imported, actor=merchandiser, confirm="dresses")


def test_a_live_run_blocks_the_deletion(imported, data_scientist):
    TrainingRun.objects.create(
        dataset=imported, attribute=imported.attributes.first(), config={}, label_names=[]
    )
    with pytest.raises(DeleteRefused, match="1 training run"):
        request_delete(imported, actor=data_scientist, confirm="dresses")


def test_deletion_removes_rows_and_only_the_files_no_one_else_uses(
    imported, small_catalog, data_scientist, django_capture_on_commit_callbacks
):
    import_catalog(str(small_catalog), dataset_name="twin", create=True)  # the same photos
    ImportJob.objects.create(dataset_name="dresses", source="x", status="succeeded")
    mine = list(Image.objects.filter(dataset=imported).values_list("file", "thumbnail"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request_delete(imported, actor=data_scientist, confirm="dresses")
    assert not visible_datasets(data_scientist).filter(name="dresses").exists()  # gone at once
    assert len(callbacks) == 1  # the removal is queued
    delete_dataset(imported.pk)
    assert not Dataset.objects.filter(name="dresses").exists()
    assert not LabelEvent.objects.filter(image__dataset_id=imported.pk).exists()
    assert not ImportJob.objects.filter(dataset_name="dresses").exists()
    assert all(default_storage.exists(f) for f, _ in mine)  # the twin still shows them
    twin = Dataset.objects.get(name="twin")
    with django_capture_on_commit_callbacks(execute=True):
        request_delete(twin, actor=data_scientist, confirm="twin")
    assert not any(default_storage.exists(k) for pair in mine for k in pair if k)
    assert delete_dataset(twin.pk) == 0  # already done: nothing left to remove
