"""The run diff: two finished runs of one attribute, and the images whose prediction flipped
between them, judged against the label each run saw."""

from __future__ import annotations

import re

import pytest

from curation.models import Image, Label, RunImage
from curation.queries.run_diff import flip_counts
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db

DIFF = "/datasets/dresses/attributes/neckline/compare/diff/"


@pytest.fixture
def planted(imported):
    """Run A wrong on test[0] and train[0, 1]; run B wrong on test[1] and train[0, 1], with
    another prediction than A's on train[0]."""
    neckline = imported.attributes.get(name="neckline")
    test = sorted(Image.objects.filter(dataset=imported, split="test").values_list("pk", flat=True))
    train = sorted(
        Image.objects.filter(dataset=imported, split="train").values_list("pk", flat=True)
    )
    run_a = finished_run(neckline, wrong={test[0], train[0], train[1]})
    run_b = finished_run(neckline, wrong={test[1], train[0], train[1]}, seed=1)
    row = RunImage.objects.get(run=run_b, image_id=train[0])
    a_row = RunImage.objects.get(run=run_a, image_id=train[0])
    third = (
        Label.objects.filter(attribute=neckline)
        .exclude(pk__in=[row.given_label_id, a_row.predicted_label_id])
        .get()
    )
    RunImage.objects.filter(pk=row.pk).update(predicted_label=third)
    return run_a, run_b, test, train


def _section(html: str, key: str) -> str:
    found = re.search(rf'<section class="card" id="{key}">(.*?)</section>', html, re.S)
    assert found, f"no {key} gallery"
    return found.group(1)


def _tiles(html: str, key: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="tile-(\d+)"', _section(html, key))]


def test_counts_follow_each_runs_own_label(planted):
    run_a, run_b, _, _ = planted
    assert flip_counts(run_a, run_b, "test") == {
        "paired": 2,
        "right_to_wrong": 1,
        "wrong_to_right": 1,
        "both_wrong": 0,
    }
    train = flip_counts(run_a, run_b, "train")
    assert (train["paired"], train["both_wrong"], train["right_to_wrong"]) == (4, 1, 0)
    # A relabel after run B changes neither run's stored label: the diff stays the same.
    assert flip_counts(run_b, run_a, "test")["right_to_wrong"] == 1


def test_the_diff_page_shows_each_flip_in_its_gallery(client, viewer, planted):
    run_a, run_b, test, train = planted
    client.force_login(viewer)
    response = client.get(f"{DIFF}?a={run_a.pk}&b={run_b.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert _tiles(html, "right_to_wrong") == [test[1]]
    assert _tiles(html, "wrong_to_right") == [test[0]]
    assert _tiles(html, "both_wrong") == []
    assert 'data-count="right_to_wrong">1<' in html

    html = client.get(f"{DIFF}?a={run_a.pk}&b={run_b.pk}&split=train").content.decode()
    assert _tiles(html, "both_wrong") == [train[0]]
    assert "<script" not in _section(html, "both_wrong")
    assert 'style="' not in html


def test_the_galleries_page_separately(client, viewer, planted, monkeypatch):
    run_a, run_b, _, train = planted
    monkeypatch.setattr("curation.views.run_diff.DIFF_PAGE", 1)
    # Run A is wrong on train[0] and [1]; a run right everywhere makes both wrong → right.
    run_c = finished_run(run_a.attribute, seed=2)
    client.force_login(viewer)
    url = f"{DIFF}?a={run_a.pk}&b={run_c.pk}&split=train"
    first = client.get(url).content.decode()
    second = client.get(f"{url}&wrong_to_right_page=2").content.decode()
    tiles = _tiles(first, "wrong_to_right") + _tiles(second, "wrong_to_right")
    assert sorted(tiles) == [train[0], train[1]]
    assert "wrong_to_right_page=2" in _section(first, "wrong_to_right")
    assert "Page 2 of 2" in _section(second, "wrong_to_right")


def test_the_comparison_page_links_the_diff(client, viewer, planted):
    run_a, run_b, _, _ = planted
    client.force_login(viewer)
    html = client.get(
        f"/datasets/dresses/attributes/neckline/compare/?a={run_a.pk}&b={run_b.pk}"
    ).content.decode()
    assert f"compare/diff/?a={run_a.pk}&amp;b={run_b.pk}" in html


@pytest.mark.parametrize(
    ("query", "status"),
    [("?a={a}", 400), ("?a=999&b=998", 404), ("?a={a}&b={b}&split=dev", 400), ("?a=x&b=1", 400)],
)
def test_bad_requests_are_named(client, viewer, planted, query, status):
    run_a, run_b, _, _ = planted
    client.force_login(viewer)
    response = client.get(DIFF + query.format(a=run_a.pk, b=run_b.pk))
    assert response.status_code == status


def test_an_outsider_gets_no_diff(client, outsider, planted):
    run_a, run_b, _, _ = planted
    client.force_login(outsider)
    assert client.get(f"{DIFF}?a={run_a.pk}&b={run_b.pk}").status_code in (403, 404)
