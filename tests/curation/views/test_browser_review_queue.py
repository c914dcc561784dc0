"""The review queue across runs in Chromium: a decision survives a new run of the attribute
(and a label changed since brings the image back), and a gold item scores a reviewer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from curation.models import GoldItem, Image, Label, ReviewItem
from curation.roles import ensure_role_groups
from curation.services.gold import answer_gold
from curation.services.labels import relabel_image
from tests.support.browser import screenshot
from tests.support.runs import finished_run, first_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REVIEW = "/datasets/dresses/attributes/neckline/review/"
AGREEMENT = "/datasets/dresses/attributes/neckline/review/agreement/"


@pytest.fixture
def wrong(neckline):
    return first_images(neckline, 2)


def test_a_decision_survives_a_new_run_until_the_label_changes(
    neckline, wrong, data_scientist, open_as
):
    first = finished_run(neckline, wrong=wrong)
    item = ReviewItem.objects.filter(run=first).order_by("rank").first()
    page = open_as(data_scientist, REVIEW)
    tile = page.locator(f"#item-{item.pk}")
    tile.get_by_role("button", name=item.suggested_label.name).click()
    expect(page.locator(f"#item-{item.pk}")).to_contain_text("Decided")

    second = finished_run(neckline, wrong=wrong)
    carried = ReviewItem.objects.get(run=second, image_id=item.image_id)
    page.goto(REVIEW)
    expect(page.locator("h1")).to_contain_text(f"run #{second.pk}")
    expect(page.locator("#queue article.tile.review")).to_have_count(1)
    expect(page.locator(f"#item-{carried.pk}")).to_have_count(0)
    page.goto(f"{REVIEW}?run={second.pk}&status=decided")
    decided = page.locator(f"#item-{carried.pk}")
    expect(decided).to_contain_text(f"Decided: {item.suggested_label.name}")
    expect(decided.locator(".votes")).to_contain_text(data_scientist.username)

    other = Label.objects.filter(attribute=neckline).exclude(pk=item.suggested_label_id).first()
    relabel_image(image=item.image, attribute=neckline, label=other, actor=data_scientist)
    third = finished_run(neckline, wrong=wrong)
    back = ReviewItem.objects.get(run=third, image_id=item.image_id)
    page.goto(REVIEW)
    expect(page.locator("h1")).to_contain_text(f"run #{third.pk}")
    expect(page.locator(f"#queue #item-{back.pk}")).to_contain_text("no votes yet")


def test_a_gold_item_scores_a_reviewer(neckline, wrong, data_scientist, merchandiser, open_as):
    finished_run(neckline, wrong=wrong)
    image = Image.objects.filter(dataset=neckline.dataset).exclude(pk__in=wrong).first()
    answer = Label.objects.filter(attribute=neckline).order_by("id").first()
    page = open_as(data_scientist, REVIEW)
    form = page.locator("#gold-form")
    form.locator("input[name=image]").fill(str(image.pk))
    form.locator("select[name=answer]").select_option(str(answer.pk))
    form.get_by_role("button", name="Mark gold").click()
    expect(page.locator("#gold-items")).to_contain_text(answer.name)
    gold = GoldItem.objects.get(image=image)

    reviewer = open_as(merchandiser, REVIEW)
    tile = reviewer.locator(f"#item-g{gold.pk}")
    expect(reviewer.locator("#queue article.tile.review")).to_have_count(3)
    expect(tile).to_contain_text("no votes yet")
    wrong_answer = Label.objects.filter(attribute=neckline).exclude(pk=answer.pk).first()
    tile.locator("select[name=label]").select_option(str(wrong_answer.pk))
    tile.get_by_role("button", name="Vote", exact=True).click()
    expect(reviewer.locator(f"#item-g{gold.pk}")).to_contain_text(f"You voted {wrong_answer.name}")

    careful = User.objects.create_user(username="rory_reviewer", password="x")
    careful.groups.add(ensure_role_groups()["merchandiser"])
    answer_gold(gold=gold, label=answer, reviewer=careful)

    page.goto(AGREEMENT)
    rows = page.locator("#gold tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(merchandiser.username)  # worst first
    expect(rows.nth(0)).to_contain_text("0%")
    expect(rows.nth(1)).to_contain_text("rory_reviewer")
    expect(rows.nth(1)).to_contain_text("100%")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "review-gold")
