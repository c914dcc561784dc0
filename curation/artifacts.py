"""Run artifacts: where models are stored, how a stored model is loaded back, where a run
works and keeps its checkpoints, and how images are cropped for the embedder (a box drawn
by a person, else the run's localizer's box).

Used by the run workers (store), the index builds and the search side (load), so it lives
beside them rather than in either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from curation.models import Image, SimilarityIndex, TrainingRun
from curation.storage import item_uri, local_storage_location, s3_options


def models_destination() -> str:
    """Where a classifier run's model folder goes: under storage's models/."""
    location = local_storage_location()
    if location is not None:
        return str(Path(location) / "models")
    return f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/models"


def run_folder(run_id: int) -> Path:
    """The run's local working folder (checkpoints, frozen inputs) on this machine."""
    return Path(settings.CURATION_RUNS_DIR) / str(run_id)


def run_mirror(run_id: int):
    """The S3CheckpointMirror that keeps the run's checkpoints and frozen inputs under
    runs/<id>/ in the bucket, so that a worker on another machine resumes it; None when
    storage is local files (the runs folder is then the only copy)."""
    from mlcore.storage import S3CheckpointMirror

    if local_storage_location() is not None:
        return None
    return S3CheckpointMirror(
        bucket=settings.AWS_STORAGE_BUCKET_NAME,
        prefix=f"runs/{run_id}",
        root=str(run_folder(run_id)),
        s3=s3_options(),
    )


def store_artifact(path: Path, key: str) -> str:
    """Copy a checkpoint into the app's storage under `key`; returns the URI mlcore reads."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    if default_storage.exists(key):  # a redelivered task: replace, don't fork a copy
        default_storage.delete(key)
    with open(path, "rb") as handle:
        saved = default_storage.save(key, File(handle))
    return item_uri(saved)


def local_artifact(uri: str) -> str:
    """A local path for a stored model: the path itself, or an s3:// object downloaded once
    into VAR_DIR/cache/models (keys name one run's file, so a copy never goes stale)."""
    from mlcore.storage import is_s3, read_bytes, write_bytes_atomic

    if not is_s3(uri):
        return uri
    name = hashlib.sha256(uri.encode()).hexdigest()[:24] + "-" + uri.rsplit("/", 1)[-1]
    path = Path(settings.VAR_DIR) / "cache" / "models" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, read_bytes(uri, s3=s3_options()))
    return str(path)


def run_embedder(run: TrainingRun):
    """The triplet net of a succeeded similarity run, on the CPU."""
    from mlcore.similarity import triplet_embedder

    return triplet_embedder(local_artifact(run.artifact_uri))


def run_localizer(run: TrainingRun | None):
    """The run's dress localizer, or None when it trained none."""
    uri = ((run.metrics or {}).get("localizer") or {}).get("uri") if run is not None else None
    if not uri:
        return None
    from mlcore.similarity import load_localizer

    return load_localizer(local_artifact(uri))


def index_embedder(row: SimilarityIndex):
    """The embedder an index is built with: its run's triplet net, else the pretrained one."""
    from mlcore.similarity import pretrained_embedder

    if row.run is not None:
        return run_embedder(row.run)
    return pretrained_embedder(image_size=settings.CURATION_EMBED_SIZE, device="cpu")


def uris_and_boxes(images: Iterable[Image], localizer=None) -> tuple[list[int], list[str], list]:
    """Ground-truth boxes in pixels; without one, the localizer's box when there is one."""
    ids, uris, boxes = [], [], []
    for im in images:
        box = getattr(im, "box", None)
        ids.append(im.pk)
        uris.append(item_uri(im.file))
        boxes.append(box.pixels(im.width, im.height) if box is not None and im.width else None)
    return ids, uris, fill_boxes(localizer, uris, boxes)


def fill_boxes(localizer, uris: list[str], boxes: list) -> list:
    """boxes with each None replaced by the localizer's box of that image (pixels), where it
    finds one; unchanged without a localizer. The index build and the query side both crop
    this way, so a query is embedded like the images it is compared with."""
    missing = [i for i, b in enumerate(boxes) if b is None]
    if localizer is None or not missing:
        return boxes
    from mlcore.similarity import locate

    boxes = list(boxes)
    found = locate(localizer, [uris[i] for i in missing], s3=s3_options())
    for r, pos in enumerate(found.indices.tolist()):
        boxes[missing[pos]] = tuple(float(v) for v in found.boxes[r])
    return boxes
