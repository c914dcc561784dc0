"""torchvision ResNet-18 / ResNet-50 as feature extractors, optionally narrower and with a
small-image stem. Key names stay torchvision's, so its state dicts load."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    50: (Bottleneck, [3, 4, 6, 3]),
}


def resnet(depth: int, *, width: int = 64, small_stem: bool = False) -> tuple[ResNet, int]:
    """A ResNet whose forward returns pooled features (B, D); returns (model, D).

    width: channels of the first stage (torchvision: 64); later stages double it.
    small_stem: 3x3 stride-1 first conv and no max-pool, so a 28-px image is not reduced to
    7 px before the first block.
    """
    block, layers = _SPECS[depth]
    model = ResNet(block, layers, zero_init_residual=True)
    if width != 64:
        # Rebuild the trunk with torchvision's own _make_layer at the narrower width.
        model.inplanes = width
        model.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        model.bn1 = nn.BatchNorm2d(width)
        model.layer1 = model._make_layer(block, width, layers[0])
        model.layer2 = model._make_layer(block, width * 2, layers[1], stride=2)
        model.layer3 = model._make_layer(block, width * 4, layers[2], stride=2)
        model.layer4 = model._make_layer(block, width * 8, layers[3], stride=2)
    if small_stem:
        model.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()  # type: ignore[assignment]
    if width != 64 or small_stem:
        _init_like_torchvision(model)
    model.fc = nn.Identity()  # type: ignore[assignment]
    return model, width * 8 * block.expansion


def _init_like_torchvision(model: ResNet) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    for m in model.modules():  # zero-init the last BN of each residual branch
        if isinstance(m, Bottleneck):
            nn.init.constant_(m.bn3.weight, 0)
        elif isinstance(m, BasicBlock):
            nn.init.constant_(m.bn2.weight, 0)
