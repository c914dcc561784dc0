"""Run options from the page, the API or the command line: each coerced to its config field's
type and bounded, with a TrainingError that names the option."""

from __future__ import annotations

import math
from typing import Any

from curation.params import BadParameter, parse_int


class TrainingError(ValueError):
    """A run can't start as asked; the message says why and what to do, and `option` names
    the option to change (None: not one option's fault)."""

    def __init__(self, message: str, *, option: str | None = None):
        super().__init__(message)
        self.option = option


# Upper bounds for options from the page and the API: beyond them a run would only exhaust
# the worker (memory, disk, or years of epochs).
OPTION_LIMITS = {
    "epochs": 500,
    "cv_epochs": 500,
    "image_size": 1024,
    "width": 512,
    "batch_size": 4096,
    "cv_folds": 20,
    "num_workers": 64,
    "cache_max_mb": 262_144,
}
TRUE, FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


def coerce_option(
    name: str, value: Any, type_name: str, limits: dict[str, int] | None = None
) -> Any:
    """`value` as the config field's type (`type_name` as dataclasses.fields gives it), or
    TrainingError naming the option. Numbers above limits[name] are refused."""
    limits = OPTION_LIMITS if limits is None else limits
    base = type_name.split("|")[0].strip()
    number: int | float
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise TrainingError(f"option '{name}' must be true or false, got {value!r}", option=name)
    if base == "int":
        number = _whole(name, value)
    elif base == "float":
        number = _number(name, value)
    elif base.startswith("tuple"):
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise TrainingError(
                f"option '{name}' must be a pair of numbers, e.g. [0.25, 1.0]", option=name
            )
        return tuple(_number(name, v) for v in value)
    else:
        if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
            raise TrainingError(
                f"option '{name}' must be plain text, got {value!r:.80}", option=name
            )
        return value
    limit = limits.get(name)
    if limit is not None and number > limit:
        raise TrainingError(f"option '{name}' may be at most {limit}, got {number}", option=name)
    return number


def check_devices(devices: str, device: str) -> None:
    """TrainingError unless this machine has the devices `devices` asks for: its GPUs, or
    its CPU cores for gloo processes when it has none (or device is "cpu")."""
    from mlcore.config import available_devices, parse_devices

    try:
        asked = parse_devices(devices)
    except ValueError:
        raise TrainingError(
            f"option 'devices' must be 1, all or a whole number of devices, got {devices!r:.40}",
            option="devices",
        ) from None
    if asked is None or asked == 1:  # always there: no need to import torch to count
        return
    have = available_devices(device)
    if asked > have:
        raise TrainingError(
            f"option 'devices' asks for {asked} devices but this machine has {have}; "
            f"use 1 to {have}, or all",
            option="devices",
        )


def _whole(name: str, value: Any) -> int:
    if isinstance(value, str):  # from the command line or a form: ASCII digits, maybe a sign
        text = value.strip()
        try:
            magnitude = parse_int(text.removeprefix("-"), name)
        except BadParameter:
            raise TrainingError(
                f"option '{name}' must be a whole number, got {value!r:.40}", option=name
            ) from None
        value = -magnitude if text.startswith("-") else magnitude
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TrainingError(f"option '{name}' must be a whole number, got {value!r}", option=name)
    return value


def _number(name: str, value: Any) -> float:
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise TrainingError(f"option '{name}' must be a number, got {value!r}", option=name)
    return number
