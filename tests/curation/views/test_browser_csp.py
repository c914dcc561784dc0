"""The Content-Security-Policy in a real browser: Chromium visits the main pages, the admin and
the browsable API with the policy on and reports no violation (each one is caught twice: a
`securitypolicyviolation` listener added before any page script, and Chromium's own console
message); the sizes the markup no longer sets inline are still set, by static/js, through the
CSSOM."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from curation.models import Image, ImportJob
from curation.services.boxes import save_box
from tests.support.pages import catalog_zip_job, main_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " +
    (e.sourceFile || location.pathname) + ":" + e.lineNumber + " " + (e.sample || ""));
}, true);
"""


def _watch(page) -> list[str]:
    """Console messages about the policy, from now on; the listener for every later page."""
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.add_init_script(LISTEN)
    return console


def test_the_main_pages_load_with_no_policy_violation(imported, data_scientist, open_as):
    pages = main_pages(imported, actor=data_scientist)
    page = open_as(data_scientist, "/")
    console = _watch(page)
    violations = {}
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, (name, path)
        assert "script-src 'self'" in response.headers["content-security-policy"], name
        page.wait_for_load_state("load")
        # htmx has started (it reads its config on DOMContentLoaded): a violation of its
        # own, such as an injected <style>, would be in by now.
        page.wait_for_function("() => window.htmx && htmx.config.includeIndicatorStyles === false")
        found = page.evaluate("() => window.__csp")
        if found:
            violations[name] = found
    assert violations == {} and console == []


def test_the_admin_and_the_browsable_api_load_with_no_policy_violation(imported, open_as):
    admin = User.objects.create_superuser("root", password="root-password")
    image = Image.objects.filter(dataset=imported).first()
    page = open_as(admin, "/admin/")
    console = _watch(page)
    violations = {}
    for path in (
        "/admin/",
        "/admin/curation/image/",
        f"/admin/curation/image/{image.pk}/change/",
        "/admin/auth/user/add/",
        "/api/datasets/",
    ):
        assert page.goto(path).status == 200, path
        page.wait_for_load_state("load")
        found = page.evaluate("() => window.__csp")
        if found:
            violations[path] = found
    assert violations == {} and console == []


def test_bars_get_their_width_from_the_script(imported, data_scientist, open_as):
    pages = main_pages(imported, actor=data_scientist)
    page = open_as(data_scientist, pages["dataset page"])
    bar = page.locator(".bar > span[data-width]").first
    expect(bar).to_be_attached()
    wanted = float(bar.get_attribute("data-width"))
    assert wanted > 0
    assert float(bar.evaluate("el => el.style.width").rstrip("%")) == pytest.approx(wanted)
    assert bar.evaluate("el => el.getBoundingClientRect().width") > 0
    page.goto(pages["quality dashboard"])
    expect(page.locator("td.diag[class*='heat-']").first).to_be_visible()
    tint = page.locator("td.diag[class*='heat-']").first.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert tint.startswith("rgba(124, 58, 237"), tint


def test_a_polled_progress_bar_keeps_its_width_across_swaps(imported, data_scientist, open_as):
    """The swapped-in bar gets its width in the swap's own task: measured as htmx settles, it
    is already full width, not restarting from 0 through its CSS transition."""
    job = catalog_zip_job(imported, actor=data_scientist, status=ImportJob.Status.RUNNING, done=3)
    page = open_as(data_scientist, "/")
    page.add_init_script(
        """window.__settled = [];
        document.addEventListener("htmx:afterSettle", function () {
          const bar = document.querySelector("#progress .progress");
          const fill = bar.querySelector("span").getBoundingClientRect().width;
          window.__settled.push(fill / bar.getBoundingClientRect().width);
        });"""
    )
    page.goto(f"/import/{job.pk}/")
    page.wait_for_function("() => window.__settled.length >= 2")
    shares = page.evaluate("() => window.__settled")
    assert shares[:2] == [pytest.approx(0.5, abs=0.02)] * 2


def test_the_box_editor_places_the_saved_box_over_the_image(imported, data_scientist, open_as):
    pages = main_pages(imported, actor=data_scientist)
    image = Image.objects.filter(dataset=imported).order_by("id").first()
    save_box(image=image, box=(0.1, 0.2, 0.6, 0.9), actor=data_scientist)
    page = open_as(data_scientist, pages["box editor"])
    stage = page.locator("[data-box-stage]")
    expect(stage).to_have_attribute("data-width-px", re.compile(r"^\d+$"))
    wanted_px = float(stage.get_attribute("data-width-px"))
    # Measure once the photo has loaded: before that it has no height to place the box on.
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-box-stage] img');"
        " return i && i.complete && i.naturalHeight > 0 && i.getBoundingClientRect().height > 0; }"
    )
    img = stage.locator("img").bounding_box()
    assert img["width"] == pytest.approx(wanted_px, abs=1)
    box = stage.locator(".box.current").bounding_box()
    assert box["x"] - img["x"] == pytest.approx(0.1 * img["width"], abs=1.5)
    assert box["y"] - img["y"] == pytest.approx(0.2 * img["height"], abs=1.5)
    assert box["width"] == pytest.approx(0.5 * img["width"], abs=1.5)
    assert box["height"] == pytest.approx(0.7 * img["height"], abs=1.5)


def test_the_watch_catches_a_violation(imported, viewer, open_as):
    """The check above could fail: markup with a style attribute, parsed into the page,
    is refused and reported."""
    page = open_as(viewer, "/")
    _watch(page)
    page.goto("/")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            """() => document.body.insertAdjacentHTML(
                'beforeend', '<p id="planted" style="color: rgb(255, 0, 0)">x</p>')"""
        )
    page.wait_for_function("() => window.__csp.length > 0")
    assert "style-src" in page.evaluate("() => window.__csp")[0]
    expect(page.locator("#planted")).not_to_have_css("color", "rgb(255, 0, 0)")
