"""Transform presets.

Per-image presets (`TrainPreset`, `EvalPreset`) run in DataLoader workers on PIL images
and hand back uint8 tensors: 4x less to move between processes and onto the GPU than
float32. `BatchAugment` and `BatchPrep` run on whole batches, on the training device: the
decoded cache path does all its augmentation there, with no per-image Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(kw_only=True)
class CropFlip:
    """The training augmentation, as TrainPreset (one PIL image, in a loader worker) and
    BatchAugment (a whole batch, on the device) both apply it: a random resized crop to
    size x size (area fraction in `scale`, aspect ratio in `ratio`), then a random
    horizontal flip when `hflip`."""

    size: int
    scale: tuple[float, float] = (0.25, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: bool = True


@dataclass(kw_only=True)
class TrainPreset(CropFlip):
    """PIL image -> (3, size, size) uint8: random resized crop, random horizontal flip."""

    def __post_init__(self) -> None:
        steps: list[v2.Transform] = [
            v2.RandomResizedCrop(self.size, scale=self.scale, ratio=self.ratio, antialias=True)
        ]
        if self.hflip:
            steps.append(v2.RandomHorizontalFlip())
        steps.append(v2.PILToTensor())
        self.transform = v2.Compose(steps)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)


class EvalPreset:
    """PIL image -> (3, size, size) uint8: resize the shorter side to size / crop_fraction,
    then centre-crop. crop_fraction=1.0 keeps the whole shorter side."""

    def __init__(self, *, size: int, crop_fraction: float = 0.875) -> None:
        resize = max(size, int(math.floor(size / crop_fraction + 0.5)))
        self.transform = v2.Compose(
            [v2.Resize(resize, antialias=True), v2.CenterCrop(size), v2.PILToTensor()]
        )

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)


@dataclass(kw_only=True)
class BatchAugment(CropFlip):
    """Random resized crop + horizontal flip of a whole batch in one `grid_sample`.

    Each image gets its own crop box (area fraction in `scale`, aspect ratio in `ratio`,
    clipped to the image) and flip; the random numbers come from the generator passed in,
    so an epoch's augmentation is a pure function of its seed.
    """

    def __post_init__(self) -> None:
        self.log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))

    def theta(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 2, 3) float32 affine matrices on the CPU, in grid_sample's [-1, 1] frame."""
        area = torch.empty(batch).uniform_(*self.scale, generator=generator)
        aspect = torch.empty(batch).uniform_(*self.log_ratio, generator=generator).exp()
        w = (area * aspect).sqrt().clamp(max=1.0)  # (B,) fraction of the source width
        h = (area / aspect).sqrt().clamp(max=1.0)
        cx = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - w)
        cy = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - h)
        flip = torch.ones(batch)
        if self.hflip:
            flip = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        return theta

    def __call__(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """x: (B, C, H, W) float -> (B, C, size, size) float, on x's device."""
        b, c = x.shape[:2]
        theta = self.theta(b, generator=generator).to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, [b, c, self.size, self.size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class BatchPrep:
    """uint8 batch on the device -> normalised float model input, optionally augmented."""

    def __init__(
        self,
        *,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        channels_last: bool = True,
        augment: BatchAugment | None = None,
    ) -> None:
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.inv_std = 1 / (torch.tensor(std).view(1, 3, 1, 1) * 255)
        self.channels_last = channels_last
        self.augment = augment

    def __call__(
        self, images: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """images: (B, 3, H, W) uint8 -> (B, 3, S, S) float32."""
        if self.mean.device != images.device:
            self.mean = self.mean.to(images.device)
            self.inv_std = self.inv_std.to(images.device)
        x = (images.float() - self.mean) * self.inv_std  # (B, 3, H, W)
        if self.augment is not None:
            x = self.augment(x, generator=generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
