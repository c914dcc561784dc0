"""The new-arrivals queue page: order, pages, accept one / selected / a page, a label by
number key, undo, the read-only view, the empty states; the image page's and the dataset
gallery's model scores; history naming the model version."""

from __future__ import annotations

import re
import uuid

from django.urls import reverse

from curation.models import Annotation, LabelEvent, LabelSource, PromotedModel
from curation.queries import arrivals as arrivals_query
from curation.services.arrivals import accept_suggestions
from tests.support.arrivals import import_arrivals, label_of, promote, score

QUEUE = "/datasets/dresses/attributes/neckline/arrivals/"
DECIDE = "/datasets/dresses/attributes/neckline/arrivals/decide/"
UNDO = "/datasets/dresses/attributes/neckline/arrivals/undo/"


def _label_by_a_job(image, attribute, name: str, **how) -> None:
    """Give the image the attribute's label `name` with no actor, as an import or the
    auto-accept job does (`how`: the source and the run that flagged it)."""
    from curation.services.labels import relabel_image

    label = attribute.labels.get(name=name)
    relabel_image(image=image, attribute=attribute, label=label, actor=None, **how)


def _tile_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="arrival-(\d+)"', html)]


def test_the_queue_lists_unlabelled_scored_images_most_confident_first(
    client, merchandiser, arrivals
):
    run, images = arrivals
    client.force_login(merchandiser)

    html = client.get(QUEUE).content.decode()

    assert _tile_ids(html) == [im.pk for im in images]
    assert "suggested <strong>round</strong> 0.90" in html
    assert "v-neck 0.06 ·" in html and "boat 0.04" in html  # the next two labels
    assert "1 of 3" in html and "3 of 3" in html
    assert f"run #{run.pk}" in html
    least = client.get(QUEUE + "?order=least").content.decode()
    assert _tile_ids(least) == [im.pk for im in reversed(images)]


def test_labelled_and_quarantined_images_are_not_in_the_queue(
    client, merchandiser, arrivals, neckline, tmp_path
):
    run, images = arrivals
    accept_suggestions(attribute=neckline, image_ids=[images[0].pk], actor=merchandiser)
    images[1].status = "quarantined"
    images[1].save(update_fields=["status"])
    client.force_login(merchandiser)

    html = client.get(QUEUE).content.decode()

    assert _tile_ids(html) == [images[2].pk]


def test_the_queue_pages(client, merchandiser, arrivals, monkeypatch):
    monkeypatch.setattr(arrivals_query, "PAGE", 2)
    _, images = arrivals
    client.force_login(merchandiser)

    second = client.get(QUEUE + "?page=2").content.decode()

    assert _tile_ids(second) == [images[2].pk]
    assert "Page 2 of 2" in second and "?order=confident&amp;page=1" in second


