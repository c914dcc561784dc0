"""import_catalog: bring a labelled catalog into a dataset, idempotently and tolerantly.

- Files are copied into the app's storage under content-addressed keys, with a thumbnail.
- The same source again changes nothing; new rows are added; a changed label is applied as a
  `sync` event unless a person changed it in the app since the last sync (then it is a
  conflict, kept, unless overwrite_manual).
- Bad files are quarantined with a reason; bad rows are reported with their line number. A
  row is imported whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from curation.imaging import (
    ImageFacts,
    Rejection,
    inspect_image,
    original_key,
    sha256_of,
    thumbnail_key,
)
from curation.models import (
    HUMAN_SOURCES,
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageStatus,
    Label,
    LabelEvent,
    LabelSource,
    Product,
)
from curation.services.manifest import ManifestRow, RowError, parse_manifest
from curation.services.sources import CatalogSource, SourceError, UnsafePath, open_source
from curation.services.splits import assign_split

CHUNK = 400
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    dataset: str = ""
    source: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: list[dict[str, object]] = field(default_factory=list)
    quarantined: list[dict[str, object]] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "quarantined": self.quarantined,
            "errors": self.errors,
        }


@dataclass
class _Names:
    labels: dict[int, str]
    attributes: dict[int, str]


@dataclass
class _Plan:
    """What one manifest row will write; built outside the transaction."""

    row: ManifestRow
    image: Image | None  # existing image, or None for a new one
    result: ImageFacts | Rejection | None  # None: existing image, content unchanged
    labels: dict[int, int | None]  # attribute id -> label id
    new_files: list[str] = field(default_factory=list)


def import_catalog(
    source: str | CatalogSource,
    *,
    dataset_name: str,
    create: bool = False,
    overwrite_manual: bool = False,
    actor=None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `source` into the dataset `dataset_name`. Raises SourceError if unusable."""
    src = open_source(source) if isinstance(source, str) else source
    manifest = parse_manifest(src.read_manifest())
    dataset = _get_dataset(dataset_name, create=create)
    report = ImportReport(dataset=dataset.name, source=src.description)
    report.errors.extend(e.to_dict() for e in manifest.errors)
    attributes = _ensure_attributes(dataset, manifest.attributes, create=create)
    labels = _ensure_labels(attributes, manifest.rows, create=create)
    names = _Names(
        labels={
            label_id: name for by_name in labels.values() for name, label_id in by_name.items()
        },
        attributes={a.pk: a.name for a in attributes.values()},
    )
    batch = uuid.uuid4()
    total = len(manifest.rows)
    if progress:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=max(1, settings.CURATION_IMPORT_WORKERS)) as pool:
        for start in range(0, total, CHUNK):
            rows = manifest.rows[start : start + CHUNK]
            plans = _plan_chunk(dataset, src, rows, attributes, labels, pool, report)
            _write_chunk(dataset, plans, names, report, batch, actor, overwrite_manual)
            if progress:
                progress(min(start + CHUNK, total), total)
    report.errors.sort(key=lambda e: int(e["line"]))  # type: ignore[call-overload]
    return report


def _get_dataset(name: str, *, create: bool) -> Dataset:
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is not None:
        return dataset
    if not create:
        raise SourceError(f"dataset '{name}' does not exist; pass --create to create it")
    from curation.services.datasets import create_dataset

    return create_dataset(name=name)


def _ensure_attributes(dataset: Dataset, names: list[str], *, create: bool) -> dict[str, Attribute]:
    existing = {a.name: a for a in Attribute.objects.filter(dataset=dataset)}
    missing = [n for n in names if n not in existing]
    if missing and not create:
        known = ", ".join(existing) or "none yet"
        raise SourceError(
            f"column(s) {', '.join(missing)} are not attributes of dataset '{dataset.name}' "
            f"(attributes: {known}); pass --create to add them"
        )
    position = max((a.position for a in existing.values()), default=-1) + 1
    for offset, name in enumerate(missing):
        existing[name] = Attribute.objects.create(
            dataset=dataset, name=name, position=position + offset
        )
    return {n: existing[n] for n in names}


