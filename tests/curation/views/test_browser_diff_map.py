"""The run diff and the embedding map in Chromium: the compare page's link to the flipped
images, and a lasso drawn on the map's canvas opening a gallery of the points inside it."""

from __future__ import annotations

import os
from pathlib import Path

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
