"""The database side of import_catalog: write planned rows in bulk, one transaction a chunk.

A chunk that fails (a database error, or a row found invalid while writing) is retried row by
row, each in its own transaction, so one bad row is reported and the others still land.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from curation.imaging import ImageFacts, Rejection, original_key, thumbnail_key
from curation.models import (
    HUMAN_SOURCES,
    Annotation,
    Dataset,
    Image,
    ImageStatus,
    LabelEvent,
    LabelSource,
    Product,
)
from curation.services.manifest import ManifestRow
from curation.services.splits import assign_split


class RowProblem(Exception):
    """A row found invalid while writing (e.g. it would move a product's split)."""

    def __init__(self, plan: Plan, reason: str):
        self.plan = plan
        super().__init__(reason)


@dataclass
class Names:
    labels: dict[int, str]
    attributes: dict[int, str]


@dataclass
class Plan:
    """What one manifest row will write; built outside the transaction."""

    row: ManifestRow
    image: Image | None  # existing image, or None for a new one
    result: ImageFacts | Rejection | None  # None: existing image, content unchanged
    labels: dict[int, int | None]  # attribute id -> label id
    new_files: list[str] = field(default_factory=list)


@dataclass
class WriteContext:
    dataset: Dataset
    names: Names
    batch: uuid.UUID
    actor_id: int | None
    overwrite_manual: bool


Outcome = tuple[
    Plan, str, list[dict[str, object]]
]  # plan, created|updated|unchanged|quarantined, conflicts


def write_chunk(
    ctx: WriteContext, plans: list[Plan]
) -> tuple[list[Outcome], list[tuple[Plan, str]]]:
    """Returns (outcomes, failures) where failures are (plan, reason) of rows not written."""
    if not plans:
        return [], []
    try:
        with transaction.atomic():
            return write_plans(ctx, plans), []
    except (DatabaseError, RowProblem):
        pass
    outcomes: list[Outcome] = []
    failures: list[tuple[Plan, str]] = []
    for plan in plans:
        try:
            with transaction.atomic():
                outcomes += write_plans(ctx, [plan])
        except RowProblem as exc:
            failures.append((plan, str(exc)))
        except DatabaseError as exc:
            failures.append((plan, f"could not be saved: {exc}"))
    return outcomes, failures


def _image_fields(result: ImageFacts | Rejection) -> dict[str, object]:
    if isinstance(result, Rejection):
        return {
            "sha256": result.sha256,
            "size_bytes": result.size_bytes,
            "status": ImageStatus.QUARANTINED,
            "quarantine_reason": result.reason[:500],
            "file": "",
            "thumbnail": "",
        }
    original = original_key(result.sha256, result.extension)
    return {
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "status": ImageStatus.OK,
        "quarantine_reason": "",
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "phash": result.phash,
        "file": original,
        "thumbnail": thumbnail_key(result.sha256) if result.thumbnail is not None else original,
    }


def write_plans(ctx: WriteContext, plans: list[Plan]) -> list[Outcome]:
    new = [p for p in plans if p.image is None]
    outcomes: list[Outcome] = []
    if new:
        outcomes += _create_images(ctx, new)
    for plan in plans:
        if plan.image is not None:
            outcomes.append(_update_image(ctx, plan))
    return outcomes


_ID_LOOKUP_CHUNK = 900  # keys per "IN (…)": under every SQLite build's variable limit


def _insert(model, columns: list[str], rows: list[tuple]) -> None:
    """Plain tuples in bulk: the write side of an import is mostly this. COPY on PostgreSQL
    (its statement triggers then run once, and no SQL text is built per row); executemany on
    SQLite. The ORM's bulk_create spent several times longer building model instances than
    the insert itself took."""
    if not rows:
        return
    table, names = model._meta.db_table, ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            one = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({one})", rows)


def _ids_by(model, dataset_id: int, column: str, keys: list[str]) -> dict[str, int]:
    """{key: id} of this dataset's rows; `column` is unique per dataset."""
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for i in range(0, len(keys), _ID_LOOKUP_CHUNK):
            part = keys[i : i + _ID_LOOKUP_CHUNK]
            cursor.execute(
                f"SELECT {column}, id FROM {model._meta.db_table} WHERE dataset_id = %s "
                f"AND {column} IN ({', '.join(['%s'] * len(part))})",
                [dataset_id, *part],
            )
            found.update(cursor.fetchall())
    return found


def _products_for(ctx: WriteContext, plans: list[Plan]) -> dict[str, tuple[int, str]]:
    """{product key: (id, split)} for the plans' products, inserting the new ones."""
    keys = {p.row.product or p.row.path for p in plans}
    products = {
        key: (pk, split)
        for key, pk, split in Product.objects.filter(dataset=ctx.dataset, key__in=keys).values_list(
            "key", "pk", "split"
        )
    }
    fresh: dict[str, str] = {}  # key -> split
    for plan in plans:
        key = plan.row.product or plan.row.path
        split = products[key][1] if key in products else fresh.get(key)
        if split is None:
            fresh[key] = plan.row.split or assign_split(
                salt=ctx.dataset.split_salt,
                test_fraction=ctx.dataset.test_fraction,
                product_key=key,
            )
        elif plan.row.split and plan.row.split != split:
            raise RowProblem(
                plan,
                f"product '{key}' is already in the {split} split; a row cannot put it "
                f"in {plan.row.split} (splits never change)",
            )
    now = Product._meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    _insert(
        Product,
        ["dataset_id", "key", "split", "created_at"],
        [(ctx.dataset.pk, key, split, now) for key, split in fresh.items()],
    )
    ids = _ids_by(Product, ctx.dataset.pk, "key", list(fresh))
    return {**products, **{key: (ids[key], split) for key, split in fresh.items()}}


_IMAGE_COLUMNS = [
    "sha256",
    "size_bytes",
    "status",
    "quarantine_reason",
    "width",
    "height",
    "format",
    "phash",
    "file",
    "thumbnail",
]
_IMAGE_DEFAULTS = {"width": None, "height": None, "format": "", "phash": ""}  # quarantined rows


def _create_images(ctx: WriteContext, plans: list[Plan]) -> list[Outcome]:
    products = _products_for(ctx, plans)
    created = Image._meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    rows = []
    for plan in plans:
        assert plan.result is not None
        product_id, split = products[plan.row.product or plan.row.path]
        fields = _image_fields(plan.result)
        rows.append(
            (ctx.dataset.pk, product_id, split, plan.row.path, created)
            + tuple(fields.get(k, _IMAGE_DEFAULTS.get(k)) for k in _IMAGE_COLUMNS)
        )
    _insert(
        Image,
        ["dataset_id", "product_id", "split", "source_path", "created_at", *_IMAGE_COLUMNS],
        rows,
    )
    image_ids = _ids_by(Image, ctx.dataset.pk, "source_path", [p.row.path for p in plans])
    # Annotations and history rows are many and simple: insert them with executemany, with
    # the shared values prepared once (several times faster than bulk_create here).
    now = timezone.now()
    ann_now = Annotation._meta.get_field("updated_at").get_db_prep_save(now, connection)
    event_now = LabelEvent._meta.get_field("created_at").get_db_prep_save(now, connection)
    batch = LabelEvent._meta.get_field("batch").get_db_prep_save(ctx.batch, connection)
    annotations, events = [], []
    for plan in plans:
        image_id = image_ids[plan.row.path]
        for attr_id, label_id in plan.labels.items():
            annotations.append(
                (
                    image_id,
                    attr_id,
                    label_id,
                    label_id,
                    1,
                    LabelSource.IMPORT,
                    ann_now,
                    ctx.actor_id,
                )
            )
            if label_id is not None:
                events.append(
                    (
                        image_id,
                        attr_id,
                        label_id,
                        ctx.actor_id,
                        LabelSource.IMPORT,
                        "",
                        batch,
                        event_now,
                    )
                )
    _insert(
        Annotation,
        [
            "image_id",
            "attribute_id",
            "label_id",
            "synced_label_id",
            "version",
            "last_source",
            "updated_at",
            "updated_by_id",
        ],
        annotations,
    )
    _insert(
        LabelEvent,
        [
            "image_id",
            "attribute_id",
            "new_label_id",
            "actor_id",
            "source",
            "note",
            "batch",
            "created_at",
        ],
        events,
    )
    return [(p, "quarantined" if isinstance(p.result, Rejection) else "created", []) for p in plans]


def _update_image(ctx: WriteContext, plan: Plan) -> Outcome:
    """An image seen before: maybe fixed (if quarantined), maybe with changed labels."""
    row, image = plan.row, plan.image
    assert image is not None
    if row.split and row.split != image.split:
        raise RowProblem(
            plan,
            f"this image is in the {image.split} split; the row says {row.split} "
            "(splits never change)",
        )
    outcome = "unchanged"
    if plan.result is not None:  # a quarantined image seen again, maybe fixed
        fields = _image_fields(plan.result)
        changed = any(getattr(image, k) != v for k, v in fields.items())
        if changed:
            Image.objects.filter(pk=image.pk).update(**fields)
        outcome = (
            "quarantined"
            if isinstance(plan.result, Rejection)
            else ("updated" if changed else outcome)
        )
    conflicts: list[dict[str, object]] = []
    current = {a.attribute_id: a for a in image.annotations.all()}
    for attr_id, incoming in plan.labels.items():
        ann = current.get(attr_id)
        if ann is None:
            created = Annotation.objects.create(
                image=image,
                attribute_id=attr_id,
                label_id=incoming,
                synced_label_id=incoming,
                last_source=LabelSource.IMPORT,
                updated_by_id=ctx.actor_id,
            )
            if incoming is None:
                continue
            _record_change(ctx, created, old=None, new=incoming, source=LabelSource.IMPORT)
        elif incoming is None:
            continue  # an empty cell never erases a label
        elif incoming == ann.label_id:
            if ann.synced_label_id != incoming:
                Annotation.objects.filter(pk=ann.pk).update(synced_label_id=incoming)
            continue
        elif incoming == ann.synced_label_id:
            continue  # the source did not change: the app's value (a person's edit) stands
        elif ann.last_source in HUMAN_SOURCES and not ctx.overwrite_manual:
            conflicts.append(
                {
                    "line": row.line,
                    "path": row.path,
                    "attribute": ctx.names.attributes[attr_id],
                    "current": ctx.names.labels.get(ann.label_id) if ann.label_id else None,
                    "incoming": ctx.names.labels[incoming],
                    "changed_by": ann.last_source,
                }
            )
            continue
        else:
            _sync_label(ctx, plan, ann, incoming)
        if outcome != "quarantined":
            outcome = "updated"
    return plan, outcome, conflicts


def _sync_label(ctx: WriteContext, plan: Plan, ann: Annotation, incoming: int) -> None:
    updated = Annotation.objects.filter(pk=ann.pk, version=ann.version).update(
        label_id=incoming,
        synced_label_id=incoming,
        version=F("version") + 1,
        last_source=LabelSource.SYNC,
        updated_by_id=ctx.actor_id,
        updated_at=timezone.now(),
    )
    if not updated:
        raise RowProblem(
            plan, "its label was changed by someone else during the import; run it again"
        )
    _record_change(ctx, ann, old=ann.label_id, new=incoming, source=LabelSource.SYNC)


def _record_change(
    ctx: WriteContext, ann: Annotation, *, old: int | None, new: int, source: str
) -> None:
    """The history row of one label the import wrote, in its batch and by its actor."""
    LabelEvent.objects.create(
        image_id=ann.image_id,
        attribute_id=ann.attribute_id,
        old_label_id=old,
        new_label_id=new,
        source=source,
        actor_id=ctx.actor_id,
        batch=ctx.batch,
    )
