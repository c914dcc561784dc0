"""Saved models: versioned artifacts in a local folder or under an s3:// prefix.

Layout: <dest>/<name>/v0001/{weights.pt, meta.json, metrics.json}. A version is never
overwritten and never half-written: locally it is built in a temporary folder and renamed
into place; on S3 every object is put with If-None-Match and meta.json, written last,
marks the version complete. `latest` is the highest complete version.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from mlcore.config import TrainConfig
from mlcore.models import Classifier, build_model, channels_last_ok
from mlcore.storage import S3Options, is_s3, read_bytes, s3_client, split_s3

FORMAT = 1
WEIGHTS, META, METRICS = "weights.pt", "meta.json", "metrics.json"
_VERSION = re.compile(r"^v(\d{4,})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class SavedModel:
    model: Classifier  # in eval mode
    label_names: list[str]
    config: TrainConfig
    metrics: dict[str, Any] | None
    uri: str  # of the exact version (or checkpoint file) loaded
    version: int  # 0 for a checkpoint file


def save_model(
    dest: str | os.PathLike[str],
    *,
    name: str,
    model: Classifier,
    label_names: Sequence[str],
    config: TrainConfig,
    metrics: dict[str, Any] | None = None,
    s3: S3Options | None = None,
) -> str:
    """Store a new version of model `name` under `dest` (folder or s3://bucket/prefix);
    returns the version's URI, e.g. s3://models/shoes/v0003."""
    if not _NAME.match(name):
        raise ValueError(f"model name {name!r}: use letters, digits, '.', '_' and '-' only")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    meta = {
        "format": FORMAT,
        "name": name,
        "arch": config.arch,
        "label_names": list(label_names),
        "config": config.to_dict(),
        "created_at": datetime.now(UTC).isoformat(),
        "torch": torch.__version__,
    }
    files = {WEIGHTS: buffer.getvalue()}
    if metrics is not None:
        files[METRICS] = json.dumps(metrics, indent=1).encode()
    if is_s3(dest):
        return _save_s3(str(dest), name, files, meta, s3)
    return _save_local(Path(dest), name, files, meta)


def _encode_meta(meta: dict[str, Any], version: int) -> bytes:
    return json.dumps({**meta, "version": version}, indent=1).encode()


def _save_local(dest: Path, name: str, files: dict[str, bytes], meta: dict[str, Any]) -> str:
    root = dest / name
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        for filename, data in files.items():
            (tmp / filename).write_bytes(data)
        for _ in range(1000):
            taken = [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.match(p.name))]
            version = max(taken, default=0) + 1
            (tmp / META).write_bytes(_encode_meta(meta, version))
            target = root / f"v{version:04d}"
            try:
                os.rename(tmp, target)  # atomic; fails when target exists and is not empty
            except OSError:
                continue  # another writer took this number
            return str(target)
        raise RuntimeError(f"{root}: could not claim a new version number")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save_s3(
    dest: str, name: str, files: dict[str, bytes], meta: dict[str, Any], s3: S3Options | None
) -> str:
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3(dest)
    base = f"{prefix}/{name}" if prefix else name
    client = s3_client(s3)
    for _ in range(20):
        taken = _s3_versions(client, bucket, base, complete=False)
        version = max(taken, default=0) + 1
        key = f"{base}/v{version:04d}"
        try:
            for filename, data in [*files.items(), (META, _encode_meta(meta, version))]:
                client.put_object(
                    Bucket=bucket, Key=f"{key}/{filename}", Body=data, IfNoneMatch="*"
                )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                continue  # another writer got there first: try the next number
            raise
        return f"s3://{bucket}/{key}"
    raise RuntimeError(f"s3://{bucket}/{base}: could not claim a new version number")


def _s3_versions(client: Any, bucket: str, base: str, *, complete: bool) -> list[int]:
    """Version numbers under base/; complete=True keeps those with meta.json."""
    found: set[int] = set()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{base}/"):
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(base) + 1 :].split("/")
            m = _VERSION.match(parts[0])
            if m and (not complete or parts[-1] == META):
                found.add(int(m.group(1)))
    return sorted(found)


def list_versions(uri: str | os.PathLike[str], *, s3: S3Options | None = None) -> list[int]:
    """Complete versions of the model at `uri` (<dest>/<name>), oldest first."""
    uri = str(uri).rstrip("/")
    if is_s3(uri):
        bucket, base = split_s3(uri)
        return _s3_versions(s3_client(s3), bucket, base, complete=True)
    root = Path(uri)
    if not root.is_dir():
        return []
    return sorted(
        int(m.group(1))
        for p in root.iterdir()
        if (m := _VERSION.match(p.name)) and (p / META).is_file()
    )


def resolve(uri: str | os.PathLike[str], *, s3: S3Options | None = None) -> str:
    """<dest>/<name>, <dest>/<name>/latest or <dest>/<name>/v0003 -> the version's URI."""
    uri = str(uri).rstrip("/")
    head, _, last = uri.rpartition("/")
    if _VERSION.match(last):
        return uri
    if last == "latest":
        uri = head
    elif not is_s3(uri) and (Path(uri) / META).is_file():
        return uri  # a version folder copied elsewhere
    versions = list_versions(uri, s3=s3)
    if not versions:
        raise FileNotFoundError(f"{uri}: no saved model there (no complete vNNNN version)")
    return f"{uri}/v{versions[-1]:04d}"


def load_model(
    uri: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    s3: S3Options | None = None,
) -> SavedModel:
    """A saved version (see resolve) or a fit() checkpoint file, ready for inference.

    Raises FileNotFoundError when nothing is there."""
    uri = str(uri)
    if not is_s3(uri) and Path(uri).is_file():
        from mlcore.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(uri)
        config = TrainConfig.from_dict(ckpt["config"])
        names, state, metrics, version = list(ckpt["label_names"]), ckpt["model"], None, 0
    else:
        uri = resolve(uri, s3=s3)
        try:
            meta = json.loads(read_bytes(f"{uri}/{META}", s3=s3))
            raw = read_bytes(f"{uri}/{WEIGHTS}", s3=s3)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{uri}: incomplete saved model ({exc})") from exc
        config = TrainConfig.from_dict(meta["config"])
        names, version = list(meta["label_names"]), int(meta["version"])
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        try:
            metrics = json.loads(read_bytes(f"{uri}/{METRICS}", s3=s3))
        except FileNotFoundError:
            metrics = None
    model = build_model(config, len(names), load_weights=False)
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    if config.channels_last and channels_last_ok(model, torch.device(device)):
        model.to(memory_format=torch.channels_last)
    return SavedModel(model, names, config, metrics, uri, version)
