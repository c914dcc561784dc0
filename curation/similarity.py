"""Similar dresses, read side: the dataset's current index (loaded once per process and
reloaded when a build or an extension replaces it), a label table from today's labels
(the promoted model's predictions fill images nobody labelled), and the searches."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Max

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    Label,
    LabelEvent,
    PromotedModel,
    RunImage,
    SimilarityIndex,
)

_lock = threading.Lock()
_indexes: dict[int, tuple[str, object]] = {}  # index row id -> (artifact key, VectorIndex)
_embedders: dict[str, object] = {}
_tables: dict[int, tuple[tuple, object, list[Attribute], list[dict[int, Label]]]] = {}


class SearchError(Exception):
    """A search that can't be answered; the message says why and what to do."""


def current_index(dataset: Dataset) -> SimilarityIndex | None:
    return (
        SimilarityIndex.objects.filter(dataset=dataset, status=SimilarityIndex.Status.READY)
        .select_related("run")
        .order_by("-id")
        .first()
    )


def _loaded(row: SimilarityIndex):
    from mlcore.similarity import VectorIndex

    with _lock:
        cached = _indexes.get(row.pk)
        if cached is None or cached[0] != row.artifact:
            with default_storage.open(row.artifact, "rb") as handle:
                _indexes[row.pk] = (row.artifact, VectorIndex.from_bytes(handle.read()))
        return _indexes[row.pk][1]


def _embedder(row: SimilarityIndex):
    from django.conf import settings

    from curation.services.similarity_runs import run_embedder
    from mlcore.similarity import pretrained_embedder

    key = f"run:{row.run_id}" if row.run_id else f"pretrained:{settings.CURATION_EMBED_SIZE}"
    with _lock:
        if key not in _embedders:
            _embedders[key] = (
                run_embedder(row.run)
                if row.run_id
                else pretrained_embedder(image_size=settings.CURATION_EMBED_SIZE, device="cpu")
            )
        return _embedders[key]


def label_table(dataset: Dataset):
    """(LabelTable, attributes, [label by index] per attribute) for every usable image.

    Rebuilt when any label changes (the newest history id moves) or a model is promoted.
    """
    from mlcore.similarity import LabelTable

    stamp = (
        LabelEvent.objects.aggregate(m=Max("id"))["m"],
        tuple(
            PromotedModel.objects.filter(attribute__dataset=dataset).values_list(
                "run_id", flat=True
            )
        ),
        Image.objects.filter(dataset=dataset).aggregate(m=Max("id"))["m"],
    )
    with _lock:
        cached = _tables.get(dataset.pk)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2], cached[3]
    attributes = list(
        Attribute.objects.filter(dataset=dataset)
        .prefetch_related("labels")
        .order_by("position", "id")
    )
    ids = np.array(list(Image.objects.filter(dataset=dataset, status="ok").order_by("id").values_list("id", flat=True)), dtype=np.int64)  # fmt: skip
    labels = np.full((len(ids), len(attributes)), -1, dtype=np.int64)
    row_of = {int(i): r for r, i in enumerate(ids)}
    by_index = []
    for col, attr in enumerate(attributes):
        ordered = sorted(attr.labels.all(), key=lambda lab: (lab.position, lab.pk))
        at = {lab.pk: i for i, lab in enumerate(ordered)}
        by_index.append(dict(enumerate(ordered)))
        promoted = (
            PromotedModel.objects.filter(attribute=attr).values_list("run_id", flat=True).first()
        )
        if promoted:  # the model's guess first, a person's label overrides it below
            for image_id, label_id in RunImage.objects.filter(run_id=promoted).exclude(predicted_label=None).values_list("image_id", "predicted_label_id"):  # fmt: skip
                if image_id in row_of and label_id in at:
                    labels[row_of[image_id], col] = at[label_id]
        for image_id, label_id in Annotation.objects.filter(attribute=attr, label__isnull=False).values_list("image_id", "label_id"):  # fmt: skip
            if image_id in row_of:
                labels[row_of[image_id], col] = at[label_id]
    table = LabelTable(ids, labels, [a.name for a in attributes])
    with _lock:
        _tables[dataset.pk] = (stamp, table, attributes, by_index)
    return table, attributes, by_index


@dataclass
class Hit:
    image: Image
    score: float
    agreements: int | None  # other attributes equal to the query's ("differs in" search)
    labels: list[tuple[str, str]]  # (attribute, label or "?") in attribute order


@dataclass
class Query:
    k: int = 12
    differs_in: str = ""  # attribute name
    value: str = ""  # label name (optional with differs_in)


