"""Multi-process (DDP) helpers. Under torchrun each process calls `init_from_env()`; fit()
then finds the process group and shards the data, with rank 0 alone writing files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from mlcore.device import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> DistInfo:
    """The process group this process is in, or a single-process DistInfo."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    rank = dist.get_rank()
    return DistInfo(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def init_from_env(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (WORLD_SIZE > 1): NCCL when this process
    trains on CUDA, else gloo. Without torchrun: nothing to do, one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return current()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_cuda = resolve_device(device).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return current()


def shutdown(info: DistInfo) -> None:
    """Leave the process group init_from_env joined (torchrun warns otherwise)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def device_for(name: str, info: DistInfo) -> torch.device:
    """The device of this process: one GPU per local rank under DDP."""
    device = resolve_device(name)
    if device.type == "cuda" and info.distributed and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def gather(obj: Any, info: DistInfo) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def average_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Average float buffers (batch-norm running statistics) over the ranks, so that every
    rank ends an epoch with the same model. DDP keeps parameters in sync, not buffers."""
    if not info.distributed:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(info.world_size)