def test_accepting_one_by_htmx_swaps_the_queue_with_an_undo_banner(
    client, merchandiser, arrivals, neckline
):
    run, images = arrivals
    client.force_login(merchandiser)

    response = client.post(
        DECIDE, {"image": images[0].pk, "accept": "one"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="arrivals">')
    assert f"Accepted 1 suggestion of run #{run.pk}" in html and "data-undo-batch" in html
    assert _tile_ids(html) == [images[1].pk, images[2].pk]
    assert label_of(images[0], neckline) == "round"
    event = LabelEvent.objects.get(image=images[0])
    assert (event.source, event.flagged_by_run_id) == (LabelSource.MODEL, run.pk)

    batch = re.search(r'name="batch" value="([0-9a-f-]+)"', html).group(1)
    undone = client.post(UNDO, {"batch": batch}, headers={"HX-Request": "true"}).content.decode()

    assert "back to empty" in undone
    assert label_of(images[0], neckline) is None
    assert _tile_ids(undone) == [im.pk for im in images]


def test_accepting_the_selected_tiles_is_one_batch_and_the_page_shows_its_banner(
    client, merchandiser, arrivals, neckline
):
    _, images = arrivals
    client.force_login(merchandiser)

    response = client.post(DECIDE, {"image": [images[0].pk, images[2].pk], "accept": "selected"})

    assert response.status_code == 302
    assert [label_of(im, neckline) for im in images] == ["round", None, "boat"]
    batches = set(LabelEvent.objects.filter(source="model").values_list("batch", flat=True))
    assert len(batches) == 1
    page = client.get(response["Location"]).content.decode()
    assert "Accepted 2 suggestions" in page and str(batches.pop()) in page


def test_accept_all_on_this_page_takes_the_page_images(client, merchandiser, arrivals, neckline):
    _, images = arrivals
    client.force_login(merchandiser)

    client.post(DECIDE, {"page_image": [im.pk for im in images], "accept": "page"})

    assert [label_of(im, neckline) for im in images] == ["round", "v-neck", "boat"]


def test_a_number_key_label_is_manual(client, merchandiser, arrivals, neckline):
    run, images = arrivals
    boat = neckline.labels.get(name="boat")
    client.force_login(merchandiser)

    client.post(DECIDE, {"image": images[0].pk, "label": boat.pk}, headers={"HX-Request": "true"})

    assert label_of(images[0], neckline) == "boat"
    event = LabelEvent.objects.get(image=images[0])
    assert (event.source, event.flagged_by_run_id) == (LabelSource.MANUAL, run.pk)


def test_a_viewer_sees_the_queue_read_only_and_cannot_post(client, viewer, arrivals, neckline):
    _, images = arrivals
    client.force_login(viewer)

    html = client.get(QUEUE).content.decode()

    assert len(_tile_ids(html)) == 3
    assert "tileform" not in html and "Accept selected" not in html
    assert "viewer role" in html
    response = client.post(DECIDE, {"image": images[0].pk, "accept": "one"})
    assert response.status_code == 403
    assert label_of(images[0], neckline) is None


def test_without_a_promoted_model_the_page_says_to_promote_one(client, merchandiser, neckline):
    client.force_login(merchandiser)

    html = client.get(QUEUE).content.decode()

    assert 'id="arrivals-empty"' in html and "no promoted model" in html and "Promote" in html


def test_without_scored_arrivals_the_page_says_to_start_a_scoring(client, merchandiser, neckline):
    promote(neckline)
    client.force_login(merchandiser)

    html = client.get(QUEUE).content.decode()

    assert "No scored new arrivals" in html
    assert "manage.py score --dataset dresses --attribute neckline" in html


def test_the_queue_page_makes_a_bounded_number_of_queries(
    client, merchandiser, arrivals, tmp_path, django_assert_max_num_queries
):
    run, first = arrivals
    more = import_arrivals("dresses", tmp_path / "more", 20, start=3)
    fresh = [im for im in more if im.pk not in {f.pk for f in first}]
    for i, image in enumerate(fresh):
        score(run, image, [0.5 - i / 100, 0.3, 0.2 + i / 100])
    client.force_login(merchandiser)
    client.get(QUEUE)  # warm the per-user caches

    # session, user, roles (3), attribute + promoted run, labels, count, page, annotations:
    # the same for 3 arrivals or 300.
    with django_assert_max_num_queries(10):
        html = client.get(QUEUE).content.decode()

    assert len(_tile_ids(html)) == 23


def test_history_names_the_model_version(client, merchandiser, arrivals, neckline):
    run, images = arrivals
    accept_suggestions(attribute=neckline, image_ids=[images[0].pk], actor=merchandiser)
    client.force_login(merchandiser)

    history = client.get(reverse("curation:dataset_history", args=["dresses"])).content.decode()
    image_page = client.get(images[0].get_absolute_url()).content.decode()

    link = f'model · <a href="{reverse("curation:run_detail", args=[run.pk])}">run {run.pk}</a>'
    assert link in history and link in image_page


def test_history_marks_automatic_labels(client, merchandiser, arrivals, neckline):
    run, images = arrivals
    _label_by_a_job(images[0], neckline, "round", source=LabelSource.AUTO, flagged_by_run_id=run.pk)
    client.force_login(merchandiser)

    history = client.get(reverse("curation:dataset_history", args=["dresses"])).content.decode()

    assert "model (automatic) · <a" in history and f">run {run.pk}</a>" in history


def test_the_image_page_shows_the_scores_and_a_disagreement(client, viewer, arrivals, neckline):
    run, images = arrivals
    # The new image is labelled boat by hand; the model says round (0.90).
    _label_by_a_job(images[0], neckline, "boat", source=LabelSource.IMPORT)
    client.force_login(viewer)

    html = client.get(images[0].get_absolute_url()).content.decode()

    section = html[html.index('id="model-scores"') :]
    assert "<strong>round</strong>" in section
    assert "0.90" in section and "0.06" in section and "0.04" in section
    assert "the given label, boat, disagrees with the model" in section
    assert f"run #{run.pk}" in section


def test_an_image_the_model_agrees_with_shows_no_disagreement(client, viewer, arrivals):
    run, _ = arrivals
    image = run.images.select_related("image").filter(is_error=False).first().image
    client.force_login(viewer)

    html = client.get(image.get_absolute_url()).content.decode()

    assert 'id="model-scores"' in html and "disagrees" not in html


def test_dataset_gallery_tiles_show_the_prediction_with_one_scores_lookup(
    client, viewer, arrivals, neckline
):
    _, images = arrivals
    client.force_login(viewer)

    html = client.get(reverse("curation:dataset_detail", args=["dresses"])).content.decode()

    assert html.count('class="caption tile-score"') == 9  # 6 images of the run, 3 new arrivals
    assert "neckline: model <strong>round</strong> 0.90" in html


def test_no_scores_no_tile_lines(client, viewer, neckline):
    PromotedModel.objects.filter(attribute=neckline).delete()
    client.force_login(viewer)

    html = client.get(reverse("curation:dataset_detail", args=["dresses"])).content.decode()

    assert "tile-score" not in html


def test_undo_without_js_redirects_to_the_queue_with_the_images_back(
    client, merchandiser, arrivals, neckline
):
    _, images = arrivals
    result = accept_suggestions(
        attribute=neckline, image_ids=[im.pk for im in images], actor=merchandiser
    )
    client.force_login(merchandiser)

    response = client.post(UNDO, {"batch": str(result.batch), "order": "least"}, follow=True)

    assert response.redirect_chain[-1][0].startswith(QUEUE + "?order=least")
    assert "back to empty" in response.content.decode()
    assert [label_of(im, neckline) for im in images] == [None, None, None]


def test_undo_refuses_a_batch_of_another_attribute(client, merchandiser, arrivals, imported):
    from curation.services.labels import relabel_image

    _, images = arrivals
    sleeve = imported.attributes.get(name="sleeve")
    batch = uuid.uuid4()
    relabel_image(
        image=images[0],
        attribute=sleeve,
        label=sleeve.labels.first(),
        actor=merchandiser,
        batch=batch,
    )
    client.force_login(merchandiser)

    response = client.post(UNDO, {"batch": str(batch)})

    assert response.status_code == 404
    assert Annotation.objects.get(image=images[0], attribute=sleeve).label_id is not None
