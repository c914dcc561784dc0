"""Signed crowd image links (no login, refused clearly when expired or changed), a batch
assigned from the review page, and gold items marked there."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import reverse

from curation.crowd_links import sign_image
from curation.models import GoldItem, Image, Label, ReviewItem
from tests.support.runs import finished_run, first_images
from tests.support.users import make_user

REVIEW = "/datasets/dresses/attributes/neckline/review/"


@pytest.fixture
def run(neckline):
    return finished_run(neckline, wrong=first_images(neckline, 4))


@pytest.fixture
def rita(db):
    return make_user("rita", "merchandiser", password="x")


def _stored_bytes(image: Image) -> bytes:
    with default_storage.open(image.file, "rb") as handle:
        return handle.read()


def test_an_exported_link_gives_the_image_to_anyone_without_a_login(client, data_scientist, run):
    client.force_login(data_scientist)
    export = client.get(reverse("curation:review_export", args=["dresses", "neckline"]))
    task = next(csv.DictReader(io.StringIO(export.content.decode())))
    client.logout()
    response = client.get(task["image_url"].removeprefix("http://testserver"))
    assert response.status_code == 200
    image = ReviewItem.objects.get(pk=int(task["task_id"])).image
    assert b"".join(response.streaming_content) == _stored_bytes(image)


def test_a_changed_link_is_refused_with_a_403_not_the_login_page(client, run):
    image = Image.objects.filter(dataset=run.dataset).first()
    token = sign_image(image.pk)
    other = Image.objects.exclude(pk=image.pk).first()
    forged = f"{other.pk}{token[len(str(image.pk)) :]}"
    for bad in (forged, token[:-2] + "xx", "nonsense"):
        response = client.get(reverse("curation:crowd_image", args=[bad]))
        assert response.status_code == 403, bad
        assert "not valid" in response.content.decode()


def test_an_expired_link_is_refused_with_a_410(client, run):
    image = Image.objects.filter(dataset=run.dataset).first()
    token = sign_image(image.pk)
    with override_settings(CURATION_CROWD_LINK_HOURS=-1):
        response = client.get(reverse("curation:crowd_image", args=[token]))
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert "login" not in response.get("Location", "")


def test_an_assigned_batch_shows_first_to_its_reviewer_and_not_to_others(
    client, data_scientist, merchandiser, rita, run
):
    client.force_login(data_scientist)
    url = reverse("curation:review_assign", args=["dresses", "neckline"])
    response = client.post(url, {"run": run.pk, "count": 2, "user": rita.pk})
    assert response.status_code == 302
    given = list(ReviewItem.objects.filter(run=run, assigned_to=rita).order_by("rank"))
    assert len(given) == 2
    assert client.post(url, {"run": run.pk, "count": 0, "user": rita.pk}).status_code == 400
    bad_user = client.post(url, {"run": run.pk, "count": 1, "user": 999999})
    assert bad_user.status_code == 400 and "user" in bad_user.content.decode()

    client.force_login(rita)
    page = client.get(REVIEW).content.decode()
    assert "Assigned to you (2)" in page
    mine = page.index('id="assigned"')
    queue = page.index('id="queue"')
    assert all(mine < page.index(f'id="item-{i.pk}"') < queue for i in given)
    client.force_login(merchandiser)
    page = client.get(REVIEW).content.decode()
    assert all(f'id="item-{i.pk}"' not in page for i in given)
    assert page.count('class="tile review"') == 2  # the two nobody was given


def test_a_data_scientist_marks_gold_and_bad_input_is_a_clear_400(
    client, data_scientist, merchandiser, run, neckline
):
    image = Image.objects.filter(dataset=run.dataset).order_by("id").last()
    answer = Label.objects.filter(attribute=neckline).first()
    url = reverse("curation:gold_mark", args=["dresses", "neckline"])
    client.force_login(merchandiser)
    assert client.post(url, {"image": image.pk, "answer": answer.pk}).status_code == 403
    client.force_login(data_scientist)
    assert client.post(url, {"image": image.pk, "answer": answer.pk}).status_code == 302
    assert GoldItem.objects.get(image=image).answer_id == answer.pk
    missing = client.post(url, {"answer": answer.pk})
    assert missing.status_code == 400 and "image" in missing.content.decode()
    wrong_label = client.post(url, {"image": image.pk, "answer": 999999})
    assert wrong_label.status_code == 400 and "answer" in wrong_label.content.decode()
