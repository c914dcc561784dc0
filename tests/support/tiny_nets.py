"""Tiny nets trained from scratch, so a test's training takes seconds on a CPU: a width-8
ResNet-18 without pretrained weights. Torch and mlcore only: tests/mlcore uses it too."""

from __future__ import annotations

from dataclasses import replace

from mlcore.similarity.localize import LocalizeConfig

TINY_NET = {"arch": "resnet18", "pretrained": False, "width": 8, "device": "cpu"}


def tiny_localizer_config(**changes) -> LocalizeConfig:
    """A tiny localizer for 64 px photos seen at 32 px, in batches of 16; `changes` on top."""
    config = LocalizeConfig(**TINY_NET, image_size=32, source_size=64, batch_size=16)
    return replace(config, **changes)
