"""The run diff and the embedding map in Chromium: the compare page's link to the flipped
images, and a lasso drawn on the map's canvas opening a gallery of the points inside it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from curation.models import Image
from tests.support.runs import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _docs_shot(page, name: str) -> None:
    """BROWSER_SCREENSHOTS=/folder: a 1280x800 view of the page, as docs/screenshots keeps."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def test_a_run_diff_shows_the_flipped_tiles_in_their_galleries(imported, viewer, open_as):
    neckline = imported.attributes.get(name="neckline")
    test = sorted(Image.objects.filter(dataset=imported, split="test").values_list("pk", flat=True))
    run_a = finished_run(neckline, wrong={test[0]})
    run_b = finished_run(neckline, wrong={test[1]}, seed=1)
    page = open_as(
        viewer, f"/datasets/dresses/attributes/neckline/compare/?a={run_a.pk}&b={run_b.pk}"
    )
    page.locator("#run-diff-link").click()
    heading = page.get_by_role("heading", name=f"run #{run_a.pk} (A) → run #{run_b.pk}")
    expect(heading).to_be_visible()
    expect(page.locator("#right_to_wrong article.tile")).to_have_count(1)
    expect(page.locator(f"#right_to_wrong #tile-{test[1]}")).to_be_visible()
    expect(page.locator(f"#wrong_to_right #tile-{test[0]}")).to_be_visible()
    expect(page.locator("#both_wrong article.tile")).to_have_count(0)
    expect(page.locator("#both_wrong .empty")).to_be_visible()
    _docs_shot(page, "run-diff")


def test_a_lasso_on_the_map_opens_a_gallery_of_the_cluster(imported, data_scientist, open_as):
    from curation.queries.embedding_maps import read_layout
    from curation.services.embedding_maps import start_embedding_map
    from tests.support.maps import planted_index

    first, second = planted_index(imported)
    emap = start_embedding_map(dataset=imported, actor=data_scientist, source="similarity")
    emap.refresh_from_db()  # eager Celery: built on commit
    assert emap.status == "ready", emap.error
    layout = read_layout(emap)
    cluster = layout.xy[[int(i) for i in np.searchsorted(layout.ids, first)]].astype(float)
    lo, hi = cluster.min(0) - 0.05, cluster.max(0) + 0.05

    page = open_as(data_scientist, "/datasets/dresses/map/?colour=label&attribute=neckline")
    canvas = page.locator("#embedding-map")
    expect(canvas).to_have_attribute("data-ready", "1")
    _docs_shot(page, "embedding-map")
    box = canvas.bounding_box()
    assert box is not None
    # static/js/embedding_map.js: the unit square is a centred square of the 900×640 canvas.
    side, x0, y0 = 640 - 32, (900 - 608) / 2, 16

    def screen(u: float, v: float) -> tuple[float, float]:
        return (
            box["x"] + (x0 + u * side) * box["width"] / 900,
            box["y"] + (y0 + (1 - v) * side) * box["height"] / 640,
        )

    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    page.mouse.move(*screen(*corners[0]))
    page.mouse.down()
    for u, v in [*corners[1:], corners[0]]:
        page.mouse.move(*screen(u, v), steps=4)
    page.mouse.up()

    expect(page.get_by_role("heading", name="3 images from the lasso")).to_be_visible()
    for image_id in first:
        expect(page.locator(f"#tile-{image_id}")).to_be_visible()
    expect(page.locator("#selection a.tile")).to_have_count(len(first))
