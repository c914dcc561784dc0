"""A private redis-server on a free loopback port, for tests that stop and restart the broker
(the shared Redis on 6379 is left alone)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.support.services import free_port, port_open, require


class RedisServer:
    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        require("redis-server", binary is not None, "the redis-server binary is not installed")
        self.binary = str(binary)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Append-only file, as in docker/compose.yaml: queued tasks survive a restart.
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the server owns it
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", self.port):
            assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "redis-server did not start in 20 s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes its append-only file and exits
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self, *, down_for: float = 2.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()
