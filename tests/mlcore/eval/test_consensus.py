"""CROWDLAB consensus and reviewer quality on planted reviewers."""

import numpy as np
import pytest

from mlcore.eval.consensus import consensus_problem, crowd_consensus

K = 4
GOOD = (0, 1, 2)  # reviewers who vote the true label (but for the planted slips)
BAD = 3  # votes at random on every item


def planted_crowd(seed: int, n: int = 60, planted: int = 5):
    """Each item has the bad reviewer's vote and two of the three good reviewers'. On the
    first `planted` items one good reviewer slips and names the bad one's wrong label, so the
    majority (2 of 3) is wrong while the model and the other good reviewer are right."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    conf = rng.uniform(0.6, 0.95, n)
    probs = np.tile(((1 - conf) / (K - 1))[:, None], (1, K))  # (n, K)
    probs[np.arange(n), truth] = conf
    votes = np.full((n, 4), np.nan)  # (n, reviewers)
    votes[:, GOOD] = truth[:, None]
    votes[:, BAD] = rng.integers(0, K, n)
    for i in range(n):
        votes[i, rng.integers(0, 3)] = np.nan
    for i in range(planted):
        wrong = (truth[i] + 1) % K
        slipping = next(m for m in GOOD if not np.isnan(votes[i, m]))
        votes[i, [slipping, BAD]] = wrong
    return votes, probs, truth, np.arange(planted)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_reviewer_who_votes_at_random_gets_the_lowest_quality(seed):
    votes, probs, _, _ = planted_crowd(seed)

    found = crowd_consensus(votes, probs)

    assert found.reviewer_quality.argmin() == BAD
    assert found.reviewer_quality[BAD] < 0.5 < found.reviewer_quality[list(GOOD)].min()
    assert found.reviewer_weight[BAD] < 0.1 * found.reviewer_weight[list(GOOD)].min()
    assert list(found.reviewer_votes) == [int((~np.isnan(votes[:, m])).sum()) for m in range(4)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_consensus_overrules_a_wrong_majority_that_the_model_and_a_good_reviewer_contradict(
    seed,
):
    votes, probs, truth, planted = planted_crowd(seed)
    majority_is_wrong = [
        np.bincount(votes[i][~np.isnan(votes[i])].astype(int), minlength=K).argmax() != truth[i]
        for i in planted
    ]
    assert all(majority_is_wrong)

    found = crowd_consensus(votes, probs)

    assert (found.label[planted] == truth[planted]).all()
    assert found.agreement[planted] == pytest.approx(1 / 3)
    rest = np.setdiff1d(np.arange(len(truth)), planted)
    assert (found.label[rest] == truth[rest]).all()
    assert found.quality[planted].mean() < found.quality[rest].mean()


def test_agreeing_reviewers_overrule_a_confident_model():
    votes, probs, truth, _ = planted_crowd(0, planted=0)
    votes = votes[:, list(GOOD)]  # reliable reviewers only
    votes[:, :] = truth[:, None]  # every item gets all three
    votes[50:55, 2] = np.nan  # ... but these only two, and there the model is wrong
    probs[50:55] = 0.1 / (K - 1)
    probs[np.arange(50, 55), (truth[50:55] + 2) % K] = 0.9

    found = crowd_consensus(votes, probs)

    assert (found.label == truth).all()


def test_a_random_reviewer_drags_down_the_others_weights_and_hands_the_model_more_say():
    # What CROWDLAB does: a reviewer's weight is their agreement with the *other* reviewers,
    # random votes included, so a random reviewer halves the good ones' weights, and then
    # a confident model overrules two good reviewers who agree.
    votes, probs, truth, _ = planted_crowd(0, planted=0)
    votes[50:55, list(GOOD)] = truth[50:55, None]
    votes[50:55, 2] = np.nan
    probs[50:55] = 0.1 / (K - 1)
    probs[np.arange(50, 55), (truth[50:55] + 2) % K] = 0.9
    alone = crowd_consensus(votes[:, list(GOOD)], probs)

    found = crowd_consensus(votes, probs)

    assert (alone.label[50:55] == truth[50:55]).all()
    assert found.reviewer_weight[list(GOOD)].max() < 0.6 * alone.reviewer_weight.min()
    assert (found.label[50:55] != truth[50:55]).all()


def test_too_few_votes_are_named_and_refused():
    nan = np.nan
    probs = np.full((2, 2), 0.5)
    one_reviewer = np.array([[0.0], [1.0]])
    one_vote_each = np.array([[0, nan], [nan, 1]])

    assert consensus_problem(one_reviewer) == "needs votes from at least 2 reviewers"
    assert consensus_problem(one_vote_each) == "needs an item with votes from 2 reviewers or more"
    assert consensus_problem(np.array([[0, 1], [nan, 1]])) is None
    with pytest.raises(ValueError, match="CROWDLAB needs votes from at least 2"):
        crowd_consensus(one_reviewer, probs)
    with pytest.raises(ValueError, match="no category of the 2"):
        crowd_consensus(np.array([[0, 2], [nan, 1]]), probs)
    with pytest.raises(ValueError, match="every item and every reviewer"):
        crowd_consensus(np.array([[0, 1, nan], [nan, nan, nan]]), probs)
