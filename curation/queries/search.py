"""Similar dresses: the dataset's current index (loaded once per process and
reloaded when a build or an extension replaces it), a label table from today's labels
(the promoted model's predictions fill images nobody labelled), and the searches."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Max

from curation import params as request_params
from curation.artifacts import fill_boxes, index_embedder, run_localizer, uris_and_boxes
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
from curation.storage import s3_options

_lock = threading.Lock()
_indexes: dict[int, tuple[str, object]] = {}  # index row id -> (artifact key, VectorIndex)
_embedders: dict[str, object] = {}
# dataset id -> (what the table was built from, last event id, LabelTable, attributes, labels)
_tables: dict[int, tuple[tuple, int, Any, list[Attribute], list[dict[int, Label]]]] = {}


class SearchError(Exception):
    """A search that can't be answered; the message says why and what to do."""


def current_index(dataset: Dataset) -> SimilarityIndex | None:
    return (
        SimilarityIndex.objects.filter(dataset=dataset, status=SimilarityIndex.Status.READY)
        .select_related("run")
        .order_by("-id")
        .first()
    )


def loaded_index(row: SimilarityIndex):
    """The row's VectorIndex, loaded once per process and again when its file changes."""
    from mlcore.similarity import VectorIndex

    with _lock:
        cached = _indexes.get(row.pk)
        if cached is None or cached[0] != row.artifact:
            with default_storage.open(row.artifact, "rb") as handle:
                _indexes[row.pk] = (row.artifact, VectorIndex.from_bytes(handle.read()))
        return _indexes[row.pk][1]


def _embedder(row: SimilarityIndex):
    """The index's embedder, once per process."""
    key = f"run:{row.run_id}" if row.run_id else f"pretrained:{settings.CURATION_EMBED_SIZE}"
    with _lock:
        if key not in _embedders:
            _embedders[key] = index_embedder(row)
        return _embedders[key]


def _localizer(row: SimilarityIndex):
    """The dress localizer of the run whose net built the index (None without one), once
    per process."""
    if row.run_id is None:
        return None
    key = f"localizer:{row.run_id}"
    with _lock:
        if key not in _embedders:
            _embedders[key] = run_localizer(row.run)
        return _embedders[key]


# More changed (image, attribute) pairs than this since the cached table: rebuild it whole.
DELTA_LIMIT = 5000


def label_table(dataset: Dataset):
    """(LabelTable, attributes, [label by index] per attribute) for every usable image.

    Built once per process; a label change applies the history events since then to a copy
    (the pairs they touch, read back from today's annotations), so a relabel never re-reads
    the catalog. A promoted model, a new image, a label added, renamed or moved, or a long gap
    rebuilds it whole.
    """
    events = LabelEvent.objects.aggregate(m=Max("id"))["m"] or 0
    base = (
        tuple(
            PromotedModel.objects.filter(attribute__dataset=dataset)
            .order_by("attribute_id")
            .values_list("attribute_id", "run_id")
        ),
        Image.objects.filter(dataset=dataset).aggregate(m=Max("id"))["m"],
        tuple(  # a new, renamed or reordered label changes the captions and positions
            Label.objects.filter(attribute__dataset=dataset)
            .order_by("id")
            .values_list("id", "name", "position")
        ),
    )
    with _lock:
        cached = _tables.get(dataset.pk)
    if cached is not None and cached[0] == base and cached[1] <= events:
        if cached[1] == events:
            return cached[2], cached[3], cached[4]
        table = _apply_events(dataset, cached, events)
        if table is not None:
            with _lock:
                _tables[dataset.pk] = (base, events, table, cached[3], cached[4])
            return table, cached[3], cached[4]
    table, attributes, by_index = build_table(dataset)
    with _lock:
        _tables[dataset.pk] = (base, events, table, attributes, by_index)
    return table, attributes, by_index


def _label_positions(
    attributes: list[Attribute],
) -> tuple[list[dict[int, Label]], list[dict[int, int]]]:
    by_index, position = [], []
    for attr in attributes:
        ordered = sorted(attr.labels.all(), key=lambda lab: (lab.position, lab.pk))
        by_index.append(dict(enumerate(ordered)))
        position.append({lab.pk: i for i, lab in enumerate(ordered)})
    return by_index, position


