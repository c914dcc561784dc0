"""Embedding maps: a 2-D layout of a dataset's similarity vectors or of a classifier run's
probabilities, computed on the cpu queue and kept as a storage artifact; and the saved
selections a lasso on the map makes."""

from __future__ import annotations

import io
import uuid
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from curation import roles
from curation.models import (
    Dataset,
    EmbeddingMap,
    MapSelection,
    RunImage,
    SimilarityIndex,
    TrainingRun,
)
from curation.queries.embedding_maps import read_layout
from curation.queries.scores import decoded_probs
from curation.services import queue
from curation.services.job_rows import mark_unqueued, run_build
from mlcore.eval.embedding_map import inside_polygon, layout_2d, unit_square

BUILD = "curation.build_embedding_map"
MAX_POLYGON = 2000  # vertices a lasso may send


class MapError(Exception):
    """A map request that can't be done; the message says why and what to do."""


def start_embedding_map(
    *, dataset: Dataset, actor, source: str, run: TrainingRun | None = None
) -> EmbeddingMap:
    """Queue a layout of the dataset's current similarity index (source "similarity") or of
    a finished classifier run's probabilities (source "classifier", `run`)."""
    roles.check(actor, "build_index")
    index = None
    if source == EmbeddingMap.Source.SIMILARITY:
        index = (
            SimilarityIndex.objects.filter(dataset=dataset, status=SimilarityIndex.Status.READY)
            .order_by("-id")
            .first()
        )
        if index is None:
            raise MapError(f"{dataset.name} has no similarity index yet: build one first.")
        run = None
    elif source == EmbeddingMap.Source.CLASSIFIER:
        if (
            run is None
            or run.kind != TrainingRun.Kind.CLASSIFIER
            or run.status != TrainingRun.Status.SUCCEEDED
            or run.dataset_id != dataset.pk
        ):
            raise MapError(f"Pick a finished classifier run of {dataset.name}.")
    else:
        raise MapError(f"'{source}' is not a map source (similarity or classifier).")
    row = EmbeddingMap.objects.create(
        dataset=dataset, source=source, index=index, run=run, created_by=actor
    )
    queue.enqueue(BUILD, row.pk, queue=queue.CPU, on_broker_error=fail_unqueued)
    return row


def fail_unqueued(map_id: int, exc: Exception) -> None:
    queued = EmbeddingMap.objects.filter(pk=map_id, status=EmbeddingMap.Status.QUEUED)
    mark_unqueued(queued, EmbeddingMap.Status.FAILED, exc, again="start the map again")


def _vectors(row: EmbeddingMap) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N,) int64 ascending, vectors (N, D) float32) of the map's source."""
    if row.source == EmbeddingMap.Source.SIMILARITY:
        from mlcore.similarity import VectorIndex

        if row.index is None or not row.index.artifact:
            raise MapError("the similarity index of this map is gone; build a new map")
        with default_storage.open(row.index.artifact, "rb") as handle:
            index = VectorIndex.from_bytes(handle.read())
        ids = np.sort(index.ids)
        return ids, index.vectors(ids)
    if row.run is None:
        raise MapError("the run of this map is gone; build a new map")
    rows = (
        RunImage.objects.filter(run=row.run)
        .exclude(probs=None)
        .order_by("image_id")
        .values_list("image_id", "probs")
    )
    found: list[int] = []
    probs = []
    for image_id, raw in rows.iterator(chunk_size=5000):
        found.append(image_id)
        probs.append(decoded_probs(raw))
    # Log-probabilities: distances between confident predictions stay meaningful.
    vectors = np.log(np.clip(np.array(probs, np.float32), 1e-6, 1.0))
    return np.array(found, np.int64), vectors.reshape(len(found), -1)


def _store(row: EmbeddingMap, ids: np.ndarray, xy: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.savez(buffer, ids=ids.astype(np.int64), xy=xy.astype(np.float16))
    # A key no other layout ever had (read_layout caches by key; ids can be reused after a
    # dataset is deleted and made again, and in tests after each flush).
    key = f"maps/{row.dataset.name}/{row.pk}-{uuid.uuid4().hex[:16]}.npz"
    return default_storage.save(key, ContentFile(buffer.getvalue()))


def build_embedding_map(map_id: int) -> str:
    """The task's body: collect the vectors, lay them out, store the layout."""
    row = EmbeddingMap.objects.select_related("dataset", "index", "run").get(pk=map_id)
    if row.status in (EmbeddingMap.Status.READY, EmbeddingMap.Status.FAILED):
        return "already finished"
    EmbeddingMap.objects.filter(pk=row.pk).update(status=EmbeddingMap.Status.BUILDING)
    return run_build(row, lambda: _lay_out(row))


def _lay_out(row: EmbeddingMap) -> dict[str, Any]:
    """The map's layout, stored; the fields its ready row gets."""
    ids, vectors = _vectors(row)
    if not ids.shape[0]:
        raise MapError("the source has no vectors to lay out")
    layout = layout_2d(vectors)
    key = _store(row, ids, unit_square(layout.xy))
    return {"method": layout.method, "count": int(ids.shape[0]), "artifact": key}


def clean_polygon(raw) -> np.ndarray:
    """(M, 2) float64 from a JSON list of [x, y] pairs in the unit square; MapError naming
    the problem otherwise."""
    if not isinstance(raw, list) or not 3 <= len(raw) <= MAX_POLYGON:
        raise MapError(f"polygon must be a list of 3 to {MAX_POLYGON} [x, y] points")
    try:
        polygon = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise MapError("polygon points must be [x, y] pairs of numbers") from None
    if polygon.shape != (len(raw), 2) or not np.isfinite(polygon).all():
        raise MapError("polygon points must be [x, y] pairs of finite numbers")
    return polygon


@transaction.atomic
def save_map_selection(*, emap: EmbeddingMap, polygon_raw, actor) -> MapSelection:
    """The images of the map inside the lasso, saved for the gallery to page through."""
    polygon = clean_polygon(polygon_raw)
    layout = read_layout(emap)
    chosen = layout.ids[inside_polygon(layout.xy.astype(np.float64), polygon)]
    return MapSelection.objects.create(
        map=emap,
        image_ids=chosen.tolist(),
        polygon=polygon.round(5).tolist(),
        created_by=actor,
    )
