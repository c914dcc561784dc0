"""Screenshots of the main pages for the README, from a running app (make run) whose demo
catalog has a finished run. Logs in as the demo data scientist.

    .venv/bin/python docs/take_screenshots.py --url http://127.0.0.1:8000 --password PASS
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="data_scientist")
    parser.add_argument("--password", required=True)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--attribute", default="category")
    parser.add_argument("--dresses", default="synthetic-dresses")
    parser.add_argument("--pages", default="quality,gallery,review,history,similar")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    base = f"/datasets/{args.dataset}/attributes/{args.attribute}"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(base_url=args.url, viewport={"width": 1280, "height": 900})
        page.goto("/login/")
        page.fill("#id_username", args.user)
        page.fill("#id_password", args.password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()

        def shot(path: str, name: str, *, full: bool = False) -> None:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)
            print("wrote", OUT / f"{name}.png")

        wanted = set(args.pages.split(","))
        if wanted & {"quality", "gallery"}:
            shot(f"{base}/quality/", "quality", full=True)
        cell = page.locator("#confusion td:not(.diag) a").first
        href = cell.get_attribute("href") if cell.count() else None
        # The busiest off-diagonal cell makes the most telling gallery.
        counts = page.locator("#confusion td:not(.diag) a")
        best = max(
            range(counts.count()),
            key=lambda i: int(re.sub(r"\D", "", counts.nth(i).inner_text()) or 0),
            default=None,
        )
        if best is not None:
            href = counts.nth(best).get_attribute("href")
        if href and "gallery" in wanted:
            shot(href, "gallery")
        if "review" in wanted:
            shot(f"{base}/review/", "review")
        if "history" in wanted:
            shot(f"/datasets/{args.dataset}/history/", "history")
        first = page.locator("a.tile").first
        page.goto(f"/datasets/{args.dresses}/")
        page.wait_for_load_state()
        first = page.locator("#gallery-page a.tile").first
        if first.count() and "similar" in wanted:
            image_url = first.get_attribute("href")
            page.goto(image_url)
            page.wait_for_selector("#similar .tile", timeout=60_000)
            page.locator("#similar").get_by_label("attribute to change").select_option("neckline")
            page.locator("#similar").get_by_role("button", name="Search").click()
            page.wait_for_selector("#similar h2:has-text('another neckline')")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / "similar.png"), full_page=True)
            print("wrote", OUT / "similar.png")
        browser.close()


if __name__ == "__main__":
    main()
