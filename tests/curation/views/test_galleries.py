"""A gallery's place-keeping: "n of N" from the run's stored counts, positions across cursor
pages, and the image page's previous / next in the gallery it was opened from."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from curation.queries import quality
from tests.support.triage import gallery_order, triage_run


@pytest.fixture
def run(tmp_path, db):
    return triage_run(tmp_path / "triage")


@pytest.fixture
def labels(run):
    return quality.current_labels(run.attribute)


def _filters(labels) -> list[quality.GalleryFilter]:
    """Every kind of gallery: all mistakes, each class's false positives and negatives, and
    every confusion cell."""
    out = [quality.GalleryFilter()]
    for lab in labels:
        out.append(quality.GalleryFilter(false_positives_of=lab.pk))
        out.append(quality.GalleryFilter(false_negatives_of=lab.pk))
        out += [quality.GalleryFilter(given=lab.pk, predicted=other.pk) for other in labels]
    return out


def test_gallery_totals_from_stored_counts_match_the_rows_of_every_filter(run, labels):
    for flt in _filters(labels):
        rows = quality.gallery_rows(run, flt).count()
        assert quality.gallery_total(run, flt) == rows, flt
    run.aggregates = None  # a run without stored counts is counted
    assert quality.gallery_total(run, quality.GalleryFilter()) == 12


def test_neighbours_walk_the_gallery_in_its_paged_order(run, labels):
    for flt in [quality.GalleryFilter(), quality.GalleryFilter(false_positives_of=labels[0].pk)]:
        paged, cursor = [], None
        while True:
            rows, cursor = quality.gallery(run, flt, after=quality.parse_cursor(cursor), limit=3)
            paged += [r.image_id for r in rows]
            if cursor is None:
                break
        assert paged == gallery_order(run, flt) and len(paged) > 3
        for i, image_id in enumerate(paged):
            found = quality.gallery_neighbours(run, flt, image_id)
            assert found is not None
            assert (found.previous.image_id if found.previous else None) == (
                paged[i - 1] if i else None
            )
            assert (found.next.image_id if found.next else None) == (
                paged[i + 1] if i + 1 < len(paged) else None
            )


def _gallery_url(run, **query) -> str:
    base = reverse("curation:gallery", args=["triage", "neckline"])
    return f"{base}?{urlencode({'run': run.pk, **query})}"


def _tiles(html: str) -> list[tuple[int, int, str]]:
    """(image id, position, page link) of each tile."""
    found = re.findall(
        r'id="tile-(\d+)" tabindex="0" data-href="([^"]+)".*?data-position="(\d+)"', html, re.S
    )
    return [(int(i), int(pos), unescape(href)) for i, href, pos in found]


def test_tiles_count_on_across_a_cursor_page_and_link_their_gallery(
    client, viewer, run, monkeypatch
):
    monkeypatch.setattr(quality, "GALLERY_PAGE", 5)
    client.force_login(viewer)
    order = gallery_order(run, quality.GalleryFilter())
    first = client.get(_gallery_url(run)).content.decode()
    assert re.search(r'id="gallery-position"[^>]*data-total="12"', first)
    tiles = _tiles(first)
    assert [(i, pos) for i, pos, _ in tiles] == list(zip(order[:5], range(1, 6), strict=True))
    assert tiles[2][2] == f"/images/{order[2]}/?gallery=neckline&run={run.pk}&n=3"

    more = unescape(re.search(r'<a id="more"[^>]* href="\?([^"]+)"', first)[1])
    assert "at=5" in more
    second = _tiles(client.get(f"{_gallery_url(run)}&{more}").content.decode())
    assert [(i, pos) for i, pos, _ in second] == list(zip(order[5:10], range(6, 11), strict=True))


def _link(html: str, element_id: str) -> str:
    return unescape(re.search(rf'id="{element_id}" href="([^"]+)"', html)[1])


def test_the_image_page_goes_to_its_neighbours_in_the_filtered_gallery(client, viewer, run, labels):
    client.force_login(viewer)
    fp = labels[1].pk
    flt = quality.GalleryFilter(false_positives_of=fp)
    order = gallery_order(run, flt)
    assert len(order) == 4
    ctx = f"gallery=neckline&run={run.pk}&fp={fp}"
    page = client.get(f"/images/{order[1]}/?{ctx}&n=2").content.decode()
    assert "2 of 4" in page
    assert _link(page, "image-next") == f"/images/{order[2]}/?{ctx}&n=3"
    assert _link(page, "image-previous") == f"/images/{order[0]}/?{ctx}&n=1"
    back = _link(page, "image-back")
    assert back.endswith(f"&at=1#tile-{order[1]}") and f"fp={fp}" in back
    # The gallery page the way back leads to starts with this image, numbered 2.
    landed = _tiles(client.get(back.split("#")[0]).content.decode())
    assert (landed[0][0], landed[0][1]) == (order[1], 2)

    last = client.get(f"/images/{order[-1]}/?{ctx}&n=4").content.decode()
    assert 'rel="next"' not in last and "last image" in last and "4 of 4" in last


def test_the_image_page_of_a_big_gallery_neither_counts_nor_scans_it(client, viewer, run):
    client.force_login(viewer)
    image_id = gallery_order(run, quality.GalleryFilter())[5]
    client.get(f"/images/{image_id}/")  # warms the cached user facts
    with CaptureQueriesContext(connection) as bare:
        client.get(f"/images/{image_id}/")
    with CaptureQueriesContext(connection) as placed:
        page = client.get(f"/images/{image_id}/?gallery=neckline&run={run.pk}&n=6")
    assert "6 of 12" in page.content.decode()
    # attribute, run, labels, this image's row, the previous and the next: nothing per row
    assert len(placed) <= len(bare) + 6
    runimage_reads = [q["sql"] for q in placed.captured_queries if "curation_runimage" in q["sql"]]
    assert runimage_reads and not [sql for sql in runimage_reads if "COUNT(" in sql.upper()]
    assert all("LIMIT 1" in sql.upper() or "LIMIT 21" in sql.upper() for sql in runimage_reads)


def test_a_bad_gallery_context_is_a_clear_400(client, viewer, run):
    client.force_login(viewer)
    image_id = gallery_order(run, quality.GalleryFilter())[0]
    response = client.get(f"/images/{image_id}/?gallery=colour")
    assert response.status_code == 400
    assert "colour" in response.content.decode()
    response = client.get(f"/images/{image_id}/?gallery=neckline&n=zero")
    assert response.status_code == 400 and "n must be" in response.content.decode()
    # An image the gallery doesn't hold (any more) shows its page without the way through.
    other = client.get(f"/images/{image_id}/?gallery=neckline&split=train")
    assert other.status_code == 200 and 'id="image-nav"' not in other.content.decode()
