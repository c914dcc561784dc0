"""The image-quality panel's context: counts from the scan's row, the default gallery,
clamped pages, and the last good findings kept in view when a later scan fails."""

from __future__ import annotations

import pytest

from curation.models import QualityScan
from curation.queries import image_quality as queries
from curation.queries.image_quality import panel_context
from curation.services.image_quality import start_quality_scan
from tests.support.quality_images import seed_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanned(tmp_path, data_scientist, django_capture_on_commit_callbacks):
    dataset = seed_catalog(tmp_path / "cat", "planted", planted=True)
    with django_capture_on_commit_callbacks(execute=True):
        start_quality_scan(dataset=dataset, actor=data_scientist)
    return dataset


def test_no_scan_gives_an_empty_panel(imported):
    panel = panel_context(imported)["image_quality"]
    assert panel.latest is None and panel.current is None and not panel.active
    assert panel.counts == [] and panel.page is None


def test_counts_cover_every_issue_type_and_the_first_flagged_gallery_is_shown(scanned):
    panel = panel_context(scanned)["image_quality"]
    counts = {c.issue: c.n for c in panel.counts}
    # The order the panel shows, spelled out rather than read off mlcore's ISSUE_TYPES (which
    # the panel follows), so that a change of it fails here.
    per_image = ["dark", "light", "odd_aspect_ratio", "low_information", "blurry", "grayscale"]
    assert list(counts) == [*per_image, "odd_size"]
    assert counts["dark"] == counts["blurry"] == 1 and panel.flagged == sum(counts.values())
    assert panel.page.issue.issue == "dark"
    assert [f.image.source_path for f in panel.page.findings] == ["img/dark.png"]


def test_a_page_is_worst_first_and_clamped(scanned, monkeypatch):
    monkeypatch.setattr(queries, "PAGE_SIZE", 1)
    first = panel_context(scanned, issue="odd_size", page="1")["image_quality"].page
    last = panel_context(scanned, issue="odd_size", page="99")["image_quality"].page
    bad = panel_context(scanned, issue="odd_size", page="x")["image_quality"].page
    assert (first.number, first.num_pages, last.number, bad.number) == (1, 2, 2, 1)
    assert first.findings[0].score <= last.findings[0].score
    assert first.has_next and not first.has_previous and last.has_previous


def test_an_unknown_issue_falls_back_to_the_first_flagged_one(scanned):
    assert panel_context(scanned, issue="nope")["image_quality"].page.issue.issue == "dark"


def test_a_failed_rescan_keeps_the_last_findings_in_view(scanned, data_scientist):
    good = QualityScan.objects.get()
    QualityScan.objects.create(dataset=scanned, status="failed", error="boom")
    panel = panel_context(scanned)["image_quality"]
    assert panel.latest.status == "failed" and panel.current.pk == good.pk
    assert panel.page.findings and not panel.active