def build_table(dataset: Dataset):
    from mlcore.similarity import LabelTable

    attributes = list(
        Attribute.objects.filter(dataset=dataset)
        .prefetch_related("labels")
        .order_by("position", "id")
    )
    ids = np.array(
        list(
            Image.objects.filter(dataset=dataset, status="ok")
            .order_by("id")
            .values_list("id", flat=True)
        ),
        dtype=np.int64,
    )
    labels = np.full((len(ids), len(attributes)), -1, dtype=np.int64)
    row_of = {int(i): r for r, i in enumerate(ids)}
    by_index, position = _label_positions(attributes)
    for col, attr in enumerate(attributes):
        at = position[col]
        promoted = (
            PromotedModel.objects.filter(attribute=attr).values_list("run_id", flat=True).first()
        )
        if promoted:  # the model's guess first, a person's label overrides it below
            for image_id, label_id in (
                RunImage.objects.filter(run_id=promoted)
                .exclude(predicted_label=None)
                .values_list("image_id", "predicted_label_id")
            ):
                if image_id in row_of and label_id in at:
                    labels[row_of[image_id], col] = at[label_id]
        for image_id, label_id in Annotation.objects.filter(
            attribute=attr, label__isnull=False
        ).values_list("image_id", "label_id"):
            if image_id in row_of:
                labels[row_of[image_id], col] = at[label_id]
    return LabelTable(ids, labels, [a.name for a in attributes]), attributes, by_index


def _apply_events(dataset: Dataset, cached, events: int):
    """A new LabelTable with the (image, attribute) pairs changed by history events after
    cached[1] set from today's annotations (the promoted model's guess where a label was
    cleared), or None when there are too many to beat a rebuild."""
    base, since, table, attributes, _ = cached
    pairs = list(
        LabelEvent.objects.filter(pk__gt=since, pk__lte=events, image__dataset=dataset)
        .values_list("image_id", "attribute_id")
        .distinct()[: DELTA_LIMIT + 1]
    )
    if len(pairs) > DELTA_LIMIT:
        return None
    if not pairs:
        return table
    labels = table.labels.copy()
    col_of = {a.pk: c for c, a in enumerate(attributes)}
    _, position = _label_positions(attributes)
    image_ids = sorted({i for i, _ in pairs})
    current = dict.fromkeys(pairs)
    for image_id, attr_id, label_id in Annotation.objects.filter(
        image_id__in=image_ids, attribute_id__in=col_of
    ).values_list("image_id", "attribute_id", "label_id"):
        if (image_id, attr_id) in current:
            current[(image_id, attr_id)] = label_id
    cleared = [p for p, label_id in current.items() if label_id is None]
    if cleared:
        promoted = dict(base[0])  # attribute id -> promoted run id
        for image_id, attr_id, label_id in (
            RunImage.objects.filter(
                run_id__in=promoted.values(), image_id__in={i for i, _ in cleared}
            )
            .exclude(predicted_label=None)
            .values_list("image_id", "run__attribute_id", "predicted_label_id")
        ):
            if (image_id, attr_id) in current and current[(image_id, attr_id)] is None:
                current[(image_id, attr_id)] = label_id
    rows = table.rows_of(np.array([i for i, _ in current], dtype=np.int64))
    for row, ((_, attr_id), now_label) in zip(rows.tolist(), current.items(), strict=True):
        column = col_of.get(attr_id)
        if row >= 0 and column is not None:
            known = position[column]
            labels[row, column] = known.get(now_label, -1) if now_label is not None else -1
    return table.with_labels(labels)


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
    images = Image.objects.filter(dataset=dataset).in_bulk([int(i) for i in ids])
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


def search(
    dataset: Dataset,
    vector: np.ndarray,
    query_labels: np.ndarray | None,
    query: Query,
    *,
    exclude: int | None = None,
) -> list[Hit]:
    """Search the dataset's current index with a (D,) unit vector."""
    from mlcore.similarity import differs_search, similar

    row = current_index(dataset)
    if row is None:
        raise SearchError(
            f"'{dataset.name}' has no similarity index yet; "
            "a data scientist can build one on the similarity page."
        )
    index = loaded_index(row)
    table, attributes, by_index = label_table(dataset)
    exclude_ids = [exclude] if exclude is not None else None
    if not query.differs_in:
        found = similar(index, vector, k=query.k, exclude_ids=exclude_ids)
        return _hits(dataset, found.ids, found.scores, None, table, attributes, by_index)
    names = [a.name for a in attributes]
    if query.differs_in not in names:
        raise SearchError(
            f"'{query.differs_in}' is not an attribute of {dataset.name} "
            f"(it has: {', '.join(names)})."
        )
    col = names.index(query.differs_in)
    value = None
    if query.value:
        matches = [i for i, lab in by_index[col].items() if lab.name == query.value]
        if not matches:  # e.g. a label of another attribute: a bad request, not a search
            owners = [
                a.name
                for a in attributes
                if any(lab.name == query.value for lab in by_index[names.index(a.name)].values())
            ]
            where = f" (it is a label of {', '.join(owners)})" if owners else ""
            raise request_params.BadParameter(
                "value", f"'{query.value}' is not a label of {query.differs_in}{where}."
            )
        value = matches[0]
    q = query_labels if query_labels is not None else np.full(len(attributes), -1, np.int64)
    try:
        differs = differs_search(
            index, vector, q, table, col, value=value, k=query.k, exclude_ids=exclude_ids
        )
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    ids, scores, agreements = differs.ids, differs.scores, differs.agreements
    return _hits(dataset, ids, scores, agreements, table, attributes, by_index)


