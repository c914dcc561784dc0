from dataclasses import replace

import numpy as np
import pytest

from mlcore.eval import crossval
from mlcore.eval.crossval import out_of_sample_probs
from tests.mlcore.conftest import NAMES, tiny_config


def test_every_image_is_predicted_once_by_a_model_that_did_not_see_it(
    make_items, tmp_path, monkeypatch
):
    items = make_items(30)
    trained_on: dict[int, set[str]] = {}  # id(model) -> paths it trained on
    predicted: list[tuple[int, str]] = []  # (id(model), path) for each prediction
    models = []  # held, so a freed fold model's id can't be reused by the next fold's
    real_fit, real_predict = crossval.fit, crossval.predict_items

    def spy_fit(config, train_items, *args, **kwargs):
        result = real_fit(config, train_items, *args, **kwargs)
        models.append(result.model)
        trained_on[id(result.model)] = {p for p, _ in train_items}
        return result

    def spy_predict(model, held_items, **kwargs):
        predicted.extend((id(model), p) for p, _ in held_items)
        return real_predict(model, held_items, **kwargs)

    monkeypatch.setattr(crossval, "fit", spy_fit)
    monkeypatch.setattr(crossval, "predict_items", spy_predict)

    result = out_of_sample_probs(tiny_config(cv_folds=3), items, NAMES, work_dir=tmp_path / "cv")

    assert len(trained_on) == 3
    assert sorted(p for _, p in predicted) == sorted(p for p, _ in items)  # each exactly once
    assert all(path not in trained_on[model] for model, path in predicted)
    assert all(len(seen) == 20 for seen in trained_on.values())  # the other two folds
    assert result.probs.shape == (30, 3) and not np.isnan(result.probs).any()
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.bincount(result.fold).tolist() == [10, 10, 10]
    for f in range(3):  # stratified: every fold holds out all three classes
        assert sorted(set(result.labels[result.fold == f])) == [0, 1, 2]


def test_unreadable_images_get_nan_rows(make_items, tmp_path):
    items = make_items(18)
    items[4] = (str(tmp_path / "missing.png"), items[4][1])

    result = out_of_sample_probs(tiny_config(cv_folds=2), items, NAMES, work_dir=tmp_path / "cv")

    assert np.isnan(result.probs[4]).all()
    assert not np.isnan(np.delete(result.probs, 4, axis=0)).any()
    assert [i for i, _ in result.skipped] == [4]


LINEAR_PROBE = tiny_config(  # frozen ImageNet Lite0 features, 3-fold logistic regression
    arch="efficientnet_lite0",
    pretrained=True,
    image_size=32,
    cv_folds=3,
    cv_method="linear_probe",
)


def test_linear_probe_gives_out_of_sample_probs_from_frozen_features(make_items, tmp_path):
    items = make_items(30)
    config = LINEAR_PROBE

    seen = []
    result = out_of_sample_probs(
        config,
        items,
        NAMES,
        work_dir=tmp_path,
        progress=lambda f, k, p: seen.append((f, k, p.step, p.steps)),
    )

    assert result.method == "linear_probe" and not result.cancelled
    features = [s for s in seen if s[0] == -1]  # the one pass over every image
    assert (
        features
        and features[-1][2:] == (30, 30)
        and [s[2] for s in features] == sorted(s[2] for s in features)
    )
    assert [s for s in seen if s[0] >= 0] == [(0, 3, 1, 1), (1, 3, 1, 1), (2, 3, 1, 1)]
    assert result.probs.shape == (30, 3) and not np.isnan(result.probs).any()
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (result.probs.argmax(axis=1) == result.labels).mean()
    assert accuracy > 0.6  # the patterns are easy even for frozen ImageNet features


@pytest.mark.parametrize("stop_at_fold", [-1, 0])  # during the feature pass / after fold 0
def test_a_cancelled_linear_probe_stops_without_the_remaining_folds(
    make_items, tmp_path, stop_at_fold
):
    config = replace(LINEAR_PROBE, batch_size=4)
    reported = []
    result = out_of_sample_probs(
        config,
        make_items(24),
        NAMES,
        work_dir=tmp_path,
        progress=lambda f, k, p: reported.append(f),
        should_cancel=lambda: stop_at_fold in reported,
    )
    assert result.cancelled and max(reported) == stop_at_fold  # nothing ran after the cancel
    assert np.isnan(result.probs).any(axis=1).sum() >= 8  # at least one fold has no probabilities


def test_linear_probe_needs_a_label_independent_backbone(make_items, tmp_path):
    with pytest.raises(ValueError, match="never saw these labels"):
        out_of_sample_probs(
            tiny_config(cv_method="linear_probe", cv_folds=2),
            make_items(6),
            NAMES,
            work_dir=tmp_path,
        )


def test_cancelling_a_fold_cancels_the_cross_fit(make_items, tmp_path):
    result = out_of_sample_probs(
        tiny_config(cv_folds=2),
        make_items(12),
        NAMES,
        work_dir=tmp_path,
        should_cancel=lambda: True,
    )

    assert result.cancelled


def test_extra_items_get_the_mean_of_every_fold_models_probabilities(
    make_items, tmp_path, monkeypatch
):
    items, extra = make_items(18), make_items(5)
    extra[2] = (str(tmp_path / "missing.png"), extra[2][1])
    per_model: list[np.ndarray] = []
    real_predict = crossval.predict_items

    def spy_predict(model, some, **kwargs):
        out = real_predict(model, some, **kwargs)
        if some == extra:
            per_model.append(out.probs)
        return out

    monkeypatch.setattr(crossval, "predict_items", spy_predict)
    result = out_of_sample_probs(
        tiny_config(cv_folds=3), items, NAMES, work_dir=tmp_path / "cv", extra_items=extra
    )

    assert result.extra_probs is not None and result.extra_probs.shape == (5, 3)
    assert len(per_model) == 3  # every fold model scored the extra items
    readable = [0, 1, 3, 4]
    np.testing.assert_allclose(result.extra_probs[readable], np.mean(per_model, axis=0), atol=1e-6)
    assert np.isnan(result.extra_probs[2]).all()
    assert not np.isnan(result.probs).any()  # the training rows are as without extra items


def test_without_extra_items_there_are_no_extra_probs(make_items, tmp_path):
    result = out_of_sample_probs(
        tiny_config(cv_folds=2), make_items(12), NAMES, work_dir=tmp_path / "cv"
    )
    assert result.extra_probs is None
