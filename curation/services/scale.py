"""A large synthetic catalog straight into the database, for load tests and benchmarks:
products, images (rows only, no files), labels with import history, a finished run with
predictions for every image, its aggregates and review queue, and some manual relabels.

PostgreSQL gets the rows by COPY (about a minute per million images on 2 cores); other
databases by batched INSERTs (fine for a few thousand). Marked synthetic wherever it shows.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import cast

import numpy as np
from django.contrib.auth.models import User
from django.db import connection, models, transaction
from django.utils import timezone

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    Label,
    LabelEvent,
    LabelSource,
    Product,
    PromotedModel,
    RunImage,
    TrainingRun,
)
from curation.services.aggregates import refresh_run_aggregates
from curation.services.reviews import queue_suspects
from mlcore.eval.metrics import metrics_from_confusion

ATTRIBUTES = {
    "neckline": [
        "round",
        "v-neck",
        "boat",
        "square",
        "halter",
        "sweetheart",
        "off-shoulder",
        "high",
    ],
    "silhouette": ["a-line", "sheath", "fit-and-flare", "shift", "wrap", "maxi"],
}
PHOTOS_PER_PRODUCT = 4
MODEL_ACCURACY = 0.88
CHUNK = 50_000


class ScaleError(Exception):
    pass


def _field(model: type[models.Model], name: str) -> models.Field:
    return cast(models.Field, model._meta.get_field(name))


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    return [_field(model, n).column for n in names]


def _write(model: type[models.Model], rows: Iterable[dict[str, object]]) -> int:
    """Insert rows, each {field name: value} with the first row's names; COPY on PostgreSQL."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    names = list(first)
    values = ([row[n] for n in names] for row in itertools.chain([first], rows))
    table, cols = model._meta.db_table, _columns(model, names)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
                    count += 1
        else:
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
            )
            fields = [_field(model, n) for n in names]
            batch: list[Sequence] = []
            for row in values:
                batch.append(
                    [f.get_db_prep_value(v, connection) for f, v in zip(fields, row, strict=True)]
                )
                if len(batch) == 5000:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
    return count


def _next_id(model: type[models.Model]) -> int:
    return (model._default_manager.aggregate(m=models.Max("id"))["m"] or 0) + 1


def _fix_sequences(*tables: type[models.Model]) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in tables:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )


