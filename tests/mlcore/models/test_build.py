import pytest
import torch
import torchvision

from mlcore.config import TrainConfig
from mlcore.models import WeightsMismatchError, build_model
from mlcore.models.efficientnet import shipped_weights_path
from tests.mlcore.conftest import tiny_config


@pytest.mark.parametrize(
    ("arch", "width", "features"),
    [("resnet18", 8, 64), ("resnet50", 8, 256), ("efficientnet_lite0", 64, 1280)],
)
@pytest.mark.parametrize("small_stem", [False, True])
@pytest.mark.parametrize("stn", [False, True])
def test_models_give_logits_and_pooled_features(arch, width, features, small_stem, stn):
    config = tiny_config(arch=arch, width=width, small_stem=small_stem, stn=stn, image_size=32)
    model = build_model(config, 5).eval()
    x = torch.randn(2, 3, 32, 32)

    with torch.inference_mode():
        assert model(x).shape == (2, 5)
        assert model.features(x).shape == (2, features)


def test_small_stem_keeps_resolution_in_the_first_stage():
    model = build_model(tiny_config(small_stem=True), 3)

    assert model.backbone.conv1.kernel_size == (3, 3) and model.backbone.conv1.stride == (1, 1)
    assert isinstance(model.backbone.maxpool, torch.nn.Identity)


def test_a_torchvision_weights_file_loads_into_resnet18(tmp_path):
    reference = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)

    model = build_model(TrainConfig(arch="resnet18", weights_path=str(path)), 4)

    assert torch.equal(model.backbone.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    assert model.head.out_features == 4  # the file's 1000-class fc is not used


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig(arch="resnet50"), "keys do not match"),
        (TrainConfig(arch="resnet18", small_stem=True), "conv1.weight.*small_stem"),
        (TrainConfig(arch="resnet18", width=32), "wrong shape"),
    ],
    ids=["other-arch", "small-stem", "other-width"],
)
def test_a_weights_file_for_another_model_fails_clearly(tmp_path, config, message):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    config.weights_path = str(path)

    with pytest.raises(WeightsMismatchError, match=message):
        build_model(config, 3)


def test_a_file_that_is_no_weights_file_fails_clearly(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")

    with pytest.raises(WeightsMismatchError, match="not a readable PyTorch weights file"):
        build_model(TrainConfig(weights_path=str(path)), 3)


def test_lite0_pretrained_uses_the_shipped_imagenet_weights():
    shipped = torch.load(shipped_weights_path(), map_location="cpu", weights_only=True)

    model = build_model(tiny_config(arch="efficientnet_lite0", pretrained=True, image_size=32), 3)

    assert torch.equal(model.backbone._conv_stem.weight, shipped["_conv_stem.weight"])
    assert torch.equal(
        model.backbone._blocks[7]._project_conv.weight, shipped["_blocks.7._project_conv.weight"]
    )
