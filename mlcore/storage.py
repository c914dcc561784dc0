"""Reading bytes at a local path or an `s3://bucket/key` URI, and atomic local writes.

S3 goes through boto3 with an endpoint URL of choice (SeaweedFS, MinIO, AWS). Settings come
from arguments or, when left out, from MLCORE_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None  # None: AWS itself
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None

    @classmethod
    def from_env(cls, **overrides: str | None) -> S3Options:
        """Options from the environment; non-None keyword overrides win."""
        env = {
            "endpoint_url": os.environ.get("MLCORE_S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "region": os.environ.get("AWS_DEFAULT_REGION") or None,
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)


_clients: dict[tuple[int, S3Options], Any] = {}
_clients_lock = threading.Lock()


def s3_client(options: S3Options | None = None) -> Any:
    """A boto3 S3 client, one per process and options (clients must not cross a fork)."""
    options = options or S3Options.from_env()
    key = (os.getpid(), options)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3  # only S3 users pay for the import
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=options.endpoint_url,
                aws_access_key_id=options.access_key,
                aws_secret_access_key=options.secret_key,
                region_name=options.region or "us-east-1",
                config=Config(retries={"max_attempts": 3, "mode": "standard"}),
            )
            _clients[key] = client
    return client


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith(S3_SCHEME)


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key"); ValueError without a bucket."""
    rest = uri[len(S3_SCHEME) :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket; write s3://BUCKET/KEY.")
    return bucket, key.strip("/")


def read_bytes(uri: str | os.PathLike[str], *, s3: S3Options | None = None) -> bytes:
    """The whole object or file. Raises FileNotFoundError for a missing one."""
    uri = str(uri)
    if not is_s3(uri):
        return Path(uri).read_bytes()
    bucket, key = split_s3(uri)
    client = s3_client(s3)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey as exc:
        raise FileNotFoundError(f"{uri}: no such object") from exc
    except client.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"404", "NoSuchKey", "NoSuchBucket"}:
            raise FileNotFoundError(f"{uri}: no such object ({code})") from exc
        raise
    return bytes(response["Body"].read())


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on a clean exit it is flushed,
    fsynced and renamed over `path`. A crash or an exception leaves the previous file (or
    none), never half of a new one, and no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
