"""A weak run's page in Chromium: the notice with its figures, and Promote held back until
the confirmation box is ticked (BROWSER_SCREENSHOTS keeps a picture of the page)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Annotation, PromotedModel
from mlcore.config import TrainConfig
from mlcore.eval.strength import model_strength
from tests.support.browser import screenshot
from tests.support.runs import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_promote_of_a_weak_run_waits_for_the_confirmation(imported, data_scientist, open_as):
    neckline = imported.attributes.get(name="neckline")
    first = Annotation.objects.filter(attribute=neckline).order_by("image_id").first()
    run = finished_run(neckline, wrong={first.image_id})
    strength = model_strength(correct=43, supports=[60, 60, 60], names=run.label_names)
    run.strength = strength.to_dict()
    run.config = TrainConfig(arch="resnet18").to_dict()
    run.save(update_fields=["strength", "config"])

    page = open_as(data_scientist, run.get_absolute_url())
    page.set_viewport_size({"width": 1280, "height": 800})

    expect(page.locator("#weak-model")).to_contain_text("test accuracy 23.9%")
    screenshot(page, "weak-run")
    page.get_by_role("button", name="Promote to current model").click()
    assert not PromotedModel.objects.exists()  # the browser holds the form: box unticked
    page.get_by_label("I know this run is weak: promote it anyway").check()
    page.get_by_role("button", name="Promote to current model").click()
    expect(page.locator(".flash").first).to_contain_text("is now the current model")
    assert PromotedModel.objects.get().run_id == run.pk
