"""A promoted run with out-of-sample training predictions and scored new arrivals, written
straight into the database (the scoring job that writes ImageScore rows in the product is
tested on its own), for the auto-accept service and page tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
from django.utils import timezone

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageScore,
    Label,
    LabelSource,
    Product,
    PromotedModel,
    RunImage,
    TrainingRun,
)
from mlcore.eval.calibration import calibrate

NAMES = ["round", "v-neck"]


@dataclass
class Shop:
    dataset: Dataset
    attribute: Attribute
    labels: dict[str, Label]
    run: TrainingRun
    arrivals: dict[str, list[int]] = field(default_factory=dict)  # kind -> image ids


def _images(dataset: Dataset, prefix: str, n: int, *, split: str = "train") -> list[Image]:
    products = Product.objects.bulk_create(
        [Product(dataset=dataset, key=f"{prefix}-{i}", split=split) for i in range(n)]
    )
    return Image.objects.bulk_create(
        [
            Image(
                dataset=dataset,
                product=product,
                split=split,
                source_path=f"{prefix}/{i}.jpg",
                sha256=hashlib.sha256(f"{prefix}/{i}".encode()).hexdigest(),
            )
            for i, product in enumerate(products)
        ]
    )


def two_class_probs(label: int, confidence: float) -> list[float]:
    return [confidence, 1 - confidence] if label == 0 else [1 - confidence, confidence]


def default_held_out() -> list[tuple[str, float, str]]:
    """(predicted, confidence, given) for 600 out-of-sample rows: 300 predicted round at
    confidence 0.90–0.99, all right (a 0.9 target passes at 0.90, the lowest); 300 predicted
    v-neck, a third of them given round (no threshold reaches 0.9)."""
    rows = []
    for i in range(600):
        predicted = 0 if i < 300 else 1
        given = predicted if predicted == 0 or i % 3 else 0
        rows.append((NAMES[predicted], 0.9 + 0.09 * (i % 300) / 299, NAMES[given]))
    return rows


def scored_shop(
    *,
    held_out: list[tuple[str, float, str]] | None = None,
    arrivals: dict[str, list[tuple[str, float]]] | None = None,
) -> Shop:
    """A dataset `shop`, attribute `neckline` (round, v-neck) and a promoted run.

    held_out: the run's out-of-sample training rows as (predicted, confidence, given);
    default_held_out() when None, [] for a run trained without cross-fitting.
    arrivals: kind -> [(predicted label name, confidence)], each an unlabelled usable image
    with an ImageScore from the run."""
    held_out = default_held_out() if held_out is None else held_out
    dataset = Dataset.objects.create(name="shop")
    attribute = Attribute.objects.create(dataset=dataset, name="neckline")
    labels = {
        name: Label.objects.create(attribute=attribute, name=name, position=i)
        for i, name in enumerate(NAMES)
    }
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=attribute,
        config={"arch": "resnet18", "cv_folds": 3},
        label_names=NAMES,
        status=TrainingRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
    )
    train = _images(dataset, "train", len(held_out))
    rows = [
        RunImage(
            run=run,
            image=image,
            split="train",
            given_label=labels[given],
            predicted_label=labels[predicted],
            confidence=confidence,
            probs=two_class_probs(NAMES.index(predicted), confidence),
            out_of_sample=True,
        )
        for image, (predicted, confidence, given) in zip(train, held_out, strict=True)
    ]
    Annotation.objects.bulk_create(
        [
            Annotation(
                image=row.image,
                attribute=attribute,
                label=row.given_label,
                last_source=LabelSource.IMPORT,
            )
            for row in rows
        ]
    )
    RunImage.objects.bulk_create(rows)
    # T = 1 kept on the run, so the stored probabilities are what auto-accept reads.
    nothing = calibrate(
        fit_probs=np.zeros((0, 2)),
        fit_labels=np.zeros(0, dtype=int),
        test_probs=np.zeros((0, 2)),
        test_labels=np.zeros(0, dtype=int),
    )
    calibration = replace(nothing, fitted_on=len(rows))  # as if T = 1 had been fitted
    run.metrics = {"accuracy": 0.9, "calibration": calibration.to_dict()}
    run.train_count = len(rows)
    run.save(update_fields=["metrics", "train_count"])
    PromotedModel.objects.create(attribute=attribute, run=run)
    shop = Shop(dataset, attribute, labels, run)
    for kind, scores in (arrivals or {}).items():
        images = _images(dataset, kind, len(scores))
        ImageScore.objects.bulk_create(
            [
                ImageScore(
                    run=run,
                    image=image,
                    attribute=attribute,
                    probs=two_class_probs(NAMES.index(name), confidence),
                    predicted_label=labels[name],
                    confidence=confidence,
                )
                for image, (name, confidence) in zip(images, scores, strict=True)
            ]
        )
        shop.arrivals[kind] = [image.pk for image in images]
    return shop
