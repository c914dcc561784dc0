"""For scoring tests and bench/score.py: a promoted model without minutes of training (a
tiny, untrained but real mlcore model saved where runs save theirs, on a run written
straight into the database), and a folder of new, unlabelled arrivals."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image as PILImage

from curation.artifacts import models_destination
from curation.models import Attribute, PromotedModel, TrainingRun
from curation.storage import s3_options
from tests.support.catalogs import write_manifest
from tests.support.runs import finished_run

TINY_MODEL = {"arch": "resnet18", "image_size": 16, "width": 8, "small_stem": True}


def promote_tiny_model(attribute: Attribute, *, actor=None, **config) -> TrainingRun:
    """A succeeded run over the attribute's labelled images (rows from finished_run) with a
    real saved model of TINY_MODEL (random weights, seeded), made the promoted model
    directly, so no scoring job is queued by the promotion."""
    import torch

    from mlcore.config import TrainConfig
    from mlcore.models import build_model
    from mlcore.store import save_model

    run = finished_run(attribute, actor=actor)
    options = {**TINY_MODEL, **config}
    torch.manual_seed(0)
    train_config = TrainConfig(**options)
    model = build_model(train_config, len(run.label_names), load_weights=False)
    run.artifact_uri = save_model(
        models_destination(),
        name=f"tiny-run{run.pk}",
        model=model,
        label_names=list(run.label_names),
        config=train_config,
        s3=s3_options(),
    )
    run.config = train_config.to_dict()
    run.save(update_fields=["artifact_uri", "config"])
    PromotedModel.objects.update_or_create(attribute=attribute, defaults={"run": run})
    return run


def write_arrivals(root: Path, n: int, *, attribute: str = "colour", size: int = 16, seed=1):
    """`n` new photos (noisy reddish or bluish squares), one product each, with an empty
    `attribute` cell: new arrivals nobody has labelled."""
    rng = random.Random(seed)
    rows = []
    (root / "new").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = (200, 40, 40) if i % 2 else (40, 40, 200)
        img = PILImage.new("RGB", (size, size))
        img.putdata(
            [
                tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in base)
                for _ in range(size * size)
            ]
        )
        path = f"new/{i:05d}.png"
        img.save(root / path)
        rows.append([path, f"new-{i}", ""])
    write_manifest(root, ["path", "product", attribute], rows)
    return root
