"""A promoted run with a real (tiny, untrained) model stored through mlcore.store, for the
classify API and page: loading and predicting are what is under test, not training."""

from __future__ import annotations

import io

import torch
from PIL import Image as PILImage

from curation.artifacts import models_destination
from curation.models import Attribute, PromotedModel, SimilarityIndex, TrainingRun
from curation.storage import s3_options
from tests.support.runs import finished_run
from tests.support.tiny_nets import tiny_localizer_config

TINY = {"arch": "resnet18", "image_size": 16, "width": 8, "small_stem": True}


def promote_tiny_model(attribute: Attribute, *, temperature: float = 1.0, seed: int = 0):
    """finished_run(attribute) with a stored tiny ResNet and a fitted temperature, promoted."""
    from mlcore.config import TrainConfig
    from mlcore.models import build_model
    from mlcore.store import save_model

    run = finished_run(attribute, seed=seed)
    config = TrainConfig(**TINY)
    torch.manual_seed(seed)
    model = build_model(config, len(run.label_names), load_weights=False)
    run.artifact_uri = save_model(
        models_destination(),
        name=f"run-{run.pk}",
        model=model,
        label_names=run.label_names,
        config=config,
        s3=s3_options(),
    )
    run.config = config.to_dict()
    run.metrics = {"calibration": {"temperature": temperature}}
    run.save(update_fields=["artifact_uri", "config", "metrics"])
    PromotedModel.objects.update_or_create(attribute=attribute, defaults={"run": run})
    return run


def photo_bytes(fmt: str = "PNG", *, size=(40, 60), colour=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def give_a_localizer(dataset, tmp_path) -> TrainingRun:
    """A similarity run with a real dress localizer (one epoch on 16 generated photos) behind
    a ready index of `dataset`: what the similarity search crops uploads with."""
    from mlcore.similarity.localize import fit_localizer

    items = []
    for i in range(16):
        path = tmp_path / "boxes" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo = PILImage.new("RGB", (64, 64), (240, 240, 240))
        photo.paste((30 + 10 * i, 40, 160), (8 + i, 10, 40 + i, 60))
        photo.save(path)
        items.append((str(path), (8.0 + i, 10.0, 40.0 + i, 60.0)))
    config = tiny_localizer_config(epochs=1)
    out = tmp_path / "localizer"
    fit_localizer(config, items, out_dir=out)
    run = TrainingRun.objects.create(
        dataset=dataset,
        kind=TrainingRun.Kind.SIMILARITY,
        config={},
        label_names=[],
        status=TrainingRun.Status.SUCCEEDED,
        metrics={"localizer": {"uri": str(out / "checkpoint.pt")}},
    )
    SimilarityIndex.objects.create(
        dataset=dataset, run=run, embedder="triplet", status=SimilarityIndex.Status.READY
    )
    return run
