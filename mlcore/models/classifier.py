"""The model every job trains: [spatial transformer] -> backbone -> pooled features -> head."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

from mlcore.config import TrainConfig
from mlcore.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mlcore.models import efficientnet
from mlcore.models.resnet import resnet
from mlcore.models.stn import SpatialTransformer
from mlcore.models.weights import load_backbone_weights, read_state_dict

ModuleT = TypeVar("ModuleT", bound=nn.Module)


class Classifier(nn.Module):
    def __init__(
        self, backbone: nn.Module, num_features: int, num_classes: int, *, stn: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(num_features, num_classes)
        # Built last, so that with the same seed the backbone and head match a model without.
        self.stn: nn.Module = SpatialTransformer() if stn else nn.Identity()
        self.num_features = num_features
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) normalised -> (B, D) pooled embedding, for similarity search."""
        return self.backbone(self.stn(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) normalised -> (B, K) logits."""
        return self.head(self.features(x))


def input_stats(arch: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(mean, std) per RGB channel, in [0, 1] units, that `arch` expects its input in."""
    if arch == "efficientnet_lite0":
        return efficientnet.MEAN, efficientnet.STD
    return IMAGENET_MEAN, IMAGENET_STD


def build_model(config: TrainConfig, num_classes: int, *, load_weights: bool = True) -> Classifier:
    """The Classifier that `config` describes, with `num_classes` outputs.

    load_weights=False skips config.pretrained / config.weights_path: for rebuilding a
    saved model whose own weights are loaded next. Raises WeightsMismatchError (a
    ValueError) when a weights file does not fit the architecture.
    """
    config.validate()
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    weights = config.weights_path if load_weights else None
    backbone: nn.Module
    if config.arch == "efficientnet_lite0":
        backbone, dim = efficientnet.efficientnet_lite0(
            image_size=config.image_size,
            small_stem=config.small_stem,
            pretrained=config.pretrained and load_weights,
            weights_path=weights,
        )
    else:
        backbone, dim = resnet(
            int(config.arch.removeprefix("resnet")),
            width=config.width,
            small_stem=config.small_stem,
        )
        if weights is not None:
            load_backbone_weights(
                backbone, read_state_dict(weights), source=weights, ignore_prefixes=("fc.",)
            )
    return Classifier(backbone, dim, num_classes, stn=config.stn)


def channels_last_ok(model: nn.Module, device: torch.device) -> bool:
    """Whether training `model` in channels_last on `device` is safe.

    torch 2.14's oneDNN CPU kernel corrupts memory (double free / segfault) in the weight
    gradient of a channels_last 1x1 stride-2 conv with fewer than 16 input channels at odd
    batch sizes: ResNet downsample convs at width < 16. Such models train contiguous on CPU.
    """
    if device.type != "cpu":
        return True
    return not any(
        isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.stride == (2, 2)
        and m.in_channels < 16
        for m in model.modules()
    )


def place_model(
    model: ModuleT, device: torch.device, *, channels_last: bool = True
) -> tuple[ModuleT, bool]:
    """`model` moved to `device`, and to channels_last memory format when asked for and safe
    there (channels_last_ok); (the model, whether it is in channels_last)."""
    model = model.to(device)
    channels_last = channels_last and channels_last_ok(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, channels_last
