"""What curation bought: images reviewed, labels changed per split, the F1 change split
into relabels and model per 100 images reviewed, and the wrong labels left, on runs written
straight into the database (tests/support/runs.py)."""

from __future__ import annotations

import pytest

from curation.models import Image
from curation.queries import payoff, quality
from tests.support.runs import finished_run, review_a_little


def _ids(neckline, split: str) -> list[int]:
    return sorted(
        Image.objects.filter(dataset=neckline.dataset, split=split).values_list("pk", flat=True)
    )


@pytest.fixture
def first_run(neckline, data_scientist):
    """Run A gets one test and one training image wrong; both head its review queue."""
    wrong = {_ids(neckline, "test")[0], _ids(neckline, "train")[0]}
    return finished_run(neckline, wrong=wrong, actor=data_scientist)


@pytest.fixture
def reviewed(first_run, merchandiser, data_scientist):
    review_a_little(first_run, merchandiser=merchandiser, expert=data_scientist)


def test_it_counts_what_people_reviewed_and_changed_per_split(
    neckline, first_run, reviewed, django_assert_max_num_queries
):
    second = finished_run(neckline, wrong=set(), seed=1)
    second.metrics = {"wrong_labels": {"train": {"round": 1.5, "boat": 0.5}, "test": {"boat": 1.0}}}
    second.save(update_fields=["metrics"])

    # A fixed number, however many images were reviewed: the runs, 2 × 2 counts, the
    # comparison's labels and relabelled test rows, the wrong-labels estimate (with the
    # reviewers' answers: the relabels and the kept decisions).
    with django_assert_max_num_queries(13):
        bought = payoff.payoff(neckline)

    assert bought is not None
    assert (bought.latest.pk, bought.previous.pk) == (second.pk, first_run.pk)
    r = bought.reviewed
    assert (r.images, r.by_split) == (3, {"train": 2, "test": 1})
    assert r.changed == {"train": 0, "test": 1}
    assert r.confirmed == 2
    assert bought.waiting is not None and bought.waiting.images == 0


def test_the_f1_change_is_the_comparison_pages_split_per_100_images(neckline, first_run, reviewed):
    second = finished_run(neckline, wrong=set(), seed=1)

    bought = payoff.payoff(neckline)

    assert bought is not None and bought.change is not None
    _, expected = quality.compare(first_run, second)
    assert bought.change == expected
    assert bought.change["macro_from_relabels"] > 0  # run A looks better on today's labels
    assert bought.change["macro_from_model"] == pytest.approx(0)
    assert bought.delta_per_100 == pytest.approx(expected["macro_delta"] * 100 / 3)
    assert bought.relabels_per_100 == pytest.approx(expected["macro_from_relabels"] * 100 / 3)
    assert bought.model_per_100 == pytest.approx(expected["macro_from_model"] * 100 / 3)


def test_the_wrong_labels_left_are_the_latest_runs_estimate(neckline, first_run, reviewed):
    second = finished_run(neckline, wrong=set(), seed=1)
    second.metrics = {"wrong_labels": {"train": {"round": 1.5, "boat": 0.5}, "test": {"boat": 1.0}}}
    second.save(update_fields=["metrics"])

    bought = payoff.payoff(neckline)

    assert bought is not None and bought.wrong is not None
    assert bought.wrong.by_split == {"train": 2.0, "test": 1.0}
    assert bought.wrong.left == pytest.approx(3.0)  # nothing fixed through run B's queue yet


def test_a_first_run_has_no_change_but_counts_what_was_reviewed_since(
    neckline, first_run, reviewed
):
    bought = payoff.payoff(neckline)

    assert bought is not None
    assert bought.previous is None and bought.change is None and bought.waiting is None
    assert bought.reviewed.images == 3
    assert bought.delta_per_100 is None
    assert bought.wrong is None  # the run helper stores no estimate


def test_nothing_reviewed_gives_zeros_and_no_rate(neckline, first_run):
    finished_run(neckline, wrong=set(), seed=1)

    bought = payoff.payoff(neckline)

    assert bought is not None and bought.change is not None
    assert bought.reviewed.images == 0
    assert bought.reviewed.changed == {"train": 0, "test": 0}
    assert bought.delta_per_100 is None


def test_no_run_no_payoff(neckline):
    assert payoff.payoff(neckline) is None
