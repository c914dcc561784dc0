"""The triplet page: questions from the index (a near and a farther neighbour) or at random,
answers by POST (HTMX swaps the next question), roles and bad answers."""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from curation.models import Dataset, Image, Triplet
from curation.queries import search
from curation.queries.triplets import next_question
from curation.services.demo import load_demo_catalog
from curation.services.indexes import start_index_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def dresses(tmp_path):
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=8)
    return Dataset.objects.get(name="synthetic-dresses")


@pytest.fixture
def url(dresses):
    return reverse("curation:triplets", args=[dresses.name])


def _question(client, url) -> dict[str, int]:
    """The ids the page asks about, read from its hidden inputs."""
    page = client.get(url)
    q = page.context["question"]
    return {"reference": q.reference.pk, "a": q.left.pk, "b": q.right.pk}


def test_without_an_index_it_asks_about_three_random_images_of_the_dataset(dresses):
    for seed in range(10):
        q = next_question(dresses, random.Random(seed))
        ids = {q.reference.pk, q.left.pk, q.right.pk}
        assert q.source == "random" and len(ids) == 3
        assert set(Image.objects.filter(pk__in=ids).values_list("dataset_id", flat=True)) == {
            dresses.pk
        }
        assert q.left.split == q.right.split == q.reference.split


def test_with_an_index_one_candidate_is_near_and_the_other_farther(
    dresses, data_scientist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        start_index_build(dataset=dresses, actor=data_scientist)
    index = search.loaded_index(search.current_index(dresses))
    for seed in range(5):
        q = next_question(dresses, random.Random(seed))
        assert q.source == "index"
        found = index.search(index.vectors([q.reference.pk])[0], 200, exclude_ids=[q.reference.pk])
        split = dict(Image.objects.values_list("pk", "split"))
        ranked = [i for i in found.ids.tolist() if split[i] == q.reference.split]
        ranks = sorted(ranked.index(c.pk) for c in (q.left, q.right))
        cut = 10 if len(ranked) > 10 else len(ranked) // 2  # a small split: its halves
        assert ranks[0] < cut <= ranks[1] < 50, (ranks, len(ranked))


def test_a_merchandiser_answers_and_htmx_swaps_in_the_next_question(client, merchandiser, url):
    client.force_login(merchandiser)
    asked = _question(client, url)
    page = client.post(url, {**asked, "choice": "b"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    body = page.content.decode()
    assert body.lstrip().startswith('<section class="card" id="question">') and "<html" not in body
    assert "1 judgement collected for synthetic-dresses, 1 by you" in body
    t = Triplet.objects.get()
    assert (t.reference_id, t.closer_id, t.farther_id, t.actor_id) == (
        asked["reference"],
        asked["b"],
        asked["a"],
        merchandiser.pk,
    )


def test_without_htmx_an_answer_redirects_to_the_next_question(client, merchandiser, url):
    client.force_login(merchandiser)
    asked = _question(client, url)
    response = client.post(url, {**asked, "choice": "a"})
    assert response.status_code == 302 and response["Location"] == url
    assert Triplet.objects.get().closer_id == asked["a"]


def test_skip_records_nothing(client, merchandiser, url):
    client.force_login(merchandiser)
    response = client.post(url, {**_question(client, url), "choice": "skip"})
    assert response.status_code == 302 and not Triplet.objects.exists()


def test_a_viewer_sees_the_question_read_only_and_cannot_answer(client, viewer, url):
    client.force_login(viewer)
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200 and "Viewers can look" in body and 'name="choice"' not in body
    response = client.post(url, {**_question(client, url), "choice": "a"})
    assert response.status_code == 403 and not Triplet.objects.exists()


def test_bad_answers_are_refused_with_a_reason(client, merchandiser, url, dresses, tmp_path):
    load_demo_catalog(
        "synthetic-dresses", out_dir=tmp_path / "other", dataset_name="other", n_products=2
    )
    stranger = Image.objects.filter(dataset__name="other").first()
    client.force_login(merchandiser)
    asked = _question(client, url)
    cases = [
        ({**asked, "choice": "c"}, "choose a, b or skip"),
        ({**asked, "a": "x", "choice": "a"}, "lost its images (a)"),
        (
            {**asked, "b": str(stranger.pk), "choice": "a"},
            f"image #{stranger.pk} is not part of synthetic-dresses",
        ),
        ({**asked, "b": str(asked["a"]), "choice": "a"}, "three different images"),
    ]
    for data, words in cases:
        page = client.post(url, data)
        assert page.status_code == 400 and words in page.content.decode(), words
    assert not Triplet.objects.exists()
