"""Honest runs in Chromium: the retrain form's estimate follows the options, a double click
starts one run behind a spinner, and the run page's ETA never reads 0 before the last phase.

BROWSER_SCREENSHOTS=docs/screenshots keeps retrain-estimate.png and run-eta.png (1280x800).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

from curation.models import Dataset, TrainingRun
from curation.services.imports import import_catalog
from curation.services.runs import control
from curation.services.runs.execute import execute_training_run
from tests.support.training import write_two_colour_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
RETRAIN = "/datasets/colours/attributes/colour/retrain/"
RECORD = """() => {
  window.__seen = [];
  const note = () => {
    const p = document.querySelector("#run-progress p");
    const last = window.__seen[window.__seen.length - 1];
    if (p && last !== p.innerText) window.__seen.push(p.innerText);
  };
  note();
  const what = {childList: true, subtree: true, characterData: true};
  new MutationObserver(note).observe(document.body, what);
}"""


def _shot(page, name: str) -> None:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _run_in_background(run_id: int) -> tuple[threading.Thread, list[str]]:
    """The worker's part, in a thread of this process (the test's SQLite file is shared)."""
    outcome: list[str] = []

    def work() -> None:
        try:
            outcome.append(execute_training_run(run_id))
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.slow  # a real run in the page: minutes on the loaded box
def test_the_form_estimates_and_the_run_page_keeps_an_eta_until_the_last_phase(
    tmp_path, settings, data_scientist, open_as, monkeypatch
):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    attribute = Dataset.objects.get(name="colours").attributes.get(name="colour")
    measured = TrainingRun.objects.create(
        dataset_id=attribute.dataset_id,
        attribute=attribute,
        config={"arch": "resnet18", "image_size": 16},
        label_names=["red", "blue"],
        status=TrainingRun.Status.SUCCEEDED,
        progress={"phase": "done", "units_per_s": 30.0},
    )
    queued: list[int] = []  # no worker process: the test runs the task itself
    monkeypatch.setattr(control.queue, "enqueue", lambda task, run_id, **kw: queued.append(run_id))

    page = open_as(data_scientist, RETRAIN)
    # A slow server, played by a form that never leaves: the button greys, the spinner turns.
    page.evaluate(
        "document.querySelector('form[data-guard]')"
        ".addEventListener('submit', e => e.preventDefault())"
    )
    button = page.get_by_role("button", name="Start training")
    button.click()
    expect(button).to_be_disabled()
    expect(page.get_by_role("status")).to_be_visible()

    page.reload()  # a fresh form: another key, the button back
    page.get_by_label("Arch").select_option("resnet18")
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Folds for out-of-sample probabilities").fill("2")
    page.get_by_label("Epochs per fold").fill("1")
    page.get_by_label("Epochs per fold").blur()  # a field's change event: what the card follows
    estimate = page.locator("#run-estimate")
    expect(estimate).to_contain_text(f"#{measured.pk}")
    expect(estimate).to_contain_text("2 folds × 1 epochs")
    page.get_by_label("Epochs per fold").fill("3")
    page.get_by_label("Epochs per fold").blur()
    expect(estimate).to_contain_text("2 folds × 3 epochs")  # swapped in, no reload
    _shot(page, "retrain-estimate")

    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.get_by_role("button", name="Start training").dblclick()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    run = TrainingRun.objects.exclude(pk=measured.pk).get()  # one run for the double click
    assert queued == [run.pk] and len(posts) == 1

    page.evaluate(RECORD)
    thread, outcome = _run_in_background(run.pk)
    progress = page.locator("#run-progress")
    expect(progress).to_contain_text(
        re.compile(r"phase \d of 4: (training|evaluating|cross-fitting)")
    )
    expect(progress).to_contain_text(re.compile(r"ETA \d"))
    _shot(page, "run-eta")
    expect(progress.locator("strong")).to_have_text("succeeded", timeout=180_000)
    thread.join(timeout=60)
    assert outcome == ["succeeded"]

    seen = page.evaluate("window.__seen")
    timed = [text for text in seen if "ETA" in text]
    assert timed, seen
    early = [text for text in timed if "scoring" not in text]
    assert early and not [text for text in early if re.search(r"ETA 0s", text)], timed
