"""Models: ResNet-18/50, EfficientNet-Lite0, an optional spatial-transformer front-end."""

from mlcore.models.classifier import (
    Classifier,
    build_model,
    channels_last_ok,
    input_stats,
    place_model,
)
from mlcore.models.stn import SpatialTransformer
from mlcore.models.weights import WeightsMismatchError

__all__ = [
    "Classifier",
    "SpatialTransformer",
    "WeightsMismatchError",
    "build_model",
    "channels_last_ok",
    "input_stats",
    "place_model",
]
