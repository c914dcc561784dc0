"""The dashboard's "What curation bought" panel and its empty states, and the review page's
link to it (the numbers themselves: tests/curation/queries/test_payoff.py)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from curation.models import Image
from tests.support.runs import finished_run, review_a_little


@pytest.fixture
def first_run(neckline, data_scientist):
    wrong = {
        Image.objects.filter(dataset=neckline.dataset, split=split).order_by("id")[0].pk
        for split in ("train", "test")
    }
    return finished_run(neckline, wrong=wrong, actor=data_scientist)


def _page(client, neckline, name="quality", **query) -> str:
    url = reverse(f"curation:{name}", args=[neckline.dataset.name, neckline.name])
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def _text(html: str, element_id: str) -> str:
    """The words of the element with this id (up to its closing tag), tags stripped."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|table)>', html, re.S)
    assert found, f"no #{element_id} on the page"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def test_the_panel_shows_what_reviewing_bought_between_the_last_two_runs(
    client, viewer, merchandiser, data_scientist, neckline, first_run
):
    review_a_little(first_run, merchandiser=merchandiser, expert=data_scientist)
    second = finished_run(neckline, wrong=set(), seed=1)
    second.metrics = {"wrong_labels": {"train": {"round": 4.0}, "test": {"boat": 2.0}}}
    second.save(update_fields=["metrics"])
    client.force_login(viewer)

    html = _page(client, neckline, bought=1)

    bought = html.split('id="bought"', 1)[1]
    assert f"run #{second.pk} against run #{first_run.pk}" in bought
    reviewed = _text(html, "bought-reviewed")
    assert "3 images reviewed" in reviewed
    assert "2 train · 1 test" in reviewed
    assert "1 label changed" in reviewed and "0 train · 1 test" in reviewed
    assert "2 confirmed" in reviewed
    change = _text(html, "bought-change")
    summary = client.get(
        reverse("curation:compare", args=[neckline.dataset.name, neckline.name]),
        {"a": first_run.pk, "b": second.pk},
    ).context["summary"]
    assert (
        f"{summary['macro_from_relabels']:+.4f} {summary['macro_from_relabels'] * 100 / 3:+.4f}"
        in change
    )
    assert (
        f"from the model (both runs on today's test labels) {summary['macro_from_model']:+.4f}"
        in change
    )
    left = _text(html, "bought-wrong-left")
    assert "about 6 wrong labels" in left and "4 train, 2 test" in left
    compare_link = f"?a={first_run.pk}&amp;b={second.pk}"
    assert compare_link in bought


def test_a_first_run_says_a_retrain_is_needed_for_the_change(
    client, viewer, merchandiser, data_scientist, neckline, first_run
):
    review_a_little(first_run, merchandiser=merchandiser, expert=data_scientist)
    client.force_login(viewer)

    html = _page(client, neckline, bought=1)

    assert "3 images reviewed" in _text(html, "bought-reviewed")
    assert "retrain after reviewing" in _text(html, "bought-no-previous")
    assert 'id="bought-change"' not in html
    assert "stored no estimate" in _text(html, "bought-wrong-left")


def test_nothing_reviewed_points_to_the_review_queue(client, viewer, neckline, first_run):
    finished_run(neckline, wrong=set(), seed=1)
    client.force_login(viewer)

    html = _page(client, neckline, bought=1)

    nothing = _text(html, "bought-nothing-reviewed")
    assert f"Nothing reviewed since run #{first_run.pk} began" in nothing
    assert 'id="bought-reviewed"' not in html
    assert "— " in _text(html, "bought-change")  # no rate per 100 images of none


def test_the_panel_loads_after_the_dashboard_as_a_fragment(client, viewer, neckline, first_run):
    client.force_login(viewer)
    url = reverse("curation:quality", args=[neckline.dataset.name, neckline.name])

    page = client.get(url).content.decode()
    fragment = client.get(
        url, {"bought": 1}, headers={"HX-Request": "true", "HX-Target": "bought"}
    ).content.decode()

    assert f'hx-get="{url}?bought=1"' in page and f'href="{url}?bought=1#bought"' in page
    assert 'id="bought-reviewed"' not in page and 'id="bought-nothing-reviewed"' not in page
    assert fragment.lstrip().startswith('<section class="card" id="bought">')
    assert "<html" not in fragment and 'id="per-class"' not in fragment
    assert "retrain after reviewing" in _text(fragment, "bought-no-previous")


def test_the_review_page_links_to_the_panel(client, viewer, neckline, first_run):
    client.force_login(viewer)

    html = _page(client, neckline, "review")

    quality = reverse("curation:quality", args=[neckline.dataset.name, neckline.name])
    assert f'href="{quality}#bought"' in html
