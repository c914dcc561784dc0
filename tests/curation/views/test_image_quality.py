"""The image-quality panel on the dataset page: the Scan images button (data scientists
only), the poller while a scan runs, counts, galleries with pages, and the empty states."""

from __future__ import annotations

import pytest

from curation.models import QualityScan
from curation.queries import image_quality as queries
from tests.support.quality_images import seed_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def planted(tmp_path, db):
    return seed_catalog(tmp_path / "cat", "planted", planted=True)


def _scan(client, name, django_capture_on_commit_callbacks, **headers):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/datasets/{name}/image-quality/scan/", **headers)


def test_before_any_scan_the_page_says_so_and_offers_the_button(planted, client, data_scientist):
    client.force_login(data_scientist)
    body = client.get("/datasets/planted/").content.decode()
    assert 'id="image-quality"' in body and "No scan yet" in body and "Scan images" in body


def test_a_viewer_sees_no_button_and_cannot_start_a_scan(planted, client, viewer):
    client.force_login(viewer)
    body = client.get("/datasets/planted/").content.decode()
    assert "No scan yet" in body and "Scan images</button>" not in body
    response = client.post("/datasets/planted/image-quality/scan/")
    assert response.status_code == 403 and b"scan images" in response.content
    assert not QualityScan.objects.exists()


def test_a_scan_shows_counts_and_the_planted_photos(
    planted, client, data_scientist, django_capture_on_commit_callbacks
):
    client.force_login(data_scientist)
    response = _scan(client, "planted", django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"].endswith(
        "/datasets/planted/#image-quality"
    )
    body = client.get("/datasets/planted/?iq_issue=blurry").content.decode()
    assert "dark (1)" in body and "blurry (1)" in body and "light (0)" in body
    assert body.count('data-finding="blurry"') == 1 and "img/blurry.png" in body
    assert 'hx-trigger="every 2s"' not in body  # finished: nothing polls
    light = client.get("/datasets/planted/?iq_issue=light").content.decode()
    assert "No images flagged as light" in light


def test_the_button_swaps_in_the_panel_and_it_polls_while_the_scan_runs(
    planted, client, data_scientist
):
    client.force_login(data_scientist)
    response = client.post("/datasets/planted/image-quality/scan/", HTTP_HX_REQUEST="true")
    body = response.content.decode()  # no commit in this test: the scan stays queued
    assert response.status_code == 200 and "<html" not in body
    assert 'hx-trigger="every 2s"' in body and "Waiting for a worker" in body
    assert "Scan images</button>" not in body
    scan = QualityScan.objects.get()
    QualityScan.objects.filter(pk=scan.pk).update(status="running", total=14, done=7)
    poll = client.get("/datasets/planted/image-quality/", HTTP_HX_REQUEST="true").content.decode()
    assert "7 of 14 images" in poll and 'aria-valuenow="50"' in poll


def test_galleries_page_with_htmx_and_without(
    planted, client, viewer, data_scientist, django_capture_on_commit_callbacks, monkeypatch
):
    client.force_login(data_scientist)
    _scan(client, "planted", django_capture_on_commit_callbacks)
    monkeypatch.setattr(queries, "PAGE_SIZE", 1)
    client.force_login(viewer)
    first = client.get("/datasets/planted/image-quality/?iq_issue=odd_size", HTTP_HX_REQUEST="true")
    body = first.content.decode()
    assert "Page 1 of 2" in body and body.count('class="tile"') == 1
    assert "iq_issue=odd_size&amp;iq_page=2" in body
    second = client.get(
        "/datasets/planted/image-quality/?iq_issue=odd_size&iq_page=2", HTTP_HX_REQUEST="true"
    )
    assert "Page 2 of 2" in second.content.decode()
    plain = client.get("/datasets/planted/image-quality/?iq_issue=odd_size&iq_page=2")
    assert plain.status_code == 302
    assert plain["Location"] == "/datasets/planted/?iq_issue=odd_size&iq_page=2#image-quality"


def test_a_clean_catalog_shows_the_empty_state(
    tmp_path, client, data_scientist, django_capture_on_commit_callbacks
):
    seed_catalog(tmp_path / "clean", "clean", planted=False)
    client.force_login(data_scientist)
    _scan(client, "clean", django_capture_on_commit_callbacks)
    body = client.get("/datasets/clean/").content.decode()
    assert "No quality issues" in body and "none of the 10 images" in body


def test_a_missing_dataset_is_a_helpful_404(client, viewer):
    client.force_login(viewer)
    response = client.get("/datasets/nope/image-quality/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and b"no dataset called" in response.content
