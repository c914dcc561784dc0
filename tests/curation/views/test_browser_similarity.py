"""Similar-dress tools in Chromium: draw a dress box with the mouse and save it with Enter,
and answer a look-alike question with the keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Image, ImageBox, Triplet
from curation.services.demo import load_demo_catalog
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def photos(tmp_path):
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=3)
    found = list(Image.objects.order_by("pk"))
    ImageBox.objects.filter(image=found[0]).delete()
    return found


def test_a_merchandiser_draws_a_box_with_the_mouse_and_saves_it_with_enter(
    photos, merchandiser, open_as
):
    image = photos[0]
    page = open_as(merchandiser, f"/images/{image.pk}/box/")
    page.wait_for_load_state()  # the editor's script runs once the page has loaded
    stage = page.locator("[data-box-stage] img")
    r = stage.bounding_box()

    def drag(a: tuple[float, float], b: tuple[float, float]) -> None:
        page.mouse.move(r["x"] + a[0] * r["width"], r["y"] + a[1] * r["height"])
        page.mouse.down()
        page.mouse.move(r["x"] + b[0] * r["width"], r["y"] + b[1] * r["height"], steps=6)
        page.mouse.up()

    drag((0.5, 0.5), (0.9, 0.9))
    expect(page.locator(".box.drawn")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("input[name=x0]")).to_have_value("")
    expect(page.locator(".box.drawn")).to_be_hidden()
    drag((0.7, 0.8), (0.2, 0.1))  # drawn from the bottom-right corner up
    expect(page.locator("input[name=x0]")).to_have_value("0.2000")
    screenshot(page, "box-editor")
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Saved the box of image #{image.pk}.")).to_be_visible()
    box = ImageBox.objects.get(image=image)
    assert box.source == "manual" and box.updated_by_id == merchandiser.pk
    for got, want in zip((box.x0, box.y0, box.x1, box.y1), (0.2, 0.1, 0.7, 0.8), strict=True):
        assert abs(got - want) < 0.01, (got, want)
    expect(page.locator(".box.current")).to_be_visible()


def test_a_merchandiser_answers_a_look_alike_question_with_the_keyboard(
    photos, merchandiser, open_as
):
    page = open_as(merchandiser, "/datasets/synthetic-dresses/triplets/")
    page.wait_for_load_state()
    expect(page.locator("#triplet-counts")).to_contain_text("0 judgements collected")
    asked = {
        k: int(page.locator(f"#question input[name={k}]").input_value())
        for k in ("reference", "a", "b")
    }
    screenshot(page, "triplets")
    page.keyboard.press("2")  # B looks closer
    expect(page.locator("#triplet-counts")).to_contain_text("1 judgement collected")
    t = Triplet.objects.get()
    assert (t.reference_id, t.closer_id, t.farther_id) == (
        asked["reference"],
        asked["b"],
        asked["a"],
    )
    with page.expect_response(lambda r: r.request.method == "POST") as skipped:
        page.keyboard.press("s")  # a skip asks again and records nothing
    assert skipped.value.status == 200
    expect(page.locator("#triplet-counts")).to_contain_text(
        "1 judgement collected for synthetic-dresses, 1 by you"
    )
    assert Triplet.objects.count() == 1
