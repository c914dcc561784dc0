import numpy as np
from cleanlab.filter import find_label_issues

from mlcore.eval.issues import rank_label_issues


def noisy_case(seed: int = 0, n: int = 300, k: int = 3, flips: int = 15):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k) * 0.5, n) * 0.3
    probs[np.arange(n), truth] += 0.7  # a good model: confident in the true class
    given = truth.copy()
    flipped = rng.choice(n, flips, replace=False)
    given[flipped] = (truth[flipped] + 1 + rng.integers(0, k - 1, flips)) % k
    return truth, given, probs, flipped


def test_flipped_labels_are_flagged_first_with_the_true_label_suggested():
    truth, given, probs, flipped = noisy_case()

    issues = rank_label_issues(given, probs)

    assert (issues.is_issue == find_label_issues(given, probs, n_jobs=1)).all()
    flagged = set(issues.ranked.tolist())
    assert flagged <= set(flipped.tolist())  # no clean image accused here
    assert len(flagged) >= 2 * len(flipped) // 3  # confident learning misses a few
    assert (issues.suggested[flipped] == truth[flipped]).all()
    worst_clean = np.delete(issues.quality, flipped).min()
    assert issues.quality[flipped].max() < worst_clean
    assert list(issues.quality[issues.ranked]) == sorted(issues.quality[issues.ranked])


def test_rows_without_probabilities_are_never_flagged():
    truth, given, probs, flipped = noisy_case()
    probs[flipped[:3]] = np.nan

    issues = rank_label_issues(given, probs)

    assert not issues.is_issue[flipped[:3]].any()
    assert np.isnan(issues.quality[flipped[:3]]).all()
    assert (issues.suggested[flipped[:3]] == -1).all()
    expected = find_label_issues(
        np.delete(given, flipped[:3]), np.delete(probs, flipped[:3], 0), n_jobs=1
    )
    assert (np.delete(issues.is_issue, flipped[:3]) == expected).all()
    assert issues.to_dict()["quality"][int(flipped[0])] is None


def test_the_review_order_covers_every_scored_row_and_holds_the_flagged_in_order():
    truth, given, probs, flipped = noisy_case(seed=3)
    probs[7] = np.nan  # an unreadable image: no place in the order

    issues = rank_label_issues(given, probs)

    assert issues.order is not None
    assert sorted(issues.order.tolist()) == [i for i in range(len(given)) if i != 7]
    assert list(issues.quality[issues.order]) == sorted(issues.quality[issues.order])
    flagged_in_order = [r for r in issues.order.tolist() if issues.is_issue[r]]
    assert flagged_in_order == issues.ranked.tolist()
    # the flipped labels lead the order: a reviewer starting at the top meets them first
    first = set(issues.order[: len(flipped)].tolist())
    assert len(first & set(flipped.tolist())) >= 0.9 * len(flipped)


def test_the_flagged_rows_of_first_lead_the_order_and_the_rest_keep_theirs():
    truth, given, probs, flipped = noisy_case(seed=4)
    is_test = np.arange(len(given)) >= 200  # the last 100 rows are the test split
    probs[7] = np.nan

    plain = rank_label_issues(given, probs)
    issues = rank_label_issues(given, probs, first=is_test)

    assert sorted(issues.order.tolist()) == sorted(plain.order.tolist())  # same rows
    lead = plain.order[is_test[plain.order] & plain.is_issue[plain.order]]
    assert 0 < len(lead) < len(plain.ranked)  # flagged rows on both splits
    assert issues.order[: len(lead)].tolist() == lead.tolist()  # by quality among themselves
    rest = issues.order[len(lead) :]
    assert rest.tolist() == [r for r in plain.order.tolist() if r not in set(lead.tolist())]
    assert issues.ranked.tolist() == [r for r in issues.order.tolist() if issues.is_issue[r]]
    assert (issues.quality == plain.quality)[~np.isnan(plain.quality)].all()


def test_the_estimate_of_wrong_labels_is_close_to_the_planted_count():
    from mlcore.eval.issues import estimate_wrong_labels

    for seed in range(3):
        truth, given, probs, flipped = noisy_case(seed=seed, n=600, flips=60)
        per_class = estimate_wrong_labels(given, probs)
        assert per_class.shape == (3,)
        assert 0.5 * len(flipped) <= per_class.sum() <= 2 * len(flipped)
        planted = np.bincount(given[flipped], minlength=3)
        assert np.abs(per_class - planted).max() <= max(10, planted.max())
    clean = estimate_wrong_labels(truth, probs)
    assert clean.sum() <= 0.2 * len(flipped)  # a clean catalog: few, not a list of alarms
