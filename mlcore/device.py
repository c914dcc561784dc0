"""Device choice and mixed precision, the same code on CPU and CUDA."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else as torch.device parses it.
    ValueError when CUDA is asked for and absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here.")
    return device


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere (CPU trains in float32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def tune_for_training(device: torch.device, *, num_threads: int = 0) -> None:
    """Process-wide torch settings of a training job: `num_threads` CPU threads (0 keeps
    torch's default), and cuDNN's autotuner on CUDA (input sizes are fixed, so it pays)."""
    if num_threads:
        torch.set_num_threads(num_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def training_device(name: str = "auto", *, num_threads: int = 0) -> torch.device:
    """resolve_device(name), with this process tuned for training there (tune_for_training)."""
    device = resolve_device(name)
    tune_for_training(device, num_threads=num_threads)
    return device