def similar_to_image(image: Image, query: Query) -> list[Hit]:
    row = current_index(image.dataset)
    if row is None:
        raise SearchError(
            f"'{image.dataset.name}' has no similarity index yet; "
            "a data scientist can build one on the similarity page."
        )
    vector = image_vector(row, image)
    table, _, _ = label_table(image.dataset)
    return search(image.dataset, vector, table.of([image.pk])[0], query, exclude=image.pk)


def image_vector(row: SimilarityIndex, image: Image) -> np.ndarray:
    """(D,) vector of a catalog image, preprocessed exactly as the index build does: its
    stored vector, else embedded now cropped to its own box (or the localizer's)."""
    index = loaded_index(row)
    if image.pk in index:
        return index.vectors([image.pk])[0]
    # added after the last build: embed it now, cropped as the build would have
    with_box = Image.objects.select_related("box").get(pk=image.pk)
    _, uris, boxes = uris_and_boxes([with_box])  # its own box; query_vector localizes the rest
    return query_vector(row, uris[0], boxes[0])


def similar_to_upload(dataset: Dataset, data: bytes, name: str, query: Query) -> list[Hit]:
    """A photo from the user's disk (validated like an import: formats, pixels, bombs)."""

    from curation.imaging import Rejection, inspect_image

    if len(data) > settings.CURATION_MAX_FILE_MB * 1024 * 1024:
        raise SearchError(f"the photo is larger than {settings.CURATION_MAX_FILE_MB} MB")
    facts = inspect_image(data, name=name, max_pixels=settings.CURATION_MAX_IMAGE_PIXELS)
    if isinstance(facts, Rejection):
        raise SearchError(f"{name}: {facts.reason}")
    row = current_index(dataset)
    if row is None:
        raise SearchError(
            f"'{dataset.name}' has no similarity index yet; "
            "a data scientist can build one on the similarity page."
        )
    from curation.imaging import sha256_of

    same = Image.objects.filter(dataset=dataset, sha256=sha256_of(data)).first()
    if same is not None:  # a catalog photo: embedded as the build did (cropped to its box)
        table, _, _ = label_table(dataset)
        return search(dataset, image_vector(row, same), table.of([same.pk])[0], query)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"query{Path(name).suffix.lower()}"
        path.write_bytes(data)
        vector = query_vector(row, str(path))
    if query.differs_in and not query.value:
        raise SearchError(
            "for an uploaded photo, say which label the results should have "
            "(its own labels are unknown)"
        )
    return search(dataset, vector, None, query)


def query_vector(row: SimilarityIndex, uri: str, box=None) -> np.ndarray:
    """(D,) unit vector of one query image: cropped to `box` (pixels), else to the index's
    localizer's box when its run trained one, as the index build crops images without a box."""
    from mlcore.similarity import embed_images

    if box is None:
        box = fill_boxes(_localizer(row), [uri], [None])[0]
    found = embed_images(_embedder(row), [uri], boxes=[box], batch_size=8, s3=s3_options())
    if not len(found.indices):
        reason = found.skipped[0][1] if found.skipped else "unreadable"
        raise SearchError(f"the image could not be embedded: {reason}")
    return found.vectors[0]


MAX_K = 100


def parse_query(params) -> Query:
    """The query in a request's GET, POST or data; a bad k raises params.BadParameter."""
    return Query(
        k=request_params.int_param(params, "k", low=1, high=MAX_K, default=12),
        differs_in=str(params.get("differs_in") or "").strip(),
        value=str(params.get("value") or "").strip(),
    )


def hits_json(hits: list[Hit], request) -> list[dict]:
    return [
        {
            "id": h.image.pk,
            "score": round(h.score, 5),
            "agreements": h.agreements,
            "labels": dict(h.labels),
            "url": request.build_absolute_uri(h.image.get_absolute_url()),
            "source_path": h.image.source_path,
        }
        for h in hits
    ]
