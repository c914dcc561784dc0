"""relabel_image / revert: history for every change, optimistic concurrency, role checks."""

from __future__ import annotations

from functools import partial

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import Annotation, LabelEvent
from curation.services.labels import (
    REASON_MAX,
    BadReason,
    StaleLabel,
    clean_reason,
    relabel_image,
    relabel_images,
    revert_batch,
    revert_label_event,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def neckline(imported):
    ann = Annotation.objects.select_related("image", "attribute", "label").get(
        image__source_path="img/0.png", attribute__name="neckline"
    )
    labels = {lab.name: lab for lab in ann.attribute.labels.all()}
    return ann, labels


def test_relabel_changes_the_label_and_writes_history(neckline, merchandiser):
    ann, labels = neckline
    new, event = relabel_image(
        image=ann.image,
        attribute=ann.attribute,
        label=labels["boat"],
        actor=merchandiser,
        expected_version=1,
        note="collar is wide",
    )
    assert (new.label_id, new.version, new.last_source) == (labels["boat"].pk, 2, "manual")
    assert (event.old_label_id, event.new_label_id, event.actor_id, event.note) == (
        labels["round"].pk,
        labels["boat"].pk,
        merchandiser.pk,
        "collar is wide",
    )


def test_relabel_to_the_same_label_writes_nothing(neckline, merchandiser):
    ann, labels = neckline
    before = LabelEvent.objects.count()
    _, event = relabel_image(
        image=ann.image, attribute=ann.attribute, label=labels["round"], actor=merchandiser
    )
    assert event is None and LabelEvent.objects.count() == before


def test_a_stale_version_is_refused_with_the_current_value(neckline, merchandiser, data_scientist):
    ann, labels = neckline
    from_version_1 = partial(
        relabel_image, image=ann.image, attribute=ann.attribute, expected_version=1
    )
    from_version_1(label=labels["boat"], actor=data_scientist)
    with pytest.raises(StaleLabel) as caught:
        from_version_1(label=labels["v-neck"], actor=merchandiser)
    assert caught.value.annotation.label_id == labels["boat"].pk
    assert caught.value.annotation.version == 2


def test_a_viewer_cannot_relabel(neckline, viewer, outsider):
    ann, labels = neckline
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            relabel_image(
                image=ann.image, attribute=ann.attribute, label=labels["boat"], actor=user
            )
    assert Annotation.objects.get(pk=ann.pk).label_id == labels["round"].pk


def test_a_label_of_another_attribute_is_refused(neckline, merchandiser):
    ann, _ = neckline
    sleeve_label = ann.image.dataset.attributes.get(name="sleeve").labels.first()
    with pytest.raises(ValueError, match="not a label of 'neckline'"):
        relabel_image(
            image=ann.image, attribute=ann.attribute, label=sleeve_label, actor=merchandiser
        )


def test_revert_restores_the_old_label_as_a_new_event(neckline, merchandiser):
    ann, labels = neckline
    _, event = relabel_image(
        image=ann.image, attribute=ann.attribute, label=labels["boat"], actor=merchandiser
    )
    back = revert_label_event(event=event, actor=merchandiser)
    assert back.source == "revert" and back.reverts_id == event.pk
    assert Annotation.objects.get(pk=ann.pk).label_id == labels["round"].pk
    assert LabelEvent.objects.filter(image=ann.image).count() == 4  # 2 imports + change + revert


def test_revert_refuses_when_the_label_changed_again(neckline, merchandiser):
    ann, labels = neckline
    _, first = relabel_image(
        image=ann.image, attribute=ann.attribute, label=labels["boat"], actor=merchandiser
    )
    relabel_image(
        image=ann.image, attribute=ann.attribute, label=labels["v-neck"], actor=merchandiser
    )
    with pytest.raises(StaleLabel):
        revert_label_event(event=first, actor=merchandiser)
    assert Annotation.objects.get(pk=ann.pk).label_id == labels["v-neck"].pk


def test_a_batch_is_relabelled_and_reverted_together(imported, merchandiser):
    from curation.models import Image

    attribute = imported.attributes.get(name="neckline")
    boat = attribute.labels.get(name="boat")
    images = list(Image.objects.filter(dataset=imported))
    result = relabel_images(images=images, attribute=attribute, label=boat, actor=merchandiser)
    batch = result.batch
    assert (result.changed, result.stale) == (4, [])  # two images were already boat
    assert set(
        Annotation.objects.filter(attribute=attribute).values_list("label__name", flat=True)
    ) == {"boat"}
    reverted, problems = revert_batch(batch=batch, actor=merchandiser)
    assert (reverted, problems) == (4, [])
    names = sorted(
        Annotation.objects.filter(attribute=attribute).values_list("label__name", flat=True)
    )
    assert names == ["boat", "boat", "round", "round", "v-neck", "v-neck"]


def test_a_bulk_relabel_leaves_images_changed_since_and_says_so(imported, merchandiser):
    from curation.models import Image

    attribute = imported.attributes.get(name="neckline")
    boat = attribute.labels.get(name="boat")
    images = list(Image.objects.filter(dataset=imported).order_by("id"))
    seen = {a.image_id: a.version for a in Annotation.objects.filter(attribute=attribute)}
    # Someone else changes the first image after the page was loaded.
    current = Annotation.objects.get(image=images[0], attribute=attribute).label_id
    other = attribute.labels.exclude(pk__in=[current, boat.pk]).first()
    relabel_image(image=images[0], attribute=attribute, label=other, actor=merchandiser)
    result = relabel_images(
        images=images,
        attribute=attribute,
        label=boat,
        actor=merchandiser,
        expected_versions=seen,
        flagged_by_run_id=7,
    )
    assert len(result.stale) == 1 and images[0].source_path in result.stale[0]
    assert Annotation.objects.get(image=images[0], attribute=attribute).label_id == other.pk
    events = LabelEvent.objects.filter(batch=result.batch)
    assert events.count() == result.changed > 0
    assert set(events.values_list("flagged_by_run_id", flat=True)) == {7}


def test_a_typed_reason_is_trimmed_and_an_empty_one_is_none():
    assert clean_reason("  collar   is\nwide ") == "collar is wide"
    assert clean_reason("   ") == ""


def test_a_reason_too_long_to_keep_is_refused_not_cut():
    assert clean_reason("x" * REASON_MAX) == "x" * REASON_MAX
    with pytest.raises(
        BadReason, match=f"{REASON_MAX + 1} characters long; keep it to {REASON_MAX}"
    ):
        clean_reason("x" * (REASON_MAX + 1))
