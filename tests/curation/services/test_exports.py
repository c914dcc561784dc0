"""Exports: labels.csv of the current labels, and the zip of ImageNet-style folders that the
import reads back to the same labels (split, product and every attribute, per photo)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage

from curation.models import Dataset, ExportJob, Image
from curation.services.exports import labels_csv_lines, start_folder_export
from curation.services.imports import import_catalog
from curation.services.labels import relabel_image
from tests.support.catalogs import catalog_state

pytestmark = pytest.mark.django_db


def export(dataset, attribute_name, actor, django_capture_on_commit_callbacks) -> ExportJob:
    attribute = dataset.attributes.get(name=attribute_name)
    with django_capture_on_commit_callbacks(execute=True):
        job = start_folder_export(dataset, attribute, actor=actor)
    job.refresh_from_db()
    return job


def test_the_csv_has_every_usable_image_with_its_current_labels(imported, merchandiser):
    image = Image.objects.filter(dataset=imported).order_by("id").first()
    neckline = imported.attributes.get(name="neckline")
    relabel_image(
        image=image, attribute=neckline, label=neckline.labels.get(name="boat"), actor=merchandiser
    )
    rows = list(csv.reader(io.StringIO("".join(labels_csv_lines(imported)))))
    assert rows[0] == ["path", "product", "split", "neckline", "sleeve"]
    assert len(rows) == 7
    first = {r[0]: r for r in rows[1:]}[image.source_path]
    assert first[3] == "boat" and first[1] == image.product.key and first[2] == image.split


def test_a_zip_of_folders_imports_back_to_the_same_labels(
    imported, data_scientist, tmp_path, django_capture_on_commit_callbacks
):
    job = export(imported, "neckline", data_scientist, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    assert (job.done, job.total) == (6, 6) and job.size_bytes > 0
    with default_storage.open(job.file, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    names = archive.namelist()
    assert "labels.csv" in names
    folders = {tuple(n.split("/")[:2]) for n in names if n != "labels.csv"}
    assert folders <= {(s, lab) for s in ("train", "test") for lab in ("round", "v-neck", "boat")}
    archive.extractall(tmp_path / "unpacked")
    report = import_catalog(str(tmp_path / "unpacked"), dataset_name="copy", create=True)
    assert report.created == 6, report.to_dict()
    assert catalog_state(Dataset.objects.get(name="copy")) == catalog_state(imported)


def test_an_image_with_no_label_goes_to_the_unlabelled_folder(
    imported, data_scientist, django_capture_on_commit_callbacks
):
    image = Image.objects.filter(dataset=imported).order_by("id").first()
    neckline = imported.attributes.get(name="neckline")
    relabel_image(image=image, attribute=neckline, label=None, actor=data_scientist)
    job = export(imported, "neckline", data_scientist, django_capture_on_commit_callbacks)
    with default_storage.open(job.file, "rb") as handle:
        names = zipfile.ZipFile(io.BytesIO(handle.read())).namelist()
    assert any(n.startswith(f"{image.split}/_unlabelled/{image.pk}-") for n in names)


def test_a_missing_photo_fails_the_export_and_stores_no_zip(
    imported, data_scientist, django_capture_on_commit_callbacks
):
    image = Image.objects.filter(dataset=imported).order_by("id").last()
    default_storage.delete(image.file)
    job = export(imported, "neckline", data_scientist, django_capture_on_commit_callbacks)
    assert job.status == "failed" and image.source_path in job.error
    assert job.file == "" and not default_storage.exists("exports")


def test_a_viewer_may_not_start_an_export(imported, viewer):
    with pytest.raises(PermissionDenied):
        start_folder_export(imported, imported.attributes.first(), actor=viewer)
    assert not ExportJob.objects.exists()
