"""A finished classifier run written straight into the database, for page tests that need
predictions but not the minutes a real training run takes
(tests/curation/services/runs/test_classifier.py covers real runs end to end)."""

from __future__ import annotations

import random

from django.utils import timezone

from curation.models import Attribute, Image, Label, RunImage, TrainingRun
from curation.services.aggregates import mark_errors, refresh_run_aggregates
from curation.services.reviews import queue_suspects


def finished_run(
    attribute: Attribute,
    *,
    wrong: set[int] = frozenset(),  # image ids the model gets wrong
    seed: int = 0,
    actor=None,
) -> TrainingRun:
    """A succeeded run over every labelled image of the attribute: correct predictions with
    high confidence, except for `wrong` images, predicted as the next label; those are also
    the top suspects (rank in image id order)."""
    rng = random.Random(seed)
    labels = list(Label.objects.filter(attribute=attribute).order_by("position", "id"))
    names = [lab.name for lab in labels]
    at = {lab.pk: i for i, lab in enumerate(labels)}
    run = TrainingRun.objects.create(
        dataset_id=attribute.dataset_id,
        attribute=attribute,
        config={"arch": "resnet18"},
        label_names=names,
        status=TrainingRun.Status.SUCCEEDED,
        created_by=actor,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    images = Image.objects.filter(dataset_id=attribute.dataset_id, status="ok").order_by("id")
    rows = []
    rank = 0
    for image in images.prefetch_related("annotations"):
        given = next(
            (a.label_id for a in image.annotations.all() if a.attribute_id == attribute.pk), None
        )
        if given is None:
            continue
        g = at[given]
        p = (g + 1) % len(labels) if image.pk in wrong else g
        conf = rng.uniform(0.6, 0.99)
        probs = [(1 - conf) / (len(labels) - 1)] * len(labels)
        probs[p] = conf
        is_wrong = image.pk in wrong
        rank += is_wrong
        rows.append(
            RunImage(
                run=run,
                image=image,
                split=image.split,
                given_label_id=given,
                predicted_label_id=labels[p].pk,
                confidence=conf,
                given_probability=probs[g],
                probs=probs,
                out_of_sample=image.split == "train",
                quality=probs[g],
                suspect_rank=rank if is_wrong else None,
            )
        )
    RunImage.objects.bulk_create(rows)
    run.train_count = sum(r.split == "train" for r in rows)
    run.test_count = len(rows) - run.train_count
    run.save(update_fields=["train_count", "test_count"])
    mark_errors(run)
    refresh_run_aggregates(run)
    queue_suspects(run=run)
    return run


def review_a_little(run: TrainingRun, *, merchandiser, expert) -> None:
    """What people do after a run from finished_run with one wrong test image and one wrong
    training image: the test mistake is fixed by hand (the model was right), the training
    suspect is kept in review by an expert, and another training label is changed and put
    back. Three images reviewed (2 train, 1 test); one label changed (test)."""
    from curation.models import ReviewItem
    from curation.services.labels import relabel_image, revert_label_event
    from curation.services.reviews import cast_vote

    attribute = run.attribute
    assert attribute is not None
    test_wrong = RunImage.objects.select_related("image", "predicted_label").get(
        run=run, split="test", is_error=True
    )
    relabel_image(
        image=test_wrong.image,
        attribute=attribute,
        label=test_wrong.predicted_label,
        actor=merchandiser,
    )
    kept = ReviewItem.objects.select_related("given_label").get(run=run, image__split="train")
    cast_vote(item=kept, label=kept.given_label, reviewer=expert)
    other = (
        Image.objects.filter(dataset_id=attribute.dataset_id, split="train")
        .exclude(pk=kept.image_id)
        .order_by("id")
        .first()
    )
    assert other is not None
    label = (
        Label.objects.filter(attribute=attribute)
        .exclude(pk__in=other.annotations.filter(attribute=attribute).values("label_id"))
        .first()
    )
    _, event = relabel_image(image=other, attribute=attribute, label=label, actor=merchandiser)
    assert event is not None
    revert_label_event(event=event, actor=merchandiser)


def first_images(attribute: Attribute, n: int) -> set[int]:
    """Ids of the first `n` images of the attribute's dataset, in id order (a run's `wrong`)."""
    ids = sorted(Image.objects.filter(dataset_id=attribute.dataset_id).values_list("pk", flat=True))
    return set(ids[:n])
