"""GET /api/images/{id}/ and the image list carry the promoted models' current scores."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import Image, PromotedModel
from tests.support.api import api_client
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(imported):
    """A promoted run per attribute; neckline's gets the first image wrong."""
    first = Image.objects.order_by("id").first()
    runs = {}
    for attribute in imported.attributes.all():
        wrong = {first.pk} if attribute.name == "neckline" else set()
        runs[attribute.name] = finished_run(attribute, wrong=wrong)
        PromotedModel.objects.create(attribute=attribute, run=runs[attribute.name])
    return first, runs


def test_image_detail_carries_each_attribute_s_top_labels_and_the_disagreement(scored, viewer):
    first, runs = scored

    body = api_client(viewer).get(f"/api/images/{first.pk}/").json()

    scores = {s["attribute"]: s for s in body["scores"]}
    assert list(scores) == ["neckline", "sleeve"]
    neckline = scores["neckline"]
    given = next(lab["label"] for lab in body["labels"] if lab["attribute"] == "neckline")
    assert neckline["run"] == runs["neckline"].pk and neckline["given"] == given
    assert neckline["disagrees"] is True and neckline["predicted"] != given
    assert neckline["predicted"] == neckline["top"][0]["label"]
    probs = [t["probability"] for t in neckline["top"]]
    assert probs == sorted(probs, reverse=True) and len(probs) == 3
    assert scores["sleeve"]["disagrees"] is False
    assert scores["sleeve"]["from_run"] is True


def test_an_image_without_a_promoted_model_has_no_scores(imported, viewer):
    image = Image.objects.order_by("id").first()

    body = api_client(viewer).get(f"/api/images/{image.pk}/").json()

    assert body["scores"] == []


def _queries(client, page_size: int) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/images/", {"dataset": "dresses", "page_size": page_size}).json()
    assert all(len(r["scores"]) == 2 for r in body["results"])
    return len(ctx.captured_queries), len(body["results"])


def test_the_image_list_reads_scores_per_page_not_per_image(scored, viewer):
    client = api_client(viewer)
    _queries(client, 1)  # the user's roles are cached on the first request

    small, n_small = _queries(client, 2)
    large, n_large = _queries(client, 6)

    assert (n_small, n_large) == (2, 6)
    assert small == large
