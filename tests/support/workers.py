"""Real `celery worker` processes on the test database, for tests that kill workers, restart
brokers or drop connections under a running training run, or run a job as production does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from curation.models import RunImage, TrainingRun

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 3


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def celery_worker(
    queue: str, *, env: dict, log: Path, name: str | None = None, own_group: bool = False
):
    """A `celery worker -Q queue --pool solo` process of this checkout, output into `log`.
    own_group: in a process group of its own, so os.killpg kills it with its children."""
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue]
    command += ["--pool", "solo", "--loglevel", "INFO", *(["-n", name] if name else [])]
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )


def celery_beat(*, env: dict, log: Path, schedule: Path):
    """A `celery beat` process of this checkout (its schedule file at `schedule`)."""
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "-s", str(schedule)]
    command += ["--loglevel", "INFO"]
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


class Workers:
    """Start and kill `celery worker -Q train` (or another queue) processes sharing the test
    database."""

    def __init__(self, tmp_path: Path, broker: str, var_dir: Path, runs: Path):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
            "VAR_DIR": str(var_dir),
            "CURATION_RUNS_DIR": str(runs),
            "CURATION_RUN_STALE_SECONDS": str(STALE_SECONDS),
            "DJANGO_DEBUG": "true",
        }
        self.procs: list[subprocess.Popen] = []

    def start(
        self, queue: str = "train", *, own_group: bool = False, env: dict | None = None
    ) -> subprocess.Popen:
        """A worker on `queue`; env: variables of its own over the pool's (its folders)."""
        log = self.tmp_path / f"worker-{len(self.procs)}.log"
        name = f"{queue.replace(',', '-')}{len(self.procs)}@%h"
        env = {**self.env, **(env or {})}
        proc = celery_worker(queue, env=env, log=log, name=name, own_group=own_group)
        self.procs.append(proc)
        return proc

    def start_beat(self, *, sweep_seconds: int = 1, env: dict | None = None) -> subprocess.Popen:
        """One `celery beat` process sweeping every `sweep_seconds` (log: beat.log)."""
        env = {**self.env, **(env or {}), "CURATION_SWEEP_SECONDS": str(sweep_seconds)}
        schedule = self.tmp_path / "celerybeat-schedule"
        proc = celery_beat(env=env, log=self.tmp_path / "beat.log", schedule=schedule)
        self.procs.append(proc)
        return proc

    def kill_at_first_checkpoint(
        self, worker: subprocess.Popen, run: TrainingRun, *, timeout: int = 120, group: bool = False
    ) -> Path:
        """SIGKILL `worker` as soon as the run's model checkpoint is on disk, so the run is
        past its first epoch, and reap it; group: the worker's whole process group (its DDP
        processes with it). Returns the checkpoint's path."""
        checkpoint = Path(self.env["CURATION_RUNS_DIR"]) / str(run.pk) / "model" / "checkpoint.pt"
        deadline = time.monotonic() + timeout
        while not checkpoint.exists():
            assert time.monotonic() < deadline, f"no checkpoint after {timeout} s\n{self.logs()}"
            time.sleep(0.02)
        if group:
            os.killpg(worker.pid, signal.SIGKILL)
        else:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        return checkpoint

    def wait_until_finished(self, run: TrainingRun, what: str) -> None:
        """wait_for the run to end (succeeded, failed or cancelled): 300 s without progress
        at most."""

        def finished():
            run.refresh_from_db()
            return run.status in TrainingRun.FINISHED

        wait_for(finished, 300, what, self, watch=run)

    def logs(self) -> str:
        logs = sorted(self.tmp_path.glob("worker-*.log")) + sorted(self.tmp_path.glob("beat.log"))
        return "\n".join(p.read_text()[-2000:] for p in logs)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)


def worker_pool(broker_url: str, tmp_path: Path, settings):
    """Generator for a fixture: a Workers pool reading the test's storage folder."""
    # The workers read images from the test's storage folder: their VAR_DIR/media is it.
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    var_dir = tmp_path / "var-for-workers"
    var_dir.mkdir()
    os.symlink(media, var_dir / "media")
    runs = tmp_path / "runs"
    settings.CURATION_RUNS_DIR = runs
    pool = Workers(tmp_path, broker_url, var_dir, runs)
    try:
        yield pool
    finally:
        pool.stop_all()


# The fields of a job row that move while its worker makes progress (runs, scorings, scans).
PROGRESS_FIELDS = ("status", "progress", "done", "heartbeat_at", "attempts")


def wait_for(predicate, timeout: float, what: str, workers: Workers, *, watch=None):
    """Poll `predicate` until it returns something true.

    timeout: seconds in all; with `watch` (a job row the predicate refreshes: a run, a
    scoring job, a scan), seconds *without progress*: every change of its status, progress,
    done count or heartbeat restarts the clock, up to 10 x timeout in all. So a slow, loaded
    machine that keeps working passes, and a stuck job still fails in `timeout`."""
    start = time.monotonic()
    deadline, cap = start + timeout, start + 10 * timeout
    seen = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if watch is not None:
            now = tuple(getattr(watch, f, None) for f in PROGRESS_FIELDS)
            if now != seen:
                seen, deadline = now, min(cap, time.monotonic() + timeout)
        time.sleep(0.2)
    waited = time.monotonic() - start
    raise AssertionError(f"timed out waiting for {what} ({waited:.0f} s)\n{workers.logs()}")


def assert_resumed_once(run: TrainingRun, workers: Workers) -> None:
    """The run succeeded on its second attempt, resumed from a checkpoint of the first, not
    from its first epoch, and wrote one set of results: a row per image, each predicted."""
    assert run.status == "succeeded", (run.error, workers.logs())
    assert run.attempts == 2 and run.progress.get("resumed") is True
    assert 2 <= run.progress.get("first_epoch_of_attempt") <= run.config["epochs"]
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == run.train_count + run.test_count
    assert not rows.filter(predicted_label=None).exists()
