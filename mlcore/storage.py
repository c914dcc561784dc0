"""Reading bytes at a local path or an `s3://bucket/key` URI, atomic local writes, and the
mirror that keeps a job's checkpoints in a bucket (S3CheckpointMirror).

S3 goes through boto3 with an endpoint URL of choice (SeaweedFS, MinIO, AWS). Settings come
from arguments or, when left out, from MLCORE_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import uuid
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


def file_digest(path: str | os.PathLike[str]) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


POINTER_NAME = "latest.json"


@dataclass(frozen=True)
class S3CheckpointMirror:
    """A job's checkpoints and small files, copied from its local folder `root` to
    s3://bucket/prefix/ so that the job can resume on a machine that shares only the bucket.

    A checkpoint at root/<dir>/checkpoint.pt goes to prefix/checkpoints/<dir>/: uploaded
    under a key of its own (epoch-0003-<random>.pt), then published by rewriting
    latest.json beside it (its key, epoch, size and sha256). A PUT replaces a whole object
    or nothing, so a reader of latest.json only ever finds a checkpoint that was uploaded
    in full; a failed upload leaves the previous one published. Checkpoints other than the
    last `keep` published ones are deleted after each publish. A small file at root/<rel>
    goes to prefix/files/<rel> in one PUT. Picklable: DDP ranks get a copy."""

    bucket: str
    prefix: str  # e.g. "runs/42"
    root: str  # the local folder that mirrors prefix
    s3: S3Options | None = None
    keep: int = 2  # published checkpoints kept

    def checkpoint_folder(self, path: str | os.PathLike[str]) -> str:
        rel = Path(path).parent.relative_to(self.root).as_posix()
        return "/".join(p for p in (self.prefix, "checkpoints", rel) if p and p != ".")

    def file_key(self, path: str | os.PathLike[str]) -> str:
        return f"{self.prefix}/files/{Path(path).relative_to(self.root).as_posix()}"

    def published(self, path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The pointer of the checkpoint published for local `path`, or None."""
        key = f"{self.checkpoint_folder(path)}/{POINTER_NAME}"
        try:
            data = read_bytes(f"s3://{self.bucket}/{key}", s3=self.s3)
        except FileNotFoundError:
            return None
        return dict(json.loads(data))

    def publish(self, path: str | os.PathLike[str], *, epoch: int) -> None:
        """Upload the checkpoint at `path` (`epoch` epochs done), publish it, prune."""
        client = s3_client(self.s3)
        folder = self.checkpoint_folder(path)
        size, sha256 = file_digest(path)
        key = f"{folder}/epoch-{epoch:04d}-{uuid.uuid4().hex[:8]}.pt"
        client.upload_file(str(path), self.bucket, key)
        previous = self.published(path)
        kept = [key, *(previous or {}).get("kept", [])][: self.keep]
        pointer = {"key": key, "epoch": epoch, "size": size, "sha256": sha256, "kept": kept}
        client.put_object(
            Bucket=self.bucket,
            Key=f"{folder}/{POINTER_NAME}",
            Body=json.dumps(pointer).encode(),
            ContentType="application/json",
        )
        self.prune(folder, keep=set(kept))

    def prune(self, folder: str, *, keep: set[str]) -> None:
        """Delete the checkpoints under `folder` not in `keep` (older ones, failed uploads)."""
        client = s3_client(self.s3)
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{folder}/epoch-"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                if obj["Key"] not in keep:
                    client.delete_object(Bucket=self.bucket, Key=obj["Key"])

    def pull(self, path: str | os.PathLike[str], *, newer_than: int = 0) -> bool:
        """Download the published checkpoint to `path` when it has more than `newer_than`
        epochs done; True if it did. The file is checked against the pointer's size and
        sha256 before it replaces `path` (ValueError on a mismatch, `path` untouched)."""
        pointer = self.published(path)
        if pointer is None or int(pointer["epoch"]) <= newer_than:
            return False
        client = s3_client(self.s3)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            client.download_file(self.bucket, pointer["key"], tmp)
            if file_digest(tmp) != (int(pointer["size"]), pointer["sha256"]):
                raise ValueError(
                    f"s3://{self.bucket}/{pointer['key']} does not match its latest.json "
                    "(size or sha256); the checkpoint was not restored."
                )
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def put_file(self, path: str | os.PathLike[str]) -> None:
        """Copy a small file of the job (frozen inputs, cached results) to the bucket."""
        s3_client(self.s3).put_object(
            Bucket=self.bucket, Key=self.file_key(path), Body=Path(path).read_bytes()
        )

    def get_file(self, path: str | os.PathLike[str]) -> bool:
        """Restore a file put_file() copied, unless `path` exists; True if `path` exists now."""
        if Path(path).exists():
            return True
        try:
            data = read_bytes(f"s3://{self.bucket}/{self.file_key(path)}", s3=self.s3)
        except FileNotFoundError:
            return False
        write_bytes_atomic(path, data)
        return True
