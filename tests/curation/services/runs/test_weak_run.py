"""A real run at chance level is judged weak when it finishes and queues no suspects; photo
catalogs default to the pretrained EfficientNet-Lite0 recipe."""

from __future__ import annotations

import csv
import random

import pytest

from curation.models import Dataset, ReviewItem
from curation.queries.strength import run_strength
from curation.services.imports import import_catalog
from curation.services.runs.classifier_start import recipe, start_training_run
from curation.services.runs.execute import execute_training_run
from tests.support.training import FAST_OPTIONS, write_two_colour_catalog

pytestmark = pytest.mark.django_db


@pytest.mark.slow  # a real (tiny) run with cross-fitting: ~40 s on the shared box
def test_a_run_on_labels_unrelated_to_the_images_is_weak_and_queues_nothing(
    tmp_path, settings, data_scientist
):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    root = write_two_colour_catalog(tmp_path / "cat")
    with open(root / "labels.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rng = random.Random(3)
    for row in rows[1:]:
        row[3] = rng.choice(["warm", "cool"])  # a coin toss, whatever the colour
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    import_catalog(str(root), dataset_name="coins", create=True)
    dataset = Dataset.objects.get(name="coins")
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options=FAST_OPTIONS,
        actor=data_scientist,
    )

    assert execute_training_run(run.pk) == "succeeded"

    run.refresh_from_db()
    strength = run_strength(run)
    assert strength is not None and strength.weak, run.strength
    assert strength.n == run.test_count
    assert not ReviewItem.objects.filter(run=run).exists()


@pytest.mark.parametrize("side", [28, 64, 240, 1200])
def test_every_catalog_defaults_to_the_pretrained_lite0(side):
    options = recipe(side)
    assert (options["arch"], options["pretrained"]) == ("efficientnet_lite0", True)
    assert options["small_stem"] is (side <= 64)


def test_an_asked_for_resnet_keeps_its_own_recipe():
    assert recipe(240, "resnet18")["arch"] == "resnet18"
    assert "pretrained" not in recipe(240, "resnet18")
