"""A scratch copy of the app for the benchmarks that drive it end to end (curation,
retrain_overhead, score): its environment (SQLite and files in a work folder, a broker),
its processes (a Celery worker, a web server) and the waits for them to be ready.

Imported as `bench.scratch_app` once a script has put the repository root on sys.path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def scratch_environment(
    workdir: str | None, *, prefix: str, broker: str | None, redis_db: int, **settings: str
) -> tuple[Path, str]:
    """(the work folder, the broker URL), with this process's environment set for the app to
    keep its files under work/var and its database in work/db.sqlite3 (unless DATABASE_URL
    is set). workdir: None makes a temp folder named `prefix`...; broker: None takes Redis
    database `redis_db` when Redis answers on 6379, else the embedded filesystem broker.
    settings: more environment variables for the app."""
    work = Path(workdir or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    if broker is None:
        broker = f"redis://127.0.0.1:6379/{redis_db}" if redis_answers() else "filesystem://"
    os.environ.update(
        VAR_DIR=str(work / "var"),
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        CELERY_BROKER_URL=broker,
        DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite:///{work / 'db.sqlite3'}"),
        **settings,
    )
    return work, broker


def start(command: list[str], log: Path) -> subprocess.Popen:
    """`command` run from the repository root with this environment, its output to `log`."""
    out = log.open("wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=out)


def wait_for(
    what: str, ready: Callable[[], bool], process: subprocess.Popen, log: Path, timeout: float
) -> None:
    """Poll `ready()` until it is true; fail with the log's tail if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        if ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} was not ready in {timeout:.0f} s")


def start_worker(work: Path) -> subprocess.Popen:
    """A solo-pool Celery worker on the train queue, logging to work/worker.log."""
    celery = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "train"]
    options = ["--pool", "solo", "-n", "bench-train@%h", "--loglevel", "INFO"]
    return start(celery + options, work / "worker.log")


def wait_ready(work: Path, worker: subprocess.Popen, timeout: float = 120) -> None:
    """Until the worker of start_worker(work) says it is ready."""
    log = work / "worker.log"
    wait_for("the worker", lambda: b"ready." in log.read_bytes(), worker, log, timeout)
