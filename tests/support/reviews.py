"""A review queue with a planted bad reviewer, for the agreement query and page tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User

from curation.models import Dataset, Image, Label, ReviewItem, TrainingRun
from curation.roles import ensure_role_groups
from curation.services.imports import import_catalog
from curation.services.reviews import cast_vote
from tests.support.catalogs import write_manifest, write_png
from tests.support.runs import finished_run

GOOD = ("rita", "remy", "rosa")
BAD = "bob"


@dataclass
class PlantedCrowd:
    run: TrainingRun
    truth: dict[int, int]  # review item id -> true label id (the model's suggestion)
    planted: list[int]  # items decided wrongly: bob and a slipping good reviewer agreed


def planted_crowd(root: Path, *, images: int = 30, planted: int = 3) -> PlantedCrowd:
    """A run whose model is right and every given label wrong (so every image is queued),
    voted on by three careful reviewers and one (bob) who votes at random, first on each
    item. On the first `planted` items bob names the given label and the first careful
    reviewer slips and names it too: two of two agree, so the rule decides it wrongly."""
    labels = ["round", "v-neck", "boat"]
    rows = []
    for i in range(images):
        write_png(root / "img" / f"{i}.png", colour=(8 * i, 255 - 8 * i, (40 * i) % 256))
        rows.append([f"img/{i}.png", f"sku-{i}", "train" if i % 3 else "test", labels[i % 3]])
    write_manifest(root, ["path", "product", "split", "neckline"], rows)
    report = import_catalog(str(root), dataset_name="crowd", create=True)
    assert report.created == images, report.to_dict()
    dataset = Dataset.objects.get(name="crowd")
    attribute = dataset.attributes.get(name="neckline")
    ids = set(Image.objects.filter(dataset=dataset).values_list("pk", flat=True))
    run = finished_run(attribute, wrong=ids)

    group = ensure_role_groups()["merchandiser"]
    users = {}
    for name in (*GOOD, BAD):
        users[name] = User.objects.create_user(username=name, password="x")
        users[name].groups.add(group)
    choices = list(Label.objects.filter(attribute=attribute))
    rng = random.Random(7)
    items = list(ReviewItem.objects.filter(run=run).order_by("rank"))
    assert len(items) == images
    truth = {}
    for n, item in enumerate(items):
        truth[item.pk] = item.suggested_label_id
        careful = [users[name] for name in rng.sample(GOOD, 3)]
        if n < planted:
            cast_vote(item=item, label=item.given_label, reviewer=users[BAD])
            cast_vote(item=item, label=item.given_label, reviewer=careful[0])
            continue
        cast_vote(item=item, label=rng.choice(choices), reviewer=users[BAD])
        for reviewer in careful:
            item = cast_vote(item=item, label=item.suggested_label, reviewer=reviewer)
            if item.status == ReviewItem.Status.DECIDED:
                break
    return PlantedCrowd(run, truth, [i.pk for i in items[:planted]])
