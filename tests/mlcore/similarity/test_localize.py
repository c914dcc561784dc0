import numpy as np
import pytest
import torch
from PIL import Image

from mlcore.similarity.localize import (
    LocalizeConfig,
    box_iou,
    crop_to_box,
    evaluate_boxes,
    fit_localizer,
    load_localizer,
    locate,
)
from tests.mlcore.conftest import assert_same_weights, cancel_after
from tests.mlcore.similarity.conftest import DEVICES
from tests.support.tiny_nets import tiny_localizer_config


def tiny(**changes) -> LocalizeConfig:
    return tiny_localizer_config(**{"epochs": 30, "lr": 1e-2, "progress_every": 1, **changes})


def split(dresses, products: int):
    train = [i for i, g in enumerate(dresses.groups) if g < products]
    test = [i for i, g in enumerate(dresses.groups) if g >= products]
    return train, test


def test_box_iou_and_scores():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)

    np.testing.assert_allclose(box_iou(a, b), [1.0, 1 / 3, 0.0], rtol=1e-6)
    scores = evaluate_boxes(a, b)
    assert scores.n == 3 and scores.share_iou50 == pytest.approx(1 / 3)


def test_crop_to_box_grows_by_the_margin_and_clips():
    image = Image.new("RGB", (100, 50))

    assert crop_to_box(image, (10, 10, 30, 20), margin=0.0).size == (20, 10)
    assert crop_to_box(image, (10, 10, 30, 20), margin=0.5).size == (40, 20)
    assert crop_to_box(image, (90, 40, 110, 60), margin=0.0).size == (10, 10)
    with pytest.raises(ValueError, match="empty"):
        crop_to_box(image, (10, 10, 10, 20))


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_localization_beats_the_whole_image_box(dresses, tmp_path, device):
    train, test = split(dresses, 26)  # 156 training photos, 48 held out
    items = [(dresses.paths[i], tuple(dresses.boxes[i])) for i in train]

    result = fit_localizer(tiny(device=device), items, out_dir=tmp_path)
    found = locate(result.model, [dresses.paths[i] for i in test])

    true = dresses.boxes[test]
    whole = np.tile(np.array([0, 0, 64, 64], np.float32), (len(test), 1))
    model, baseline = evaluate_boxes(found.boxes, true), evaluate_boxes(whole, true)
    assert found.indices.tolist() == list(range(len(test))) and not found.skipped
    assert model.mean_iou > baseline.mean_iou + 0.15
    assert model.share_iou50 > baseline.share_iou50 + 0.3
    assert result.history[-1].loss < result.history[0].loss
    assert ((found.scores >= 0) & (found.scores <= 1)).all()


def test_a_saved_localizer_finds_the_same_boxes(dresses, tmp_path):
    items = [(dresses.paths[i], tuple(dresses.boxes[i])) for i in range(24)]
    result = fit_localizer(tiny(epochs=1), items, out_dir=tmp_path)

    loaded = load_localizer(tmp_path / "checkpoint.pt")
    paths = dresses.paths[24:30] + [str(tmp_path / "missing.png")]

    a, b = locate(result.model, paths), locate(loaded, paths)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    assert b.skipped and b.skipped[0][0] == 6


def test_a_box_off_the_image_is_refused_with_its_item(dresses, tmp_path):
    items = [(dresses.paths[0], (10.0, 10.0, 20.0, 20.0)), (dresses.paths[1], (70.0, 5, 90, 9))]

    with pytest.raises(ValueError, match=r"items\[1\]"):
        fit_localizer(tiny(epochs=1), items, out_dir=tmp_path)


def test_localizer_resume_after_cancel_matches_an_uninterrupted_run(dresses, tmp_path):
    items = [(dresses.paths[i], tuple(dresses.boxes[i])) for i in range(48)]  # 3 steps/epoch
    config = tiny(epochs=2)
    straight = fit_localizer(config, items, out_dir=tmp_path / "straight")
    first = fit_localizer(
        config, items, out_dir=tmp_path / "resumed", should_cancel=cancel_after(4)
    )
    torch.manual_seed(99)
    resumed = fit_localizer(config, items, out_dir=tmp_path / "resumed")

    assert first.cancelled and first.epochs_done == 1
    assert resumed.resumed_from == 1 and resumed.epochs_done == 2
    assert_same_weights(straight.model.net, resumed.model.net)
