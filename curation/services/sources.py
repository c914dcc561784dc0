"""Where a catalog comes from: a folder holding labels.csv, a CSV file, or s3://bucket/prefix/.

Every source answers two questions, relative to its root: the manifest's bytes, and a file's
bytes. Paths from manifests are checked here so that none escapes the root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from django.conf import settings

from curation.probe import read_local

MANIFEST_NAME = "labels.csv"


class SourceError(Exception):
    """The source as a whole can't be used (missing, unreadable, malformed header)."""


class UnsafePath(ValueError):
    """A manifest path that is empty, absolute or escapes the catalog root."""


def clean_relpath(raw: str) -> str:
    """Normalise a manifest path to 'a/b.png', refusing anything that could leave the root."""
    if not raw or not raw.strip():
        raise UnsafePath("empty path")
    if "\x00" in raw:
        raise UnsafePath("path contains a NUL byte")
    if "\\" in raw:
        raise UnsafePath(f"path '{raw}' uses backslashes; use '/'")
    path = PurePosixPath(raw.strip())
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise UnsafePath(f"path '{raw}' is absolute; paths must be relative to the catalog")
    if any(part == ".." for part in path.parts):
        raise UnsafePath(f"path '{raw}' escapes the catalog root ('..')")
    parts = [p for p in path.parts if p not in {".", ""}]
    if not parts:
        raise UnsafePath("empty path")
    return "/".join(parts)


class CatalogSource(Protocol):
    @property
    def description(self) -> str: ...

    def read_manifest(self) -> bytes: ...

    def read(self, relpath: str) -> bytes: ...


@dataclass
class LocalSource:
    root: Path
    manifest: Path

    @property
    def description(self) -> str:
        return str(self.manifest)

    def read_manifest(self) -> bytes:
        try:
            return self.manifest.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {self.manifest}: {exc.strerror or exc}") from exc

    def read(self, relpath: str) -> bytes:
        try:
            return read_local(self.root, relpath, settings.CURATION_MAX_FILE_MB * 1024 * 1024)
        except PermissionError as exc:
            raise UnsafePath(str(exc)) from exc


@dataclass
class S3Source:
    bucket: str
    prefix: str  # '' or ends with '/'
    manifest_key: str

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.manifest_key}"

    def _client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=settings.CURATION_SOURCE_S3_ENDPOINT_URL,
            region_name=settings.AWS_S3_REGION_NAME,
            aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
            aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        )

    def __post_init__(self) -> None:
        self._s3 = self._client()

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            obj = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(f"object not found: s3://{self.bucket}/{key}") from exc
            if code == "NoSuchBucket":
                raise SourceError(f"bucket '{self.bucket}' does not exist") from exc
            raise
        max_bytes = settings.CURATION_MAX_FILE_MB * 1024 * 1024
        if obj.get("ContentLength", 0) > max_bytes:
            obj["Body"].close()
            raise ValueError(f"object is larger than {settings.CURATION_MAX_FILE_MB} MB")
        return obj["Body"].read()

    def read_manifest(self) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._get(self.manifest_key)
        except FileNotFoundError as exc:
            raise SourceError(f"no {MANIFEST_NAME} at {self.description}") from exc
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"cannot read {self.description}: {exc}") from exc

    def read(self, relpath: str) -> bytes:
        return self._get(self.prefix + relpath)


def open_source(uri: str) -> CatalogSource:
    """Resolve a user-given source string; raise SourceError naming what is wrong."""
    if uri.startswith("s3://"):
        rest = uri[len("s3://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise SourceError(f"'{uri}' names no bucket; use s3://bucket/prefix/")
        # Some S3 servers map keys onto folders, where '..' could reach another bucket.
        if any(part in {".", ".."} for part in key.split("/")) or "\\" in key:
            raise SourceError(f"'{uri}' has '.', '..' or '\\' in its key; give a plain prefix")
        if key.endswith(".csv"):
            prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            return S3Source(bucket=bucket, prefix=prefix, manifest_key=key)
        prefix = key if not key or key.endswith("/") else key + "/"
        return S3Source(bucket=bucket, prefix=prefix, manifest_key=prefix + MANIFEST_NAME)
    path = Path(os.path.expanduser(uri))
    if path.is_dir():
        manifest = path / MANIFEST_NAME
        if not manifest.is_file():
            raise SourceError(f"folder {path} has no {MANIFEST_NAME}")
        return LocalSource(root=path.resolve(), manifest=manifest)
    if path.is_file():
        return LocalSource(root=path.parent.resolve(), manifest=path)
    raise SourceError(
        f"{uri} does not exist (give a folder with {MANIFEST_NAME}, a CSV file or s3://bucket/prefix/)"
    )
