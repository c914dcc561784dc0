import numpy as np
import pytest

from mlcore.eval.review_estimate import fit_review_outcomes, quality_logit, spot_check_count


def _catalog(seed: int, n: int = 2000):
    """Label qualities and planted wrong labels, wrong with probability
    sigmoid(-1 - 1.5 logit q): most wrong labels score low, but so do some right ones."""
    rng = np.random.default_rng(seed)
    quality = rng.beta(0.6, 0.3, n).clip(1e-4, 1 - 1e-4)
    wrong = rng.random(n) < 1 / (1 + np.exp(1 + 1.5 * quality_logit(quality)))
    return rng, quality, wrong


def _after_review(seed: int, *, spots: int = 400, answered_spots: int = 100, model: bool = True):
    """The lowest-quality 10% answered in review order, and `answered_spots` of `spots`
    uniform spot checks: (estimate of the wrong labels left, low, high, truth)."""
    rng, quality, wrong = _catalog(seed)
    n = len(quality)
    order = np.argsort(quality, kind="stable")
    stratum = np.empty(n, dtype=np.int64)
    stratum[order] = np.arange(n) * 5 // n
    spot = rng.choice(n, spots, replace=False)
    top = order[: n // 10]
    later = np.setdiff1d(spot, top)
    sample = np.union1d(np.intersect1d(spot, top), rng.permutation(later)[:answered_spots])
    answered = np.union1d(top, sample)
    fit = fit_review_outcomes(quality[answered], wrong[answered]) if model else None
    p = fit.p_wrong(quality) if fit is not None else np.zeros(n)
    unanswered = np.setdiff1d(np.arange(n), answered)
    count = spot_check_count(
        p[unanswered], stratum[unanswered], p[sample], wrong[sample], stratum[sample]
    )
    return count.expected, count.low, count.high, int(wrong[unanswered].sum())


@pytest.mark.parametrize("model", [True, False], ids=["with-the-curve", "expansion-only"])
def test_spot_checks_count_the_wrong_labels_left_within_their_interval(model):
    within_two, covered = 0, 0
    for seed in range(60):
        left, low, high, truth = _after_review(seed, model=model)
        within_two += 0.5 * truth <= left <= 2 * truth
        covered += low <= truth <= high
    assert covered >= 54, covered  # a 95% interval: 57 of 60 expected
    assert within_two >= 54, within_two


def test_a_spot_check_that_finds_nothing_still_leaves_room():
    none = np.zeros(10_000, dtype=np.int64)
    count = spot_check_count(
        np.zeros(10_000), none, np.zeros(100), np.zeros(100, dtype=bool), none[:100]
    )
    assert count.expected == 0 and count.low == 0
    assert count.high > 100  # 0 of 100 found: up to a few % of 10,000 can't be ruled out


def test_the_curve_alone_extrapolates_where_nobody_looked():
    """Why the count people see comes from spot checks: the curve fitted on the top tenth
    alone, summed over the rest, is often off by more than a factor of 2."""
    off = 0
    for seed in range(40):
        _, quality, wrong = _catalog(seed, n=1000)
        order = np.argsort(quality, kind="stable")
        top, rest = order[:100], order[100:]
        fit = fit_review_outcomes(quality[top], wrong[top])
        truth = int(wrong[rest].sum())
        off += fit is None or not 0.5 * truth <= fit.expected(quality[rest]) <= 2 * truth
    assert off >= 4, off


def test_the_probability_follows_the_answers_where_the_reviewers_looked():
    rng = np.random.default_rng(5)
    quality = rng.uniform(0.0, 0.4, 4000)
    p_true = 1 / (1 + np.exp(-(-1.0 - 1.5 * quality_logit(quality))))
    wrong = rng.random(4000) < p_true
    fit = fit_review_outcomes(quality, wrong)
    assert fit is not None
    assert fit.intercept == pytest.approx(-1.0, abs=0.25)
    assert fit.slope == pytest.approx(-1.5, abs=0.15)
    assert fit.expected(quality) == pytest.approx(wrong.sum(), rel=0.1)


@pytest.mark.parametrize(
    ("quality", "wrong"),
    [
        (np.linspace(0, 0.3, 40), np.arange(40) % 2 == 0),  # too few answers
        (np.linspace(0, 0.3, 200), np.ones(200, dtype=bool)),  # every label was wrong
        (np.linspace(0, 0.3, 200), np.arange(200) < 3),  # 3 wrong: too few of one outcome
        (np.linspace(0, 0.3, 200), np.arange(200) >= 100),  # better quality, more wrong
    ],
    ids=["too-few", "all-wrong", "three-wrong", "rising"],
)
def test_no_fit_where_the_answers_cannot_carry_one(quality, wrong):
    assert fit_review_outcomes(quality, wrong) is None


def test_nothing_left_to_estimate_is_zero():
    _, quality, wrong = _catalog(3)
    fit = fit_review_outcomes(quality, wrong)
    assert fit is not None
    assert fit.expected(np.array([])) == 0.0


def test_lengths_that_differ_are_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        fit_review_outcomes(np.zeros(3), np.zeros(4, dtype=bool))
