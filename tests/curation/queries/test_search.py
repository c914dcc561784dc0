"""Similar dresses on the Django side: boxes from the synthetic generator, index builds (full
and incremental), look-alike search with "but another <attribute>", pages and API."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from curation.models import Annotation, Dataset, Image, ImageBox, SimilarityIndex
from curation.queries import search
from curation.services.demo import load_demo_catalog
from curation.services.indexes import start_index_build


@pytest.fixture
def dresses(tmp_path, db):
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=16)
    return Dataset.objects.get(name="synthetic-dresses")


@pytest.fixture
def indexed(dresses, data_scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = start_index_build(dataset=dresses, actor=data_scientist)
    row.refresh_from_db()
    assert row.status == "ready", row.error
    return row


def _labels(image_id: int) -> dict[str, str]:
    return dict(
        Annotation.objects.filter(image_id=image_id).values_list("attribute__name", "label__name")
    )


def test_the_synthetic_demo_brings_its_exact_boxes(dresses):
    images = Image.objects.filter(dataset=dresses)
    assert (
        ImageBox.objects.filter(image__dataset=dresses, source="synthetic").count()
        == images.count()
        == 48
    )
    for box in ImageBox.objects.filter(image__dataset=dresses):
        assert 0 <= box.x0 < box.x1 <= 1 and 0 <= box.y0 < box.y1 <= 1


def test_an_index_build_embeds_every_usable_image_and_stores_the_file(indexed, dresses):
    assert indexed.count == 48 and indexed.dim > 0 and indexed.kind == "flat"
    assert default_storage.exists(indexed.artifact)
    assert search.current_index(dresses).pk == indexed.pk


def test_a_merchandiser_cannot_build_an_index(client, merchandiser, dresses):
    client.force_login(merchandiser)
    response = client.post(reverse("curation:index_build", args=[dresses.name]))
    assert response.status_code == 403 and not SimilarityIndex.objects.exists()


def test_look_alikes_exclude_the_query_and_come_most_similar_first(indexed, dresses):
    image = Image.objects.filter(dataset=dresses).first()
    hits = search.similar_to_image(image, search.Query(k=10))
    assert len(hits) == 10 and image.pk not in {h.image.pk for h in hits}
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0001 for s in scores)


@pytest.mark.parametrize("attribute", ["neckline", "sleeve"])
def test_another_attribute_gives_dresses_that_differ_in_it_and_agree_most_otherwise(
    indexed, dresses, attribute
):
    image = Image.objects.filter(dataset=dresses).first()
    mine = _labels(image.pk)
    hits = search.similar_to_image(image, search.Query(k=8, differs_in=attribute))
    assert hits
    for h in hits:
        theirs = _labels(h.image.pk)
        assert theirs[attribute] != mine[attribute]
        assert h.agreements == sum(theirs[a] == mine[a] for a in mine if a != attribute)
    assert [h.agreements for h in hits] == sorted((h.agreements for h in hits), reverse=True)


def test_another_attribute_with_a_value_gives_that_value(indexed, dresses):
    image = Image.objects.filter(dataset=dresses).first()
    wanted = next(
        n for n in ("v-neck", "round", "square", "boat") if n != _labels(image.pk)["neckline"]
    )
    hits = search.similar_to_image(image, search.Query(k=5, differs_in="neckline", value=wanted))
    assert hits and all(_labels(h.image.pk)["neckline"] == wanted for h in hits)


def test_the_image_page_fragment_and_its_errors(client, viewer, indexed, dresses):
    image = Image.objects.filter(dataset=dresses).first()
    client.force_login(viewer)
    url = reverse("curation:image_similar", args=[image.pk])
    page = client.get(url, {"differs_in": "neckline"}, headers={"HX-Request": "true"})
    assert page.status_code == 200 and page.content.decode().count('class="tile"') == 12
    assert "is not an attribute" in client.get(url, {"differs_in": "colour"}).content.decode()
    assert client.get(url, {"k": "0"}).status_code == 400


def test_without_an_index_the_page_says_how_to_get_one(client, viewer, dresses):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=dresses).first()
    page = client.get(reverse("curation:image_similar", args=[image.pk]))
    assert "has no similarity index yet" in page.content.decode()


def test_the_api_answers_look_alikes_and_uploads(client, viewer, indexed, dresses):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=dresses).first()
    body = client.get(f"/api/images/{image.pk}/similar/", {"k": 3, "differs_in": "neckline"}).json()
    assert len(body["results"]) == 3 and set(body["results"][0]["labels"]) == {
        "silhouette",
        "neckline",
        "sleeve",
        "occasion",
    }
    assert client.get(f"/api/images/{image.pk}/similar/", {"k": "lots"}).status_code == 400
    with default_storage.open(image.file, "rb") as handle:
        photo = handle.read()
    found = client.post(
        "/api/similar/", {"dataset": dresses.name, "k": 4, "photo": _upload(photo, "dress.png")}
    )
    assert found.status_code == 200, found.content
    scores = [r["score"] for r in found.json()["results"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    bad = client.post(
        "/api/similar/", {"dataset": dresses.name, "photo": _upload(b"not an image", "x.png")}
    )
    assert bad.status_code == 400 and "x.png" in bad.json()["detail"]
    assert client.post("/api/similar/", {"dataset": dresses.name}).status_code == 400


def test_search_by_upload_on_the_page(client, viewer, indexed, dresses):
    client.force_login(viewer)
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    page = client.post(
        reverse("curation:dataset_similarity", args=[dresses.name]),
        {"photo": _upload(buffer.getvalue(), "red.png"), "k": 5},
    )
    assert page.status_code == 200 and len(page.context["hits"]) == 5


def test_new_imports_are_added_to_the_current_index(
    indexed, dresses, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "more", n_products=18)
    indexed.refresh_from_db()
    assert indexed.count == 54 == Image.objects.filter(dataset=dresses).count()
    assert default_storage.exists(indexed.artifact)


def _upload(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


def test_the_label_table_follows_relabels_without_reading_the_catalog_again(
    dresses, merchandiser, data_scientist, django_assert_max_num_queries, monkeypatch
):
    from curation.models import Attribute, Label, RunImage
    from curation.services.labels import relabel_image
    from curation.services.runs.control import promote_training_run
    from tests.support.runs import finished_run

    neckline = Attribute.objects.get(dataset=dresses, name="neckline")
    first, second, third = Image.objects.filter(dataset=dresses).order_by("id")[:3]
    run = finished_run(neckline, wrong={third.pk})  # the model disagrees with third's label
    promote_training_run(run=run, actor=data_scientist)
    table, attributes, by_index = search.label_table(dresses)
    col = [a.pk for a in attributes].index(neckline.pk)
    before = by_index[col][int(table.of([first.pk])[0, col])].name
    other = Label.objects.filter(attribute=neckline).exclude(name=before).first()
    relabel_image(image=first, attribute=neckline, label=other, actor=merchandiser)
    relabel_image(image=third, attribute=neckline, label=None, actor=merchandiser)

    with django_assert_max_num_queries(7):  # 4 stamps, events, annotations, a prediction
        updated, _, _ = search.label_table(dresses)
    assert by_index[col][int(updated.of([first.pk])[0, col])].name == other.name
    guess = RunImage.objects.get(run=run, image=third).predicted_label.name
    assert by_index[col][int(updated.of([third.pk])[0, col])].name == guess  # cleared: the model's
    assert guess != by_index[col][int(table.of([third.pk])[0, col])].name
    rebuilt, _, _ = search.build_table(dresses)
    np.testing.assert_array_equal(updated.labels, rebuilt.labels)
    assert updated.count(col, int(updated.of([first.pk])[0, col])) == rebuilt.count(
        col, int(rebuilt.of([first.pk])[0, col])
    )

    Label.objects.filter(pk=other.pk).update(name="renamed")  # captions follow a rename
    _, _, names = search.label_table(dresses)
    assert "renamed" in {lab.name for lab in names[col].values()}

    monkeypatch.setattr(search, "DELTA_LIMIT", 0)  # too many changes: rebuild whole
    relabel_image(image=second, attribute=neckline, label=other, actor=merchandiser)
    again, _, _ = search.label_table(dresses)
    assert by_index[col][int(again.of([second.pk])[0, col])].pk == other.pk


def test_a_catalog_photo_uploaded_as_the_query_finds_itself_first(client, viewer, indexed, dresses):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=dresses).order_by("id")[5]
    with default_storage.open(image.file, "rb") as handle:
        photo = handle.read()
    page = client.post(
        reverse("curation:dataset_similarity", args=[dresses.name]),
        {"photo": _upload(photo, "dress.png"), "k": 5},
    )
    assert page.status_code == 200, page.context["error"]
    first = page.context["hits"][0]
    assert first.image.pk == image.pk and first.score >= 0.99


def test_the_upload_page_shows_the_query_photo_and_wraps_the_labels(
    client, viewer, indexed, dresses
):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=dresses).order_by("id").first()
    with default_storage.open(image.file, "rb") as handle:
        photo = handle.read()
    page = client.post(
        reverse("curation:dataset_similarity", args=[dresses.name]),
        {"photo": _upload(photo, "dress.png"), "k": 3, "differs_in": "neckline"},
    )
    html = page.content.decode()
    assert page.status_code == 200, page.context["error"]
    assert 'src="data:image/png;base64,' in html
    assert page.context["hits"][0].image.pk != image.pk  # another neckline: not itself
    # only the chosen attribute's labels are offered under "that is"
    assert '<optgroup label="neckline">' in html and '<optgroup label="sleeve">' not in html


def test_a_label_of_another_attribute_is_a_400_naming_it(client, viewer, indexed, dresses):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=dresses).first()
    sleeve = _labels(image.pk)["sleeve"]
    page = client.get(
        reverse("curation:image_similar", args=[image.pk]),
        {"differs_in": "neckline", "value": sleeve},
    )
    assert page.status_code == 400
    assert (
        page.context["error"] == f"'{sleeve}' is not a label of neckline (it is a label of sleeve)."
    )
