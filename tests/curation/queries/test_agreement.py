"""Reviewer agreement of a run: CROWDLAB consensus and reviewer quality on a planted bad
reviewer, and the kappas with what they cover."""

from __future__ import annotations

import pytest

from curation.models import ReviewItem, RunImage
from curation.queries.agreement import run_agreement
from tests.support.reviews import BAD, GOOD, planted_crowd

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(tmp_path):
    return planted_crowd(tmp_path / "crowd")


def test_the_reviewer_who_votes_at_random_comes_first_with_the_lowest_quality(crowd):
    agreement = run_agreement(crowd.run)

    names = [r.name for r in agreement.reviewers]
    assert names[0] == BAD and set(names[1:]) == set(GOOD)
    bob, *careful = agreement.reviewers
    assert bob.quality < min(r.quality for r in careful)
    assert bob.weight < min(r.weight for r in careful)
    assert bob.votes == len(crowd.truth)


def test_consensus_recovers_the_true_label_where_the_rule_decided_wrongly(crowd):
    agreement = run_agreement(crowd.run)

    consensus = agreement.consensus
    assert consensus is not None and len(consensus.items) == len(crowd.truth)
    by_item = {c.item.pk: c for c in consensus.items}
    for item_id in crowd.planted:
        row = by_item[item_id]
        assert row.item.case.decided_label_id != crowd.truth[item_id]  # the rule was fooled
        assert row.label_id == crowd.truth[item_id] and row.doubts_decision
        assert row.agreement == 0.0  # no vote named it: the run's probabilities did
    assert consensus.doubted == len(crowd.planted)
    assert [c.quality for c in consensus.items] == sorted(c.quality for c in consensus.items)
    assert all(c.label_id == crowd.truth[c.item.pk] for c in consensus.items)


def test_kappas_say_what_they_cover(crowd):
    agreement = run_agreement(crowd.run)

    assert agreement.fleiss.raters == 2  # the rule's review_agree
    assert agreement.fleiss.items == len(crowd.truth) and agreement.fleiss.left_out == 0
    assert agreement.fleiss.kappa is not None and agreement.fleiss.kappa < 0.5
    for pair in agreement.pairs:
        if BAD in (pair.a, pair.b):
            assert pair.kappa < 0.2 and pair.items > 0
        else:
            assert pair.agree == 1.0 and pair.kappa == pytest.approx(1.0)
    assert len(agreement.pairs) == 6


def test_items_without_the_runs_probabilities_are_left_out_and_counted(crowd):
    image_id = ReviewItem.objects.get(pk=crowd.planted[0]).image_id
    RunImage.objects.filter(run=crowd.run, image_id=image_id).update(probs=None)

    consensus = run_agreement(crowd.run).consensus

    assert consensus.left_out_items == 1 and len(consensus.items) == len(crowd.truth) - 1


def test_too_few_votes_say_why_there_is_no_consensus(imported, merchandiser):
    from curation.services.reviews import cast_vote
    from tests.support.runs import finished_run

    neckline = imported.attributes.get(name="neckline")
    run = finished_run(neckline, wrong=set(imported.images.values_list("pk", flat=True)[:2]))
    assert run_agreement(run).consensus_problem == "needs votes"
    item = ReviewItem.objects.filter(run=run).first()
    cast_vote(item=item, label=item.given_label, reviewer=merchandiser)

    agreement = run_agreement(run)

    assert agreement.consensus is None and agreement.fleiss.items == 0
    assert agreement.consensus_problem == "needs votes from at least 2 reviewers"