def _ensure_labels(
    attributes: dict[str, Attribute], rows: list[ManifestRow], *, create: bool
) -> dict[str, dict[str, int]]:
    """attribute name -> {label name -> label id}; with create, new labels in order of first use."""
    by_attr: dict[str, dict[str, int]] = {name: {} for name in attributes}
    positions: dict[int, int] = {}
    for label in Label.objects.filter(attribute__in=list(attributes.values())):
        attr_name = next(n for n, a in attributes.items() if a.pk == label.attribute_id)
        by_attr[attr_name][label.name] = label.pk
        positions[label.attribute_id] = max(positions.get(label.attribute_id, -1), label.position)
    if create:
        for row in rows:
            for attr_name, value in row.labels.items():
                if value is not None and value not in by_attr[attr_name]:
                    attr = attributes[attr_name]
                    pos = positions.get(attr.pk, -1) + 1
                    positions[attr.pk] = pos
                    by_attr[attr_name][value] = Label.objects.create(
                        attribute=attr, name=value, position=pos
                    ).pk
    return by_attr


def _probe(src: CatalogSource, path: str, *, existing: Image | None) -> _Probe:
    """Read and check one file; store its original and thumbnail if it is new and good.

    Runs in a worker thread. Returns result None when an existing image's bytes are unchanged.
    """
    try:
        data = src.read(path)
    except (FileNotFoundError, UnsafePath, ValueError) as exc:
        return _Probe(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - report any read failure as a row error
        return _Probe(error=f"cannot read {path}: {exc}")
    if (
        existing is not None
        and existing.status == ImageStatus.OK
        and sha256_of(data) == existing.sha256
    ):
        return _Probe()
    result = inspect_image(
        data,
        name=path,
        max_pixels=settings.CURATION_MAX_IMAGE_PIXELS,
        thumbnail_px=settings.CURATION_THUMBNAIL_PX,
    )
    probe = _Probe(result=result)
    if isinstance(result, ImageFacts) and (existing is None or existing.status != ImageStatus.OK):
        # Content-addressed keys: an existing key already holds these exact bytes.
        for key, payload in (
            (original_key(result.sha256, result.extension), data),
            (thumbnail_key(result.sha256), result.thumbnail),
        ):
            if not default_storage.exists(key):
                default_storage.save(key, ContentFile(payload))
                probe.new_files.append(key)
    return probe


@dataclass
class _Probe:
    result: ImageFacts | Rejection | None = None
    error: str = ""
    new_files: list[str] = field(default_factory=list)


def _plan_chunk(dataset, src, rows, attributes, labels, pool, report) -> list[_Plan]:
    paths = [r.path for r in rows]
    existing = {
        im.source_path: im
        for im in Image.objects.filter(dataset=dataset, source_path__in=paths).prefetch_related(
            "annotations"
        )
    }
    valid: list[tuple[ManifestRow, dict[int, int | None]]] = []
    for row in rows:
        resolved: dict[int, int | None] = {}
        problem = None
        for attr_name, value in row.labels.items():
            if value is None:
                resolved[attributes[attr_name].pk] = None
            elif value in labels[attr_name]:
                resolved[attributes[attr_name].pk] = labels[attr_name][value]
            else:
                known = ", ".join(labels[attr_name]) or "none"
                problem = f"unknown label '{value}' for attribute '{attr_name}' (known: {known})"
                break
        if problem:
            report.errors.append(RowError(row.line, problem, row.path).to_dict())
        else:
            valid.append((row, resolved))
    probes = pool.map(
        lambda item: _probe(src, item[0].path, existing=existing.get(item[0].path)), valid
    )
    plans: list[_Plan] = []
    shas_seen: dict[str, str] = {}
    for (row, resolved), probe in zip(valid, probes, strict=True):
        plan = _Plan(row=row, image=existing.get(row.path), result=probe.result, labels=resolved)
        plan.new_files = probe.new_files
        problem = probe.error
        if (
            not problem
            and plan.image is not None
            and plan.image.status == ImageStatus.OK
            and probe.result
        ):
            problem = (
                "file content changed since it was imported; the catalog keeps the original "
                "(give the new photo a new path to add it)"
            )
        if not problem and probe.result is not None:
            other = shas_seen.get(probe.result.sha256)
            if other:
                problem = f"same file content as '{other}'"
            shas_seen.setdefault(probe.result.sha256, row.path)
        if problem:
            _reject(plan, problem, report)
        else:
            plans.append(plan)
    # Content already in the dataset under another path.
    new_by_sha = {p.result.sha256: p for p in plans if p.image is None and p.result is not None}
    if new_by_sha:
        taken = Image.objects.filter(dataset=dataset, sha256__in=list(new_by_sha)).values_list(
            "sha256", "source_path"
        )
        for sha, other_path in taken:
            plan = new_by_sha[sha]
            _reject(plan, f"same file content as '{other_path}'", report)
            plans.remove(plan)
    return plans


def _reject(plan: _Plan, reason: str, report: ImportReport) -> None:
    report.errors.append(RowError(plan.row.line, reason, plan.row.path).to_dict())
    _discard_files(plan)


def _discard_files(plan: _Plan) -> None:
    """Remove files this row stored if nothing else references them (nothing half-written)."""
    for key in plan.new_files:
        if (
            not Image.objects.filter(file=key).exists()
            and not Image.objects.filter(thumbnail=key).exists()
        ):
            default_storage.delete(key)
    plan.new_files = []


def _write_chunk(dataset, plans, names, report, batch, actor, overwrite_manual) -> None:
    """Write a chunk in one transaction; if that fails, row by row so one bad row can't sink others."""
    if not plans:
        return
    try:
        with transaction.atomic():
            outcomes = [
                _write_row(dataset, p, names, batch, actor, overwrite_manual) for p in plans
            ]
    except DatabaseError:
        outcomes = []
        for plan in plans:
            try:
                with transaction.atomic():
                    outcomes.append(
                        _write_row(dataset, plan, names, batch, actor, overwrite_manual)
                    )
            except (DatabaseError, _RowProblem) as exc:
                _reject(plan, f"could not be saved: {exc}", report)
    except _RowProblem:
        # A row-level problem found while writing: redo the chunk row by row to isolate it.
        outcomes = []
        for plan in plans:
            try:
                with transaction.atomic():
                    outcomes.append(
                        _write_row(dataset, plan, names, batch, actor, overwrite_manual)
                    )
            except _RowProblem as exc:
                _reject(plan, str(exc), report)
            except DatabaseError as exc:
                _reject(plan, f"could not be saved: {exc}", report)
    for plan, outcome, conflicts in outcomes:
        if outcome == "quarantined":
            assert isinstance(plan.result, Rejection)
            report.quarantined.append(
                {"line": plan.row.line, "path": plan.row.path, "reason": plan.result.reason}
            )
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
        report.conflicts.extend(conflicts)


class _RowProblem(Exception):
    """A row that turns out to be invalid while writing (e.g. it would move a product's split)."""


def _image_fields(result: ImageFacts | Rejection) -> dict[str, object]:
    if isinstance(result, Rejection):
        return {
            "sha256": result.sha256,
            "size_bytes": result.size_bytes,
            "status": ImageStatus.QUARANTINED,
            "quarantine_reason": result.reason[:500],
        }
    return {
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "status": ImageStatus.OK,
        "quarantine_reason": "",
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "phash": result.phash,
        "file": original_key(result.sha256, result.extension),
        "thumbnail": thumbnail_key(result.sha256),
    }


def _product_for(dataset: Dataset, row: ManifestRow) -> Product:
    key = row.product or row.path
    product = Product.objects.filter(dataset=dataset, key=key).first()
    if product is None:
        split = row.split or assign_split(
            salt=dataset.split_salt, test_fraction=dataset.test_fraction, product_key=key
        )
        return Product.objects.create(dataset=dataset, key=key, split=split)
    if row.split and row.split != product.split:
        raise _RowProblem(
            f"product '{key}' is already in the {product.split} split; a row cannot put it in "
            f"{row.split} (splits never change)"
        )
    return product


def _write_row(dataset, plan: _Plan, names: _Names, batch, actor, overwrite_manual):
    """Write one row; returns (plan, outcome, conflicts). Runs inside a transaction."""
    row, result, image = plan.row, plan.result, plan.image
    user_id = getattr(actor, "pk", None)
    if image is None:
        assert result is not None
        product = _product_for(dataset, row)
        image = Image.objects.create(
            dataset=dataset,
            product=product,
            split=product.split,
            source_path=row.path,
            **_image_fields(result),
        )
        Annotation.objects.bulk_create(
            Annotation(
                image=image,
                attribute_id=a,
                label_id=lab,
                synced_label_id=lab,
                last_source=LabelSource.IMPORT,
                updated_by_id=user_id,
            )
            for a, lab in plan.labels.items()
        )
        LabelEvent.objects.bulk_create(
            LabelEvent(
                image=image,
                attribute_id=a,
                new_label_id=lab,
                source=LabelSource.IMPORT,
                actor_id=user_id,
                batch=batch,
            )
            for a, lab in plan.labels.items()
            if lab is not None
        )
        return plan, "quarantined" if isinstance(result, Rejection) else "created", []

    if row.split and row.split != image.split:
        raise _RowProblem(
            f"this image is in the {image.split} split; the row says {row.split} (splits never change)"
        )
    outcome = "unchanged"
    if result is not None:  # a quarantined image seen again, maybe fixed
        fields = _image_fields(result)
        changed = any(getattr(image, k) != v for k, v in fields.items())
        if changed:
            Image.objects.filter(pk=image.pk).update(**fields)
        if isinstance(result, Rejection):
            outcome = "quarantined"
        elif changed:
            outcome = "updated"
    conflicts: list[dict[str, object]] = []
    anns = {a.attribute_id: a for a in image.annotations.all()}
    for attr_id, incoming in plan.labels.items():
        ann = anns.get(attr_id)
        if ann is None:
            Annotation.objects.create(
                image=image,
                attribute_id=attr_id,
                label_id=incoming,
                synced_label_id=incoming,
                last_source=LabelSource.IMPORT,
                updated_by_id=user_id,
            )
            if incoming is not None:
                LabelEvent.objects.create(
                    image=image,
                    attribute_id=attr_id,
                    new_label_id=incoming,
                    source=LabelSource.IMPORT,
                    actor_id=user_id,
                    batch=batch,
                )
                outcome = outcome if outcome == "quarantined" else "updated"
            continue
        if incoming is None:
            continue  # an empty cell never erases a label
        if incoming == ann.label_id:
            if ann.synced_label_id != incoming:
                Annotation.objects.filter(pk=ann.pk).update(synced_label_id=incoming)
            continue
        if incoming == ann.synced_label_id:
            continue  # the source did not change: the app's value (a person's edit) stands
        if ann.last_source in HUMAN_SOURCES and not overwrite_manual:
            conflicts.append(
                {
                    "line": row.line,
                    "path": row.path,
                    "attribute": names.attributes[attr_id],
                    "current": names.labels.get(ann.label_id) if ann.label_id else None,
                    "incoming": names.labels[incoming],
                    "changed_by": ann.last_source,
                }
            )
            continue
        updated = Annotation.objects.filter(pk=ann.pk, version=ann.version).update(
            label_id=incoming,
            synced_label_id=incoming,
            version=F("version") + 1,
            last_source=LabelSource.SYNC,
            updated_by_id=user_id,
            updated_at=timezone.now(),
        )
        if not updated:
            raise _RowProblem(
                "its label was changed by someone else during the import; run it again"
            )
        LabelEvent.objects.create(
            image=image,
            attribute_id=attr_id,
            old_label_id=ann.label_id,
            new_label_id=incoming,
            source=LabelSource.SYNC,
            actor_id=user_id,
            batch=batch,
        )
        outcome = outcome if outcome == "quarantined" else "updated"
    return plan, outcome, conflicts
