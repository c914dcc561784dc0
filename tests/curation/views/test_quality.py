"""The QA pages: dashboard, confusion cells, error galleries, relabel from a gallery (one,
many, undo), dataset history, and run comparison."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest
from django.urls import reverse

from curation.models import Annotation, Image, LabelEvent, RunImage
from curation.queries import quality
from curation.services.labels import relabel_image
from tests.support.runs import finished_run


@pytest.fixture
def run(neckline, data_scientist):
    """Two test images predicted wrongly (the test split holds images 5 and 6 of sku-2)."""
    test_ids = sorted(
        Image.objects.filter(dataset=neckline.dataset, split="test").values_list("pk", flat=True)
    )
    train_ids = sorted(
        Image.objects.filter(dataset=neckline.dataset, split="train").values_list("pk", flat=True)
    )
    return finished_run(neckline, wrong={test_ids[0], train_ids[0]}, actor=data_scientist)


def _url(name, neckline, **query):
    from django.utils.http import urlencode

    base = reverse(f"curation:{name}", args=[neckline.dataset.name, neckline.name])
    return f"{base}?{urlencode(query)}" if query else base


def _relabel_tile(client, row, run, label_id, version):
    """An HTMX relabel of one gallery tile of the neckline attribute."""
    return client.post(
        reverse("curation:gallery_relabel", args=[row.image_id]),
        {"attribute": "neckline", "run": run.pk, "label": label_id, "version": version},
        headers={"HX-Request": "true"},
    )


def _per_class(html: str) -> list[list[str]]:
    """The per-class table's rows as cell texts."""
    body = html.split('id="per-class"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_dashboard_shows_per_class_metrics_in_label_order(client, viewer, neckline, run):
    client.force_login(viewer)
    page = client.get(_url("quality", neckline))
    assert page.status_code == 200
    html = page.content.decode()
    rows = _per_class(html)
    assert [r[0] for r in rows] == ["round", "v-neck", "boat"]
    board = quality.dashboard(run, "test")
    assert board.n == 2 and board.accuracy == 0.5
    assert int(board.confusion.sum()) == RunImage.objects.filter(run=run, split="test").count()
    assert sum(int(r[4]) for r in rows) == board.n  # support column
    assert (
        'id="confusion"' in html and "F1 per class" in html and "0.5000</strong> accuracy" in html
    )


def test_the_dashboard_follows_a_new_label_order(client, viewer, neckline, run):
    client.force_login(viewer)
    assert _per_class(client.get(_url("quality", neckline)).content.decode())[0][0] == "round"
    for position, name in enumerate(["boat", "round", "v-neck"]):
        neckline.labels.filter(name=name).update(position=position)
    assert _per_class(client.get(_url("quality", neckline)).content.decode())[0][0] == "boat"


def test_the_rendered_board_is_cached_until_a_label_changes(
    client, viewer, neckline, run, monkeypatch
):
    from curation.views import quality as views

    rendered = []
    real = views.render_to_string
    monkeypatch.setattr(
        views, "render_to_string", lambda *a, **k: rendered.append(a[0]) or real(*a, **k)
    )
    client.force_login(viewer)
    first = client.get(_url("quality", neckline)).content.decode()
    second = client.get(_url("quality", neckline)).content.decode()
    board = first.split('<p class="kpis">', 1)[1].split("</main>", 1)[0]
    assert rendered == ["curation/quality.html#board"] and board in second
    client.get(_url("quality", neckline, norm="row"))  # another display: its own entry
    assert len(rendered) == 2
    neckline.labels.filter(name="boat").update(name="bateau")
    renamed = client.get(_url("quality", neckline)).content.decode()
    assert len(rendered) == 3 and "bateau" in renamed and ">boat<" not in renamed


def test_the_dashboard_has_an_empty_state_and_helpful_404s(client, viewer, neckline):
    client.force_login(viewer)
    page = client.get(_url("quality", neckline))
    assert page.status_code == 200 and "No finished training run" in page.content.decode()
    missing = client.get(reverse("curation:quality", args=[neckline.dataset.name, "colour"]))
    assert missing.status_code == 404 and "neckline" in missing.content.decode()
    assert client.get(_url("quality", neckline, run="999")).status_code == 404
    assert client.get(_url("quality", neckline, split="validation")).status_code == 404


def test_a_confusion_cell_opens_the_images_labelled_i_predicted_j(client, viewer, neckline, run):
    client.force_login(viewer)
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    page = client.get(
        _url(
            "gallery",
            neckline,
            run=run.pk,
            given=wrong.given_label_id,
            predicted=wrong.predicted_label_id,
        )
    )
    assert page.status_code == 200
    assert [r.image_id for r in page.context["rows"]] == [wrong.image_id]
    cell = f"given={wrong.given_label_id}&amp;predicted={wrong.predicted_label_id}"
    assert cell in client.get(_url("quality", neckline)).content.decode()


@pytest.mark.parametrize("split", ["test", "train"])
def test_false_positive_and_negative_galleries_hold_exactly_the_mistakes(
    client, viewer, neckline, run, split
):
    client.force_login(viewer)
    wrong = RunImage.objects.get(run=run, split=split, is_error=True)
    fp = client.get(_url("gallery", neckline, run=run.pk, split=split, fp=wrong.predicted_label_id))
    fn = client.get(_url("gallery", neckline, run=run.pk, split=split, fn=wrong.given_label_id))
    assert [r.image_id for r in fp.context["rows"]] == [wrong.image_id]
    assert [r.image_id for r in fn.context["rows"]] == [wrong.image_id]
    other = client.get(_url("gallery", neckline, run=run.pk, split=split, fp=wrong.given_label_id))
    assert other.context["rows"] == [] and "made no mistakes" in other.content.decode()


def test_gallery_pages_follow_confidence_then_id_without_gaps(neckline, run):
    flt = quality.GalleryFilter(split="train", given=None, predicted=None)
    everything = list(RunImage.objects.filter(run=run, split="train", is_error=True))
    # All correct and wrong rows of every cell, two at a time.
    seen = []
    for lab in neckline.labels.all():
        flt = quality.GalleryFilter(split="train", given=lab.pk, predicted=lab.pk)
        cursor = None
        while True:
            rows, nxt = quality.gallery(run, flt, after=quality.parse_cursor(cursor), limit=2)
            seen += rows
            if nxt is None:
                break
            cursor = nxt
        cell = [r for r in seen if r.given_label_id == lab.pk]
        assert [r.confidence for r in cell] == sorted((r.confidence for r in cell), reverse=True)
    expected = RunImage.objects.filter(run=run, split="train", is_error=False).count()
    assert len(seen) == len({r.pk for r in seen}) == expected and everything


def test_a_malformed_cursor_is_a_clear_400(client, viewer, neckline, run):
    client.force_login(viewer)
    page = client.get(
        _url("gallery", neckline, run=run.pk, fp=neckline.labels.first().pk, after="x:y")
    )
    assert page.status_code == 400 and b"cursor" in page.content


def test_relabel_from_a_gallery_swaps_the_tile_and_writes_history(
    client, merchandiser, neckline, run
):
    client.force_login(merchandiser)
    row = RunImage.objects.get(run=run, split="test", is_error=True)
    ann = Annotation.objects.get(image_id=row.image_id, attribute=neckline)
    page = _relabel_tile(client, row, run, row.predicted_label_id, ann.version)
    assert page.status_code == 200 and f'id="tile-{row.image_id}"' in page.content.decode()
    event = LabelEvent.objects.filter(image_id=row.image_id).latest("id")
    assert (event.new_label_id, event.source, event.flagged_by_run_id, event.actor_id) == (
        row.predicted_label_id,
        "manual",
        run.pk,
        merchandiser.pk,
    )
    assert f'data-event="{event.pk}"' in page.content.decode()
    # The same stale version again: refused, with who changed it.
    stale = _relabel_tile(client, row, run, row.given_label_id, ann.version)
    assert stale.status_code == 409 and "max_merch changed it" in stale.content.decode()
    # u: undo puts the old label back as a revert event.
    undone = client.post(
        reverse("curation:gallery_undo", args=[event.pk]),
        {"attribute": "neckline", "run": run.pk},
        headers={"HX-Request": "true"},
    )
    assert undone.status_code == 200 and "Undone" in undone.content.decode()
    assert Annotation.objects.get(pk=ann.pk).label_id == row.given_label_id
    assert LabelEvent.objects.filter(reverts=event).exists()


def test_a_reason_typed_on_a_tile_goes_on_the_event_before_where_it_came_from(
    client, merchandiser, neckline, run
):
    client.force_login(merchandiser)
    row = RunImage.objects.get(run=run, split="test", is_error=True)
    url = reverse("curation:gallery_relabel", args=[row.image_id])
    post = {"attribute": "neckline", "run": run.pk, "choice": row.predicted_label_id}

    tile = client.post(url, {**post, "note": "sleeve hides it"}, headers={"HX-Request": "true"})
    again = client.post(url, {**post, "note": "still"}, headers={"HX-Request": "true"})
    long = client.post(url, {**post, "note": "x" * 301}, headers={"HX-Request": "true"})

    assert tile.status_code == 200 and 'placeholder="reason (optional)"' in tile.content.decode()
    event = LabelEvent.objects.get(image_id=row.image_id, source="manual")
    assert event.note == f"sleeve hides it · from the neckline gallery of run {run.pk}"
    assert again.status_code == 409 and "Nothing saved: the label is already" in unescape(
        again.content.decode()
    )
    assert long.status_code == 409 and "keep it to 300" in long.content.decode()
    assert LabelEvent.objects.filter(image_id=row.image_id, source="manual").count() == 1


def test_a_tile_post_names_what_is_wrong_and_defaults_to_the_current_run(
    client, merchandiser, neckline, run, viewer
):
    row = RunImage.objects.filter(run=run).order_by("image_id").first()
    gone = RunImage.objects.filter(run=run).order_by("-image_id").first()
    gone.delete()  # an image of the dataset the run did not score
    url = reverse("curation:gallery_relabel", args=[row.image_id])
    label = row.predicted_label_id
    client.force_login(merchandiser)
    cases = [
        (
            url,
            {"attribute": "colour", "run": run.pk, "label": label},
            "does not exist in this image's dataset",
        ),
        (
            url,
            {"attribute": "neckline", "run": run.pk + 99, "label": label},
            f"Run #{run.pk + 99} is not a finished run",
        ),
        (
            url,
            {"attribute": "neckline", "run": run.pk, "label": 99999},
            "'99999' is not a label of neckline",
        ),
        (
            reverse("curation:gallery_relabel", args=[99999]),
            {"attribute": "neckline", "run": run.pk, "label": label},
            "no image #99999",
        ),
    ]
    cases.append(
        (
            reverse("curation:gallery_relabel", args=[gone.image_id]),
            {"attribute": "neckline", "run": run.pk, "label": label},
            "is not in that run",
        )
    )
    for target, data, message in cases:
        page = client.post(target, data, headers={"HX-Request": "true"})
        assert page.status_code == 404 and message in unescape(page.content.decode()), data
    # A run that isn't a number at all is a bad request, named (curation.params).
    page = client.post(url, {"attribute": "neckline", "run": "9" * 30, "label": label})
    assert page.status_code == 400 and "run must be a whole number" in page.content.decode()
    # No run named: the attribute's current run, as the gallery page itself does.
    page = client.post(
        url, {"attribute": "neckline", "label": label}, headers={"HX-Request": "true"}
    )
    assert page.status_code == 200 and f'id="tile-{row.image_id}"' in page.content.decode()
    client.force_login(viewer)
    page = client.post(
        url,
        {"attribute": "neckline", "run": run.pk, "label": label},
        headers={"HX-Request": "true"},
    )
    assert page.status_code == 403


def test_bulk_relabel_is_one_batch_that_reverts_together(client, merchandiser, neckline, run):
    client.force_login(merchandiser)
    boat = neckline.labels.get(name="boat")
    rows = list(RunImage.objects.filter(run=run).order_by("image_id")[:3])
    before = {a.image_id: a.label_id for a in Annotation.objects.filter(attribute=neckline)}
    post = {"run": run.pk, "label": boat.pk, "image": [r.image_id for r in rows], "next": "/"}
    response = client.post(_url("gallery_bulk", neckline), post)
    assert response.status_code == 302
    batch = LabelEvent.objects.filter(actor=merchandiser).latest("id").batch
    assert batch and set(
        LabelEvent.objects.filter(batch=batch).values_list("flagged_by_run_id", flat=True)
    ) == {run.pk}
    history = client.get(
        reverse("curation:dataset_history", args=[neckline.dataset.name]) + f"?batch={batch}"
    )
    assert "Revert the whole batch" in history.content.decode()
    client.post(reverse("curation:batch_revert", args=[batch]))
    assert {a.image_id: a.label_id for a in Annotation.objects.filter(attribute=neckline)} == before


def test_a_viewer_sees_galleries_but_cannot_relabel(client, viewer, neckline, run):
    client.force_login(viewer)
    row = RunImage.objects.filter(run=run, is_error=True).first()
    page = client.get(
        _url("gallery", neckline, run=run.pk, fp=row.predicted_label_id, split=row.split)
    )
    assert page.status_code == 200 and "tileform" not in page.content.decode()
    refused = client.post(
        reverse("curation:gallery_relabel", args=[row.image_id]),
        {"attribute": "neckline", "run": run.pk, "label": row.predicted_label_id},
    )
    assert refused.status_code == 403
    assert (
        client.post(
            _url("gallery_bulk", neckline),
            {"run": run.pk, "label": row.predicted_label_id, "image": [row.image_id]},
        ).status_code
        == 403
    )
    assert not LabelEvent.objects.filter(actor=viewer).exists()


def test_dataset_history_filters_by_person_label_source_and_date(
    client, merchandiser, viewer, neckline
):
    image = Image.objects.filter(dataset=neckline.dataset).first()
    boat = neckline.labels.get(name="boat")
    relabel_image(image=image, attribute=neckline, label=boat, actor=merchandiser)
    client.force_login(viewer)
    url = reverse("curation:dataset_history", args=[neckline.dataset.name])
    mine = client.get(url, {"actor": "max_merch"}).context["events"]
    assert [e.actor_id for e in mine] == [merchandiser.pk]
    assert all(
        e.source == "import" for e in client.get(url, {"source": "import"}).context["events"]
    )
    assert all(
        "boat" in (e.old_label and e.old_label.name, e.new_label and e.new_label.name)
        for e in client.get(url, {"label": "boat"}).context["events"]
    )
    assert client.get(url, {"since": "2999-01-01"}).context["events"] == []
    bad = client.get(url, {"since": "yesterday"})
    assert bad.status_code == 404 and "is not a date" in bad.content.decode()


def test_comparison_splits_the_change_into_relabels_and_model(
    client, viewer, merchandiser, neckline, run
):
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    # A person agrees with run A's prediction; run B then learns today's labels.
    relabel_image(
        image=wrong.image, attribute=neckline, label=wrong.predicted_label, actor=merchandiser
    )
    run_b = finished_run(neckline, wrong=set(), seed=1)
    client.force_login(viewer)
    page = client.get(_url("compare", neckline, a=run.pk, b=run_b.pk))
    assert page.status_code == 200
    summary, rows = page.context["summary"], page.context["rows"]
    assert summary["macro_from_relabels"] > 0  # A looks better on today's labels
    assert summary["macro_from_model"] == pytest.approx(0)  # both now predict today's labels
    for r in rows:
        assert r.delta == pytest.approx(r.from_relabels + r.from_model + r.rest)
    one = client.get(_url("compare", neckline))
    assert one.status_code == 200


def test_a_gallery_page_of_the_promoted_run_reads_the_attribute_and_run_once(
    client, viewer, neckline, run, data_scientist, settings, django_assert_max_num_queries
):
    from curation.services.runs.control import promote_training_run

    settings.SHARED_CACHE = True  # roles and permissions from the cache, as in production
    promote_training_run(run=run, actor=data_scientist)
    client.force_login(viewer)
    url = _url("gallery", neckline, run=run.pk, split="test")
    assert client.get(url).status_code == 200  # warms the cached user facts
    # session, user, attribute + dataset + promoted run, labels, gallery rows, annotations
    with django_assert_max_num_queries(6):
        assert client.get(url).status_code == 200


def test_qa_pages_never_read_the_runs_growing_columns(
    client, merchandiser, neckline, run, data_scientist
):
    """A finished run's loss curve (2,000 points), metrics and progress stay in the database
    on the dashboard, a gallery page and a tile relabel, the pages people hit all day."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from curation.services.runs.control import promote_training_run

    promote_training_run(run=run, actor=data_scientist)
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    version = Annotation.objects.get(image_id=wrong.image_id, attribute=neckline).version
    client.force_login(merchandiser)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url("quality", neckline)).status_code == 200
        assert client.get(_url("gallery", neckline, run=run.pk)).status_code == 200
        tile = _relabel_tile(client, wrong, run, wrong.predicted_label_id, version)
        assert tile.status_code == 200
    read = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]
    assert any("curation_trainingrun" in sql for sql in read)
    for column in ("loss_curve", "metrics", "progress"):
        assert not [sql for sql in read if f'"curation_trainingrun"."{column}"' in sql], column


def test_todays_confusion_moves_only_relabelled_images_and_matches_a_full_count(
    neckline, run, merchandiser
):
    labels = quality.current_labels(neckline)
    at = {lab.pk: i for i, lab in enumerate(labels)}
    test_rows = list(RunImage.objects.filter(run=run, split="test").select_related("image"))
    first, second = test_rows[0], test_rows[1]
    other = next(lab for lab in labels if lab.pk != first.given_label_id)
    # A change and its undo: history since the run, but today's label is the run's again.
    relabel_image(image=first.image, attribute=neckline, label=other, actor=merchandiser)
    relabel_image(
        image=first.image, attribute=neckline, label=first.given_label, actor=merchandiser
    )
    relabel_image(image=second.image, attribute=neckline, label=None, actor=merchandiser)
    train_row = RunImage.objects.filter(run=run, split="train").select_related("image").first()
    relabel_image(image=train_row.image, attribute=neckline, label=other, actor=merchandiser)
    assert quality.today_confusion(run, labels).sum() == len(test_rows) - 1
    relabel_image(image=first.image, attribute=neckline, label=other, actor=merchandiser)

    full = np.zeros((len(labels), len(labels)), dtype=np.int64)
    today = dict(Annotation.objects.filter(attribute=neckline).values_list("image_id", "label_id"))
    for r in RunImage.objects.filter(run=run, split="test", predicted_label__isnull=False):
        if today.get(r.image_id) in at:
            full[at[today[r.image_id]], at[r.predicted_label_id]] += 1
    got = quality.today_confusion(run, labels)
    assert (got == full).all()
    assert got.sum() == len(test_rows) - 1  # the image now without a label drops out


def test_dashboard_warns_of_leaked_test_images_with_f1_without_them(run, neckline, client, viewer):
    from tests.support.hashes import clean, plant

    hashes = clean(neckline.dataset)
    plant(neckline.dataset, {"img/5.png": hashes["img/0.png"]})  # a test copy of a train photo
    client.force_login(viewer)
    body = unescape(client.get(_url("quality", neckline)).content.decode())
    warning = body.split('id="leakage"', 1)[1].split("</div>", 1)[0]
    assert "1 test image is a" in warning and "near-copy of training images" in warning
    # img/4 is predicted wrongly, img/5 (the copy) rightly: accuracy 0.5 with it, 0 without.
    assert "accuracy 0.5000 / 0.0000" in warning
    assert "1 of the run's 2 scored test images left out" in warning
    assert reverse("curation:data_health", args=["dresses"]) + "#leaked" in warning


def test_dashboard_has_no_leakage_warning_on_a_clean_catalog(run, neckline, client, viewer):
    from tests.support.hashes import clean

    clean(neckline.dataset)
    client.force_login(viewer)
    body = client.get(_url("quality", neckline)).content.decode()
    assert 'id="leakage"' not in body and "Data health</a>" in body


def test_dashboard_of_a_big_catalog_reads_the_search_from_the_cache_only(
    run, neckline, client, viewer, monkeypatch
):
    from curation.queries import health
    from tests.support.hashes import clean, plant

    hashes = clean(neckline.dataset)
    plant(neckline.dataset, {"img/5.png": hashes["img/0.png"]})
    monkeypatch.setattr(health, "INLINE_MAX_IMAGES", 0)  # every catalog counts as big
    client.force_login(viewer)
    body = client.get(_url("quality", neckline)).content.decode()
    assert 'id="leakage"' not in body and 'id="leakage-unchecked"' in body

    client.get(reverse("curation:data_health", args=["dresses"]))  # runs and caches it
    body = client.get(_url("quality", neckline)).content.decode()
    assert 'id="leakage"' in body and 'id="leakage-unchecked"' not in body
