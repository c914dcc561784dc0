"""The whole-job plan behind a run's percent and ETA (mlcore/jobplan.py): plain arithmetic."""

from __future__ import annotations

import pytest

from mlcore.jobplan import FLOOR_S, Pace, eta_seconds, job_plan, position

KFOLD = {"epochs": 2, "cv_folds": 4, "cv_epochs": 3}


def _walk(config, n_train=400, n_test=100):
    """Progress dicts in the order a run reports them, training to scoring."""
    out = [
        {"phase": "training", "epoch": e, "epochs": 2, "step": s, "steps": 4}
        for e in (1, 2)
        for s in (1, 2, 3, 4)
    ]
    folds = config.get("cv_folds", 0)
    for f in range(1, folds + 1):
        for e in range(1, config.get("cv_epochs", 2) + 1):
            for s in (1, 2, 3):
                out.append(
                    {
                        "phase": "cross-fitting",
                        "fold": f,
                        "folds": folds,
                        "fold_epoch": e,
                        "fold_epochs": config.get("cv_epochs", 2),
                        "fold_step": s,
                        "fold_steps": 3,
                    }
                )
    out += [{"phase": "ranking"}, {"phase": "saving"}]
    return out


def test_the_plan_counts_the_folds_and_they_outweigh_the_training():
    plan = job_plan(KFOLD, n_train=400, n_test=100)
    names = [p.name for p in plan.phases]
    assert names == ["training", "evaluating", "cross-fitting", "scoring"]
    units = {p.name: p.units for p in plan.phases}
    assert units["training"] == 2 * 400
    # 4 folds x 3 epochs x 300 images, plus each fold's predictions
    assert units["cross-fitting"] > 4 * 3 * 300
    assert units["cross-fitting"] > 4 * units["training"]


@pytest.mark.parametrize("config", [KFOLD, {"epochs": 2, "cv_folds": 2, "cv_epochs": 1}])
def test_work_done_only_grows_and_reaches_the_last_phase_at_the_end(config):
    plan = job_plan(config, n_train=400, n_test=100)
    seen = [position(plan, p) for p in _walk(config)]
    done = [d for _, d in seen]
    assert done == sorted(done)
    assert seen[-1][0] == len(plan.phases) - 1
    assert 0 < done[0] < done[-1] < plan.total
    assert [i for i, _ in seen if i == 1], "the last training step starts the evaluation"


def test_the_eta_never_reads_0_before_the_last_phase():
    plan = job_plan(KFOLD, n_train=400, n_test=100)
    huge_rate = 1e9  # the remaining work alone would read 0 s
    for progress in _walk(KFOLD):
        index, done = position(plan, progress)
        eta = eta_seconds(plan, index, done, huge_rate)
        assert eta is not None
        if index < len(plan.phases) - 1:
            assert eta >= FLOOR_S
    assert eta_seconds(plan, 0, 0.0, None) is None


def test_the_pace_is_smoothed_and_a_resume_jump_does_not_count():
    pace = Pace()
    pace.update(5000.0, 0.0)  # resumed: 5,000 units were done by an earlier attempt
    assert pace.rate is None
    for t in range(1, 11):
        pace.update(5000.0 + 100 * t, float(t))
    assert pace.rate == pytest.approx(100.0)
    pace.update(5000.0 + 100 * 10 + 2000, 11.0)  # one burst
    assert 100 < pace.rate < 500
    assert pace.average() == pytest.approx(3000 / 11)


def test_a_prior_rate_gives_an_eta_before_the_first_sample():
    plan = job_plan(KFOLD, n_train=400, n_test=100)
    pace = Pace(rate=50.0)
    pace.update(0.0, 0.0)
    assert eta_seconds(plan, 0, 0.0, pace.rate) == pytest.approx(plan.total / 50.0)
