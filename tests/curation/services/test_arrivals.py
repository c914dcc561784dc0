"""Accepting the promoted model's suggestions for new arrivals and labelling them by hand:
one batch per action, source model (or manual) with the run named, nothing overwritten."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import Annotation, LabelEvent, LabelSource, PromotedModel
from curation.services.arrivals import NoPromotedModel, accept_suggestions, label_arrivals
from curation.services.labels import relabel_image, revert_batch
from tests.support.arrivals import import_arrivals, label_of


def test_accepting_gives_each_image_its_suggestion_in_one_batch_naming_the_run(
    arrivals, neckline, merchandiser
):
    run, images = arrivals

    result = accept_suggestions(
        attribute=neckline, image_ids=[im.pk for im in images], actor=merchandiser
    )

    assert (result.changed, result.skipped) == (3, [])
    assert [label_of(im, neckline) for im in images] == ["round", "v-neck", "boat"]
    events = LabelEvent.objects.filter(batch=result.batch)
    assert {(e.source, e.flagged_by_run_id, e.actor_id) for e in events} == {
        (LabelSource.MODEL, run.pk, merchandiser.pk)
    }
    assert "accepted the suggestion of run" in events.first().note


def test_reverting_the_batch_empties_the_labels_again(arrivals, neckline, merchandiser):
    _, images = arrivals
    result = accept_suggestions(
        attribute=neckline, image_ids=[im.pk for im in images], actor=merchandiser
    )

    reverted, problems = revert_batch(batch=result.batch, actor=merchandiser)

    assert (reverted, problems) == (3, [])
    assert [label_of(im, neckline) for im in images] == [None, None, None]


def test_an_image_labelled_meanwhile_is_left_alone_and_named(arrivals, neckline, merchandiser):
    _, images = arrivals
    boat = neckline.labels.get(name="boat")
    relabel_image(image=images[0], attribute=neckline, label=boat, actor=merchandiser)

    result = accept_suggestions(
        attribute=neckline, image_ids=[images[0].pk, images[1].pk], actor=merchandiser
    )

    assert result.changed == 1
    assert label_of(images[0], neckline) == "boat"
    assert len(result.skipped) == 1
    assert "max_merch changed it to boat meanwhile" in result.skipped[0]


def test_a_stale_version_is_refused(arrivals, neckline, merchandiser):
    _, images = arrivals
    version = Annotation.objects.get(image=images[0], attribute=neckline).version

    result = accept_suggestions(
        attribute=neckline,
        image_ids=[images[0].pk],
        actor=merchandiser,
        expected_versions={images[0].pk: version + 1},
    )

    assert result.changed == 0 and "since you loaded the page" in result.skipped[0]
    assert label_of(images[0], neckline) is None


def test_an_image_the_run_has_not_scored_is_skipped(arrivals, neckline, merchandiser, tmp_path):
    unscored = import_arrivals("dresses", tmp_path / "later", 1, start=3)[3]

    result = accept_suggestions(attribute=neckline, image_ids=[unscored.pk], actor=merchandiser)

    assert result.changed == 0 and "has not scored it" in result.skipped[0]
    assert label_of(unscored, neckline) is None


def test_a_label_by_hand_is_manual_and_names_the_queue_run(arrivals, neckline, merchandiser):
    run, images = arrivals
    boat = neckline.labels.get(name="boat")

    result = label_arrivals(
        attribute=neckline, image_ids=[images[0].pk], label=boat, actor=merchandiser
    )

    assert result.changed == 1 and label_of(images[0], neckline) == "boat"
    event = LabelEvent.objects.get(batch=result.batch)
    assert (event.source, event.flagged_by_run_id) == (LabelSource.MANUAL, run.pk)


def test_a_viewer_cannot_accept(arrivals, neckline, viewer):
    _, images = arrivals
    with pytest.raises(PermissionDenied):
        accept_suggestions(attribute=neckline, image_ids=[images[0].pk], actor=viewer)
    assert label_of(images[0], neckline) is None


def test_without_a_promoted_model_there_is_nothing_to_accept(arrivals, neckline, merchandiser):
    _, images = arrivals
    PromotedModel.objects.filter(attribute=neckline).delete()
    with pytest.raises(NoPromotedModel, match="promote a finished run"):
        accept_suggestions(attribute=neckline, image_ids=[images[0].pk], actor=merchandiser)
