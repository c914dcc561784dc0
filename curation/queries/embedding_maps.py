"""What the embedding-map page reads: the dataset's current map, its layout (cached per
process by artifact key), each point's colour, and the compact payload the canvas draws:
every point up to POINTS_MAX, density bins per colour above."""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage

from curation.models import Annotation, Attribute, Dataset, EmbeddingMap, RunImage, TrainingRun
from curation.queries.quality import current_labels, default_run
from mlcore.eval.embedding_map import density_bins

POINTS_MAX = 200_000  # more points than this come as density bins
GRID = 256  # bins a side
COLOUR_MODES = ("label", "prediction", "correctness")
CORRECTNESS = ["right", "wrong", "not scored"]


@dataclass(frozen=True)
class StoredLayout:
    ids: np.ndarray  # (N,) int64 ascending
    xy: np.ndarray  # (N, 2) float16 in the unit square


def current_map(dataset: Dataset) -> EmbeddingMap | None:
    return (
        EmbeddingMap.objects.filter(dataset=dataset, status=EmbeddingMap.Status.READY)
        .select_related("run", "index")
        .order_by("-id")
        .first()
    )


@functools.lru_cache(maxsize=4)
def _layout_at(key: str) -> StoredLayout:
    with default_storage.open(key, "rb") as handle:
        found = np.load(io.BytesIO(handle.read()))
        return StoredLayout(found["ids"], found["xy"])


def read_layout(emap: EmbeddingMap) -> StoredLayout:
    """The map's stored layout (a new artifact key per map, so the cache never goes stale)."""
    return _layout_at(emap.artifact)


def colour_run(emap: EmbeddingMap, attribute: Attribute) -> TrainingRun | None:
    """The run whose predictions colour the map: the map's own run when it is one of this
    attribute's, else the attribute's promoted (or newest finished) run."""
    if emap.run is not None and emap.run.attribute_id == attribute.pk:
        return emap.run
    return default_run(attribute)


def _aligned(ids: np.ndarray, found: dict[int, int], missing: int) -> np.ndarray:
    codes = np.full(ids.shape[0], missing, np.int64)
    if found:
        keys = np.fromiter(found.keys(), np.int64, len(found))
        values = np.fromiter(found.values(), np.int64, len(found))
        pos = np.searchsorted(ids, keys)
        ok = (pos < ids.shape[0]) & (ids[np.minimum(pos, ids.shape[0] - 1)] == keys)
        codes[pos[ok]] = values[ok]
    return codes


def point_colours(
    emap: EmbeddingMap, attribute: Attribute, mode: str
) -> tuple[np.ndarray, list[str]]:
    """(codes (N,) int64 aligned with the layout's ids, legend names by code)."""
    ids = read_layout(emap).ids
    labels = current_labels(attribute)
    at = {lab.pk: i for i, lab in enumerate(labels)}
    names = [lab.name for lab in labels]
    if mode == "label":
        given = Annotation.objects.filter(
            attribute=attribute, image__dataset_id=emap.dataset_id, label__isnull=False
        ).values_list("image_id", "label_id")
        return _aligned(ids, {i: at[lab] for i, lab in given if lab in at}, len(names)), [
            *names,
            "no label",
        ]
    run = colour_run(emap, attribute)
    rows = (
        RunImage.objects.filter(run=run, predicted_label__isnull=False).values_list(
            "image_id", "predicted_label_id", "is_error"
        )
        if run is not None
        else []
    )
    if mode == "prediction":
        found = {i: at[p] for i, p, _ in rows if p in at}
        return _aligned(ids, found, len(names)), [*names, "not scored"]
    return _aligned(ids, {i: int(wrong) for i, _, wrong in rows}, 2), CORRECTNESS


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def points_payload(emap: EmbeddingMap, codes: np.ndarray, legend: list[str]) -> dict:
    """What static/js/embedding_map.js draws. Points: x, y as little-endian uint16 (the
    unit square times 65535) and c as uint8, base64. Bins: counts as uint32 and the top
    colour as uint8 of a GRID × GRID histogram, row by row from y = 0."""
    layout = read_layout(emap)
    unit = np.clip(layout.xy.astype(np.float32), 0.0, 1.0)
    head = {"count": int(unit.shape[0]), "legend": legend, "map": emap.pk}
    if unit.shape[0] <= POINTS_MAX:
        q = np.round(unit * 65535).astype("<u2")
        return head | {
            "mode": "points",
            "x": _b64(q[:, 0]),
            "y": _b64(q[:, 1]),
            "c": _b64(codes.astype(np.uint8)),
        }
    counts, top = density_bins(unit, codes, grid=GRID, colours=len(legend))
    return head | {
        "mode": "bins",
        "grid": GRID,
        "counts": _b64(counts.astype("<u4")),
        "top": _b64(top.astype(np.uint8)),
    }
