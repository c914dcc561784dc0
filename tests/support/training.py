"""A tiny, easy catalog and fast training options, so runs finish in seconds on a CPU."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image as PILImage

from tests.support.catalogs import write_manifest

FAST_OPTIONS = {
    "arch": "resnet18",  # a tiny ResNet from scratch: seconds, where the default Lite0 takes more
    "epochs": 2,
    "image_size": 16,
    "width": 8,
    "batch_size": 16,
    "lr": 0.05,
    "cv_folds": 2,
    "cv_epochs": 1,
    "small_stem": True,
    "label_smoothing": 0.0,
}


def write_two_colour_catalog(
    root: Path, *, per_label: int = 24, size: int = 16, seed: int = 0
) -> Path:
    """Reddish vs bluish noisy squares: 'red' / 'blue' on an attribute `colour`, two photos
    per product, a fixed third of products in test."""
    rng = random.Random(seed)
    rows = []
    for label, base in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        for i in range(per_label):
            img = PILImage.new("RGB", (size, size))
            img.putdata(
                [
                    tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in base)
                    for _ in range(size * size)
                ]
            )
            path = f"{label}/{i:03d}.png"
            (root / label).mkdir(parents=True, exist_ok=True)
            img.save(root / path)
            product = f"{label}-{i // 2}"
            rows.append([path, product, "test" if (i // 2) % 3 == 0 else "train", label])
    write_manifest(root, ["path", "product", "split", "colour"], rows)
    return root


def import_colours(tmp_path: Path):
    """The two-colour catalog imported as dataset "colours" (attribute `colour`)."""
    from curation.models import Dataset
    from curation.services.imports import import_catalog

    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    return Dataset.objects.get(name="colours")


def start_colour_run(dataset, actor, options: dict):
    """A classifier run on the `colour` attribute of an import_colours dataset, queued by
    `actor` with `options` (all of them: start from FAST_OPTIONS)."""
    from curation.services.runs.classifier_start import start_training_run

    return start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options=options,
        actor=actor,
    )


def train_colours(tmp_path: Path, settings, actor, *, epochs: int):
    """A classifier run on `colour` of import_colours(tmp_path), started by `actor` with
    FAST_OPTIONS and `epochs` and executed in this process (its files under tmp_path/runs):
    succeeded, and refreshed from the database."""
    from curation.services.runs.execute import execute_training_run

    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    run = start_colour_run(import_colours(tmp_path), actor, {**FAST_OPTIONS, "epochs": epochs})
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    return run
