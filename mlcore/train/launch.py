"""fit() on several devices of this machine: one DDP process per device, spawned from the
calling process (a Celery task, a script), which stays single-threaded in torch terms and
keeps reporting progress and watching for cancellation.

Rank 0 writes the checkpoint and sends progress over a queue; once every rank is done, the
caller loads the finished checkpoint in-process (fit with resume=True trains nothing then)
for the evaluation and the model it returns, so a run's results are the same kind of
FitResult as on one device. The same path runs gloo on N CPU processes.
"""

from __future__ import annotations

import functools
import os
import queue
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mlcore.config import TrainConfig, world_size_for
from mlcore.data.dataset import Item
from mlcore.device import resolve_device
from mlcore.storage import S3Options
from mlcore.train.engine import TrainProgress
from mlcore.train.fit import FitResult, fit
from mlcore.train.resume import CHECKPOINT_NAME, CheckpointMirror, pull_checkpoint

POLL_SECONDS = 0.2


def fit_on_devices(
    config: TrainConfig,
    train_items: Sequence[Item],
    label_names: Sequence[str],
    *,
    out_dir: str | Path,
    eval_items: Sequence[Item] | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = True,
    s3: S3Options | None = None,
    mirror: CheckpointMirror | None = None,
) -> FitResult:
    """fit() with config.devices processes (DDP); one device: fit() itself, unchanged.
    mirror: as in fit(); the mirror's checkpoint is pulled here, before the ranks start, so
    that every rank resumes from the same file."""
    world = world_size_for(config)
    # This job's fit(): alone on one device; on several, the evaluation after the ranks.
    fit_job = functools.partial(
        fit,
        config,
        train_items,
        label_names,
        out_dir=out_dir,
        eval_items=eval_items,
        s3=s3,
        mirror=mirror,
    )
    if world <= 1:
        return fit_job(progress=progress, should_cancel=should_cancel, resume=resume)
    if resume and mirror is not None:
        pull_checkpoint(mirror, Path(out_dir) / CHECKPOINT_NAME)
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    cancel = ctx.Event()
    job = (config, list(train_items), list(label_names), str(out_dir), resume, s3, mirror)
    processes = mp.start_processes(
        rank_main,
        args=(world, free_port(), os.getpid(), job, events, cancel),
        nprocs=world,
        join=False,
        start_method="spawn",
    )
    done: dict[str, Any] = {"skipped": {}, "resumed_from": 0}
    try:
        while not processes.join(timeout=POLL_SECONDS):
            drain(events, progress, done)
            if should_cancel is not None and not cancel.is_set() and should_cancel():
                cancel.set()
    finally:
        for process in processes.processes:
            if process.is_alive():
                process.terminate()
    drain(events, progress, done)
    # Every epoch is in the checkpoint now (or the run was cancelled): this trains nothing,
    # it restores the weights and evaluates on the main process alone.
    result = fit_job(
        should_cancel=(lambda: True) if cancel.is_set() else should_cancel, resume=True
    )
    result.world_size = world
    result.resumed_from = done["resumed_from"]  # where the ranks started, not this last load
    result.skipped = sorted({**done["skipped"], **dict(result.skipped)}.items())
    return result


def drain(events: Any, progress: Callable[[TrainProgress], None] | None, done: dict) -> None:
    """Hand the ranks' queued messages on: progress to `progress`; what each rank skipped
    and where rank 0 resumed into `done`."""
    while True:
        try:
            kind, payload = events.get_nowait()
        except queue.Empty:
            return
        if kind == "progress" and progress is not None:
            progress(payload)
        elif kind == "done":
            done["skipped"].update(dict(payload["skipped"]))
            if payload["rank"] == 0:
                done["resumed_from"] = payload["resumed_from"]


def rank_main(
    rank: int, world: int, port: int, parent: int, job: tuple, events: Any, cancel: Any
) -> None:
    """One DDP process: join the group, train its shard with fit(), leave the group."""
    config, items, names, out_dir, resume, s3, mirror = job
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    on_cuda = resolve_device(config.device).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(rank)
    elif config.num_threads == 0:  # N processes share the cores instead of each taking all
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group("nccl" if on_cuda else "gloo", rank=rank, world_size=world)

    def stop() -> bool:
        # An orphan (its worker was killed) stops too, instead of training on alone.
        return cancel.is_set() or os.getppid() != parent

    try:
        result = fit(
            config,
            items,
            names,
            out_dir=out_dir,
            progress=(lambda p: events.put(("progress", p))) if rank == 0 else None,
            should_cancel=stop,
            resume=resume,
            s3=s3,
            mirror=mirror,
        )
        summary = {"rank": rank, "skipped": result.skipped, "resumed_from": result.resumed_from}
        events.put(("done", summary))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port free on the loopback now, for the ranks' rendezvous."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