def _hits(dataset, ids, scores, agreements, table, attributes, by_index) -> list[Hit]:
    images = Image.objects.in_bulk([int(i) for i in ids])
    rows = table.of(ids)
    hits = []
    for n, image_id in enumerate(ids):
        image = images.get(int(image_id))
        if image is None:  # deleted since the index was built
            continue
        names = [
            (attr.name, by_index[c][int(rows[n, c])].name if rows[n, c] >= 0 else "?")
            for c, attr in enumerate(attributes)
        ]
        hits.append(
            Hit(image, float(scores[n]), None if agreements is None else int(agreements[n]), names)
        )
    return hits


def search(dataset: Dataset, vector: np.ndarray, query_labels: np.ndarray | None, query: Query, *, exclude: int | None = None) -> list[Hit]:  # fmt: skip
    """Search the dataset's current index with a (D,) unit vector."""
    from mlcore.similarity import differs_search, similar

    row = current_index(dataset)
    if row is None:
        raise SearchError(f"'{dataset.name}' has no similarity index yet; a data scientist can build one on the similarity page.")  # fmt: skip
    index = _loaded(row)
    table, attributes, by_index = label_table(dataset)
    exclude_ids = [exclude] if exclude is not None else None
    if not query.differs_in:
        found = similar(index, vector, k=query.k, exclude_ids=exclude_ids)
        return _hits(dataset, found.ids, found.scores, None, table, attributes, by_index)
    names = [a.name for a in attributes]
    if query.differs_in not in names:
        raise SearchError(f"'{query.differs_in}' is not an attribute of {dataset.name} (it has: {', '.join(names)}).")  # fmt: skip
    col = names.index(query.differs_in)
    value = None
    if query.value:
        matches = [i for i, lab in by_index[col].items() if lab.name == query.value]
        if not matches:
            raise SearchError(f"'{query.value}' is not a label of {query.differs_in}.")
        value = matches[0]
    q = query_labels if query_labels is not None else np.full(len(attributes), -1, np.int64)
    try:
        found = differs_search(
            index, vector, q, table, col, value=value, k=query.k, exclude_ids=exclude_ids
        )
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    return _hits(dataset, found.ids, found.scores, found.agreements, table, attributes, by_index)


def similar_to_image(image: Image, query: Query) -> list[Hit]:
    row = current_index(image.dataset)
    if row is None:
        raise SearchError(f"'{image.dataset.name}' has no similarity index yet; a data scientist can build one on the similarity page.")  # fmt: skip
    index = _loaded(row)
    if image.pk in index:
        vector = index.vectors([image.pk])[0]
    else:  # added after the last build: embed it now
        from curation.services.training_exec import item_uri

        vector = _embed_files(row, [item_uri(image.file)])
    table, _, _ = label_table(image.dataset)
    return search(image.dataset, vector, table.of([image.pk])[0], query, exclude=image.pk)


def similar_to_upload(dataset: Dataset, data: bytes, name: str, query: Query) -> list[Hit]:
    """A photo from the user's disk (validated like an import: formats, pixels, bombs)."""
    from django.conf import settings

    from curation.imaging import Rejection, inspect_image

    if len(data) > settings.CURATION_MAX_FILE_MB * 1024 * 1024:
        raise SearchError(f"the photo is larger than {settings.CURATION_MAX_FILE_MB} MB")
    facts = inspect_image(data, name=name, max_pixels=settings.CURATION_MAX_IMAGE_PIXELS)
    if isinstance(facts, Rejection):
        raise SearchError(f"{name}: {facts.reason}")
    row = current_index(dataset)
    if row is None:
        raise SearchError(f"'{dataset.name}' has no similarity index yet; a data scientist can build one on the similarity page.")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"query{Path(name).suffix.lower()}"
        path.write_bytes(data)
        vector = _embed_files(row, [str(path)])
    if query.differs_in and not query.value:
        raise SearchError("for an uploaded photo, say which label the results should have (its own labels are unknown)")  # fmt: skip
    return search(dataset, vector, None, query)


def _embed_files(row: SimilarityIndex, uris: list[str]) -> np.ndarray:
    from curation.services.training_exec import _s3_options
    from mlcore.similarity import embed_images

    found = embed_images(_embedder(row), uris, batch_size=8, s3=_s3_options())
    if not len(found.indices):
        reason = found.skipped[0][1] if found.skipped else "unreadable"
        raise SearchError(f"the image could not be embedded: {reason}")
    return found.vectors[0]


MAX_K = 100


def parse_query(params) -> Query:
    raw_k = params.get("k") or "12"
    if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_K:
        raise SearchError(f"k must be a whole number from 1 to {MAX_K}, not '{raw_k}'")
    return Query(k=int(raw_k), differs_in=params.get("differs_in", "").strip(), value=params.get("value", "").strip())  # fmt: skip


def hits_json(hits: list[Hit], request) -> list[dict]:
    return [
        {
            "id": h.image.pk, "score": round(h.score, 5), "agreements": h.agreements,
            "labels": dict(h.labels), "url": request.build_absolute_uri(h.image.get_absolute_url()),
            "source_path": h.image.source_path,
        }
        for h in hits
    ]  # fmt: skip
