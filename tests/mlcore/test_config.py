import json

import pytest

from mlcore.config import TrainConfig


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"arch": "vgg"}, "arch"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"class_weighting": "sqrt"}, "class_weighting"),
        ({"epochs": 0}, "epochs"),
        ({"cv_folds": 1}, "cv_folds"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"crop_scale": (0.9, 0.5)}, "crop_scale"),
        ({"pretrained": True}, "pretrained"),  # nothing pretrained ships for resnet18
    ],
)
def test_validate_names_the_bad_field(changes, field):
    with pytest.raises(ValueError, match=field if field != "pretrained" else "No pretrained"):
        TrainConfig(**changes).validate()


def test_config_round_trips_through_json():
    config = TrainConfig(arch="efficientnet_lite0", pretrained=True, crop_scale=(0.5, 1.0))

    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert again == config


def test_from_dict_ignores_keys_of_a_later_version():
    assert TrainConfig.from_dict({"epochs": 3, "new_field": 1}) == TrainConfig(epochs=3)
