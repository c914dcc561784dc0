"""Spatial Transformer front-end (Jaderberg et al. 2015): a small localization net predicts
an affine transform per image, which resamples the image before the backbone sees it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class SpatialTransformer(nn.Module):
    """(B, C, H, W) -> (B, C, H, W). Exactly the identity at init: the last layer has zero
    weights and the identity as its bias, so a pretrained backbone starts undisturbed."""

    def __init__(self, *, channels: int = 3, hidden: int = 32, loc_size: int = 64) -> None:
        super().__init__()
        self.loc_size = loc_size  # the localization net looks at a copy of <= this side
        self.localization = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=7, padding=3),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 10, kernel_size=5, padding=2),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4),
        )
        self.regressor = nn.Sequential(
            nn.Flatten(), nn.Linear(10 * 4 * 4, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 6)
        )
        last = self.regressor[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor(IDENTITY))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, 2, 3) affine matrices."""
        small = x
        if min(x.shape[-2:]) > self.loc_size:
            small = F.adaptive_avg_pool2d(x, self.loc_size)
        return self.regressor(self.localization(small)).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
