"""Loading a state-dict file into a backbone, with a strict key check and clear errors."""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch import nn


class WeightsMismatchError(ValueError):
    """A weights file that does not fit the model built from the config."""


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A plain state dict from `path`: a bare one, or one under "model" / "state_dict"
    (mlcore checkpoints, most training scripts)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: weights file not found") from exc
    except Exception as exc:  # noqa: BLE001 - pickle / zip errors of all kinds
        raise WeightsMismatchError(f"{path}: not a readable PyTorch weights file ({exc})") from exc
    for key in ("model", "state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsMismatchError(f"{path}: holds no state dict of tensors")
    return data


def load_backbone_weights(
    backbone: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    source: str,
    ignore_prefixes: Iterable[str] = (),
) -> None:
    """Load `state` into `backbone`, all keys required, shapes checked.

    Keys under `ignore_prefixes` (the file's own classifier head) are dropped first; a
    "backbone." prefix (a state dict of an mlcore Classifier) is stripped.
    """
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    prefixes = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsMismatchError(
            f"{source}: keys do not match the {type(backbone).__name__} built from the config "
            f"({len(missing)} missing, e.g. {missing[:3]}; {len(unexpected)} unexpected, "
            f"e.g. {unexpected[:3]}). Check arch and width, or use a file saved for this arch."
        )
    wrong = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state.items()
        if v.shape != own[k].shape
    ]
    if wrong:
        key, got, want = wrong[0]
        hint = (
            " small_stem changes the stem conv;"
            if key.endswith(("conv1.weight", "stem.weight"))
            else ""
        )
        raise WeightsMismatchError(
            f"{source}: {len(wrong)} tensors have the wrong shape, first {key}: file {got}, "
            f"model {want}.{hint} build the model with the settings the file was trained with."
        )
    backbone.load_state_dict(state, strict=True)