def seed_scale_catalog(
    *,
    images: int,
    name: str = "scale-demo",
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> Dataset:
    """Create dataset `name` with `images` images. Refuses when it exists already."""
    if images < 10:
        raise ScaleError("--images must be at least 10")
    if Dataset.objects.filter(name=name).exists():
        raise ScaleError(
            f"dataset '{name}' exists already; delete it first or pick another --dataset"
        )
    rng = np.random.default_rng(seed)
    now = timezone.now()
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name,
            title=f"Scale test catalog ({images:,} synthetic rows)",
            is_synthetic=True,
            description="Rows only, made by seed_scale for load tests: no image files behind them.",
        )
        attributes, labels = [], []
        for position, (attr_name, names) in enumerate(ATTRIBUTES.items()):
            attr = Attribute.objects.create(dataset=dataset, name=attr_name, position=position)
            attributes.append(attr)
            labels.append(
                Label.objects.bulk_create(
                    [Label(attribute=attr, name=n, position=i) for i, n in enumerate(names)]
                )
            )
        reviewers = _reviewers()

        n_products = -(-images // PHOTOS_PER_PRODUCT)
        first_product, first_image = _next_id(Product), _next_id(Image)
        product_test = rng.random(n_products) < dataset.test_fraction
        progress(f"{n_products:,} products")
        _write(
            Product,
            (
                {
                    "id": first_product + i,
                    "dataset": dataset.pk,
                    "key": f"SKU-{i:08d}",
                    "split": "test" if product_test[i] else "train",
                    "created_at": now,
                }
                for i in range(n_products)
            ),
        )
        product_of = np.arange(images) // PHOTOS_PER_PRODUCT
        image_test = product_test[product_of]
        progress(f"{images:,} images")
        _write(
            Image,
            (
                {
                    "id": first_image + i,
                    "dataset": dataset.pk,
                    "product": first_product + int(product_of[i]),
                    "split": "test" if image_test[i] else "train",
                    "source_path": f"scale/{i:08d}.jpg",
                    "sha256": f"{seed:08x}{i:056x}",
                    "file": "",
                    "thumbnail": "",
                    "width": 400,
                    "height": 600,
                    "format": "JPEG",
                    "phash": f"{(i * 2654435761) % 2**64:016x}",
                    "size_bytes": 50_000,
                    "status": "ok",
                    "quarantine_reason": "",
                    "created_at": now,
                }
                for i in range(images)
            ),
        )

        # Labels: skewed class frequencies, as real catalogs have.
        given = []
        first_ann, first_event = _next_id(Annotation), _next_id(LabelEvent)
        import_batch = uuid.uuid4()
        for a, attr in enumerate(attributes):
            k = len(labels[a])
            weights = rng.dirichlet(np.full(k, 2.0))
            choice = rng.choice(k, size=images, p=weights)
            given.append(choice)
            ids = np.array([lab.pk for lab in labels[a]])
            progress(f"{images:,} {attr.name} labels and their import history")
            base_ann, base_event = first_ann + a * images, first_event + a * images
            _write(
                Annotation,
                (
                    {
                        "id": base_ann + i,
                        "image": first_image + i,
                        "attribute": attr.pk,
                        "label": int(ids[choice[i]]),
                        "version": 1,
                        "synced_label": int(ids[choice[i]]),
                        "last_source": "import",
                        "updated_at": now,
                    }
                    for i in range(images)
                ),
            )
            _write(
                LabelEvent,
                (
                    {
                        "id": base_event + i,
                        "image": first_image + i,
                        "attribute": attr.pk,
                        "old_label": None,
                        "new_label": int(ids[choice[i]]),
                        "source": "import",
                        "note": "seed_scale",
                        "batch": import_batch,
                        "created_at": now - timedelta(days=30),
                    }
                    for i in range(images)
                ),
            )

        run = _seed_run(
            dataset, attributes[0], labels[0], given[0], first_image, image_test, rng, now
        )
        _fix_sequences(Product, Image, Annotation, LabelEvent, RunImage)
        progress("aggregates, review queue and a few manual relabels")
        refresh_run_aggregates(run)
        queue_suspects(run=run)
        PromotedModel.objects.update_or_create(attribute=attributes[0], defaults={"run": run})
        _seed_manual_history(attributes[0], labels[0], first_image, images, reviewers, rng)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (Product, Image, Annotation, LabelEvent, RunImage):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    return dataset


def _finished_run_columns(labels, given, predicted, image_test, rng) -> dict:
    """The metrics and loss curve a real run of this size leaves on its row (the curve at the
    2,000 points a run keeps), so pages that read the run carry its real weight."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (given[image_test], predicted[image_test]), 1)
    summary = metrics_from_confusion(confusion, [lab.name for lab in labels])
    x = np.linspace(0.004, 8.0, 2000)
    loss = 2.0 * np.exp(-x / 2) + 0.35 + rng.normal(0, 0.03, x.size)
    return {
        "metrics": {
            "label_names": summary.label_names,
            "n": summary.n,
            "accuracy": summary.accuracy,
            "macro_f1": summary.macro_f1,
            "weighted_f1": summary.weighted_f1,
            "per_class": [c.__dict__.copy() for c in summary.per_class],
            "confusion": confusion.tolist(),
            "cv_method": "kfold",
        },
        "loss_curve": [
            [round(float(a), 4), round(float(b), 5)] for a, b in zip(x, loss, strict=True)
        ],
    }


def _seed_run(dataset, attr, labels, given, first_image, image_test, rng, now) -> TrainingRun:
    images, k = len(given), len(labels)
    correct = rng.random(images) < MODEL_ACCURACY
    predicted = np.where(correct, given, (given + rng.integers(1, k, size=images)) % k)
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=attr,
        config={"arch": "resnet18", "epochs": 8, "synthetic": True},
        label_names=[lab.name for lab in labels],
        status=TrainingRun.Status.SUCCEEDED,
        train_count=int((~image_test).sum()),
        test_count=int(image_test.sum()),
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=1),
        progress={"phase": "done"},
        **_finished_run_columns(labels, given, predicted, image_test, rng),
    )
    confidence = np.where(correct, rng.uniform(0.55, 0.999, images), rng.uniform(0.3, 0.95, images))
    given_p = np.where(correct, confidence, (1 - confidence) * rng.uniform(0.05, 0.9, images))
    # Suspects: wrong predictions with the lowest probability for the given label first.
    wrong = np.flatnonzero(~correct)
    ranked = wrong[np.argsort(given_p[wrong], kind="stable")][: max(1, images // 100)]
    rank = np.zeros(images, dtype=np.int64)
    rank[ranked] = np.arange(1, len(ranked) + 1)
    ids = np.array([lab.pk for lab in labels])
    first = _next_id(RunImage)

    def rows():
        for i in range(images):
            probs = np.full(
                k,
                (1 - confidence[i] - (0 if correct[i] else given_p[i]))
                / max(1, k - 2 + correct[i]),
            )
            probs[given[i]] = given_p[i]
            probs[predicted[i]] = confidence[i]
            yield {
                "id": first + i,
                "run": run.pk,
                "image": first_image + i,
                "split": "test" if image_test[i] else "train",
                "given_label": int(ids[given[i]]),
                "predicted_label": int(ids[predicted[i]]),
                "confidence": float(confidence[i]),
                "given_probability": float(given_p[i]),
                "probs": json.dumps([round(float(p), 4) for p in probs]),
                "out_of_sample": not image_test[i],
                "quality": float(given_p[i]),
                "suspect_rank": int(rank[i]) or None,
                "is_error": not correct[i],
            }

    _write(RunImage, rows())
    return run


def _reviewers() -> list[User]:
    from curation.roles import ensure_role_groups

    group = ensure_role_groups()["merchandiser"]
    users = []
    for name in ("scale_merch_1", "scale_merch_2", "scale_merch_3"):
        user, created = User.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(group)
        users.append(user)
    return users


def _seed_manual_history(attr, labels, first_image, images, reviewers, rng) -> None:
    """About 0.2% of images relabelled by people, through the ordinary service."""
    from curation.services.labels import relabel_image

    picks = rng.choice(images, size=min(images, max(5, images // 500)), replace=False)
    targets = rng.integers(0, len(labels), size=len(picks))
    image_rows = Image.objects.in_bulk([first_image + int(i) for i in picks])
    for n, (i, t) in enumerate(zip(picks, targets, strict=True)):
        relabel_image(
            image=image_rows[first_image + int(i)],
            attribute=attr,
            label=labels[int(t)],
            actor=reviewers[n % len(reviewers)],
            source=LabelSource.MANUAL,
            note="seed_scale",
        )
