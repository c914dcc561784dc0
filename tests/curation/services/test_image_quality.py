"""Image-quality scans: CleanVision finds planted dark / blurry / tiny / odd-aspect photos
and nothing on a clean catalog; a failed scan leaves no half-written findings; only data
scientists start one; a broker that is down fails the scan with a reason."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import Dataset, Image, QualityFinding, QualityScan
from curation.services import image_quality
from curation.services.image_quality import start_quality_scan
from curation.services.imports import import_catalog
from tests.support.catalogs import write_manifest
from tests.support.quality_images import PLANTED, findings_by_file, seed_catalog, write_photos

pytestmark = pytest.mark.django_db


def scan_now(dataset, actor, django_capture_on_commit_callbacks) -> QualityScan:
    with django_capture_on_commit_callbacks(execute=True):
        scan = start_quality_scan(dataset=dataset, actor=actor)
    scan.refresh_from_db()
    return scan


def test_a_scan_finds_the_planted_photos_and_only_them(
    tmp_path, data_scientist, django_capture_on_commit_callbacks
):
    dataset = seed_catalog(tmp_path / "cat", "planted", planted=True)
    scan = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert scan.status == "succeeded", scan.error
    flagged = findings_by_file(scan)
    assert not {stem for stem in flagged if stem.startswith("clean")}, flagged
    for stem, issue in PLANTED.items():
        assert issue in flagged.get(stem, set()), (stem, flagged)
    assert scan.counts["dark"] == 1 and scan.counts["blurry"] == 1 and scan.counts["light"] == 0
    assert (scan.done, scan.total, scan.colour_catalog, scan.skipped_count) == (14, 14, True, 0)


def test_a_clean_catalog_has_no_findings(
    tmp_path, data_scientist, django_capture_on_commit_callbacks
):
    dataset = seed_catalog(tmp_path / "cat", "clean", planted=False, clean=12)
    scan = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert scan.status == "succeeded", scan.error
    assert QualityFinding.objects.filter(scan=scan).count() == 0
    assert sum(scan.counts.values()) == 0 and scan.total == 12


def test_grey_photos_are_an_issue_in_a_colour_catalog_only(
    tmp_path, data_scientist, django_capture_on_commit_callbacks
):
    from PIL import Image as PILImage

    dataset = seed_catalog(tmp_path / "cat", "mixed", planted=False, clean=6)
    grey = tmp_path / "more"
    write_photos(grey / "img", clean=1, planted=False, seed=9)
    PILImage.open(grey / "img" / "clean-0.png").convert("L").save(grey / "img" / "grey.png")
    write_manifest(grey, ["path", "silhouette"], [["img/grey.png", "a-line"]])
    import_catalog(str(grey), dataset_name="mixed")
    scan = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert findings_by_file(scan) == {"grey": {"grayscale"}} and scan.colour_catalog

    grey_only = tmp_path / "grey-cat"
    (grey_only / "img").mkdir(parents=True)
    for i in range(4):
        PILImage.open(grey / "img" / "clean-0.png").rotate(90 * i).convert("L").save(
            grey_only / "img" / f"{i}.png"
        )
    write_manifest(grey_only, ["path", "silhouette"], [[f"img/{i}.png", "x"] for i in range(4)])
    import_catalog(str(grey_only), dataset_name="greys", create=True)
    greys = Dataset.objects.get(name="greys")
    scan = scan_now(greys, data_scientist, django_capture_on_commit_callbacks)
    assert scan.grayscale_share == 1.0 and not scan.colour_catalog
    assert scan.counts["grayscale"] == 0 and not findings_by_file(scan).get("0")


def test_a_rerun_replaces_the_findings_and_a_failed_one_writes_nothing(
    tmp_path, data_scientist, django_capture_on_commit_callbacks, monkeypatch
):
    dataset = seed_catalog(tmp_path / "cat", "planted", planted=True)
    first = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    before = set(QualityFinding.objects.values_list("image_id", "issue", "score"))
    assert before and all(f.scan_id == first.pk for f in QualityFinding.objects.all())

    # The fault: the database refuses the second batch of findings, after the first went in.
    monkeypatch.setattr(image_quality, "WRITE_BATCH", 2)
    real = QualityFinding.objects.bulk_create
    calls = []

    def flaky(objs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(QualityFinding.objects, "bulk_create", flaky)
    failed = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert failed.status == "failed" and "disk full" in failed.error and len(calls) == 2
    assert not QualityFinding.objects.filter(scan=failed).exists()
    assert set(QualityFinding.objects.values_list("image_id", "issue", "score")) == before

    monkeypatch.setattr(QualityFinding.objects, "bulk_create", real)
    Image.objects.filter(dataset=dataset, source_path="img/dark.png").update(status="quarantined")
    third = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert third.status == "succeeded" and third.total == first.total - 1
    assert set(QualityFinding.objects.values_list("scan_id", flat=True)) == {third.pk}
    assert "dark" not in findings_by_file(third) and third.counts["dark"] == 0


def test_an_unreadable_file_is_counted_not_fatal(
    tmp_path, data_scientist, django_capture_on_commit_callbacks, settings
):
    from pathlib import Path

    dataset = seed_catalog(tmp_path / "cat", "planted", planted=True)
    victim = Image.objects.get(dataset=dataset, source_path="img/clean-0.png")
    (Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / victim.file).unlink()
    scan = scan_now(dataset, data_scientist, django_capture_on_commit_callbacks)
    assert scan.status == "succeeded", scan.error
    assert scan.skipped_count == 1 and scan.skipped[0]["image"] == victim.pk
    assert "dark" in findings_by_file(scan)["dark"]


def test_a_viewer_cannot_start_a_scan(imported, viewer, merchandiser):
    for user in (viewer, merchandiser):
        with pytest.raises(PermissionDenied, match="scan images"):
            start_quality_scan(dataset=imported, actor=user)
    assert not QualityScan.objects.exists()


def test_a_second_start_returns_the_scan_in_progress(imported, data_scientist):
    first = start_quality_scan(dataset=imported, actor=data_scientist)  # not run: no commit
    assert start_quality_scan(dataset=imported, actor=data_scientist).pk == first.pk
    QualityScan.objects.filter(pk=first.pk).update(
        status="running", heartbeat_at="2020-01-01T00:00:00Z"
    )
    fresh = start_quality_scan(dataset=imported, actor=data_scientist)
    first.refresh_from_db()
    assert fresh.pk != first.pk and first.status == "failed" and "progress" in first.error


def test_a_broker_that_is_down_fails_the_scan_with_a_reason(
    imported, data_scientist, django_capture_on_commit_callbacks, settings
):
    from tests.support.broker import real_broker
    from tests.support.services import free_port

    down = f"redis://127.0.0.1:{free_port()}/0"
    with real_broker(down), django_capture_on_commit_callbacks(execute=True):
        scan = start_quality_scan(dataset=imported, actor=data_scientist)
    scan.refresh_from_db()
    assert scan.status == "failed" and "could not be reached" in scan.error
