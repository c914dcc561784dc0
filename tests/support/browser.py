"""Shared by the browser test modules: one Chromium per module through Playwright, a fresh
context per login, and optional screenshots (BROWSER_SCREENSHOTS=/some/folder)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support.services import require

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 15_000  # a ceiling, not a wait: generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def browser():
    require("Chromium", CHROMIUM.is_file(), f"{CHROMIUM} is missing (Debian package chromium)")
    expect.set_options(timeout=TIMEOUT_MS)
    # Playwright's sync API keeps an asyncio loop registered as running in this thread, which
    # trips Django's async-safety check on every ORM call made by the test itself.
    with pytest.MonkeyPatch.context() as mp, sync_playwright() as p:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_as(browser, live_server):
    """open_as(user, path) -> a page logged in through the login form, showing path."""
    contexts = []

    def open_as(user, path: str):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"/login/?next={quote(path)}")
        page.fill("#id_username", user.username)
        page.fill("#id_password", f"{user.username}-password")
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(live_server.url + path)
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"browser-{name}.png"), full_page=True)
