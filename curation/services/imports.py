"""import_catalog: bring a labelled catalog into a dataset, idempotently and tolerantly.

- Files are copied into the app's storage under content-addressed keys, with a thumbnail.
- The same source again changes nothing; new rows are added; a changed label is applied as a
  `sync` event unless a person changed it in the app since the last sync (then it is a
  conflict, kept, unless overwrite_manual).
- Bad files are quarantined with a reason; bad rows are reported with their line number. A
  row is imported whole or not at all: a row that fails leaves no rows and no files.

Files are read, checked and stored by a thread pool; rows are written in bulk, one
transaction per chunk (see import_writes).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from curation.imaging import (
    ImageFacts,
    Rejection,
    inspect_image,
    original_key,
    sha256_of,
    thumbnail_key,
)
from curation.models import Attribute, Dataset, Image, ImageStatus, Label
from curation.services.blobs import delete_blob, put_blob
from curation.services.import_writes import Names, Plan, WriteContext, write_chunk
from curation.services.manifest import ManifestRow, RowError, parse_manifest
from curation.services.sources import CatalogSource, SourceError, UnsafePath, open_source

CHUNK = 1000
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

    def reject(self, row: ManifestRow, reason: str) -> None:
        self.errors.append(RowError(row.line, reason, row.path).to_dict())


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
    ctx = WriteContext(
        dataset=dataset,
        names=Names(
            labels={lid: name for by_name in labels.values() for name, lid in by_name.items()},
            attributes={a.pk: a.name for a in attributes.values()},
        ),
        batch=uuid.uuid4(),
        actor_id=getattr(actor, "pk", None),
        overwrite_manual=overwrite_manual,
    )
    total = len(manifest.rows)
    if progress:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=max(1, settings.CURATION_IMPORT_WORKERS)) as pool:
        for start in range(0, total, CHUNK):
            rows = manifest.rows[start : start + CHUNK]
            plans = _plan_chunk(dataset, src, rows, attributes, labels, pool, report)
            outcomes, failures = write_chunk(ctx, plans)
            for plan, reason in failures:
                _discard(plan, reason, report)
            for plan, outcome, conflicts in outcomes:
                if outcome == "quarantined":
                    assert isinstance(plan.result, Rejection)
                    report.quarantined.append(
                        {"line": plan.row.line, "path": plan.row.path, "reason": plan.result.reason}
                    )
                else:
                    setattr(report, outcome, getattr(report, outcome) + 1)
                report.conflicts.extend(conflicts)
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
    name_of = {a.pk: n for n, a in attributes.items()}
    by_attr: dict[str, dict[str, int]] = {name: {} for name in attributes}
    next_position: dict[str, int] = dict.fromkeys(attributes, 0)
    for label in Label.objects.filter(attribute__in=list(attributes.values())):
        attr_name = name_of[label.attribute_id]
        by_attr[attr_name][label.name] = label.pk
        next_position[attr_name] = max(next_position[attr_name], label.position + 1)
    if create:
        for row in rows:
            for attr_name, value in row.labels.items():
                if value is not None and value not in by_attr[attr_name]:
                    label = Label.objects.create(
                        attribute=attributes[attr_name],
                        name=value,
                        position=next_position[attr_name],
                    )
                    next_position[attr_name] += 1
                    by_attr[attr_name][value] = label.pk
    return by_attr


@dataclass
class _Probe:
    result: ImageFacts | Rejection | None = None
    error: str = ""
    new_files: list[str] = field(default_factory=list)


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
        key = original_key(result.sha256, result.extension)
        if put_blob(key, data):
            probe.new_files.append(key)
        if result.thumbnail is not None and put_blob(
            thumbnail_key(result.sha256), result.thumbnail
        ):
            probe.new_files.append(thumbnail_key(result.sha256))
    return probe


def _resolve_labels(row: ManifestRow, attributes, labels) -> dict[int, int | None] | str:
    """attribute id -> label id for a row, or the reason it can't be resolved."""
    resolved: dict[int, int | None] = {}
    for attr_name, value in row.labels.items():
        if value is None:
            resolved[attributes[attr_name].pk] = None
        elif value in labels[attr_name]:
            resolved[attributes[attr_name].pk] = labels[attr_name][value]
        else:
            known = ", ".join(labels[attr_name]) or "none"
            return f"unknown label '{value}' for attribute '{attr_name}' (known: {known})"
    return resolved


def _plan_chunk(dataset, src, rows, attributes, labels, pool, report: ImportReport) -> list[Plan]:
    existing = {
        im.source_path: im
        for im in Image.objects.filter(
            dataset=dataset, source_path__in=[r.path for r in rows]
        ).prefetch_related("annotations")
    }
    valid: list[tuple[ManifestRow, dict[int, int | None]]] = []
    for row in rows:
        resolved = _resolve_labels(row, attributes, labels)
        if isinstance(resolved, str):
            report.reject(row, resolved)
        else:
            valid.append((row, resolved))
    probes = pool.map(
        lambda item: _probe(src, item[0].path, existing=existing.get(item[0].path)), valid
    )
    plans: list[Plan] = []
    first_path_of: dict[str, str] = {}
    for (row, resolved), probe in zip(valid, probes, strict=True):
        plan = Plan(row=row, image=existing.get(row.path), result=probe.result, labels=resolved)
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
            other = first_path_of.setdefault(probe.result.sha256, row.path)
            if other != row.path:
                problem = f"same file content as '{other}'"
        if problem:
            _discard(plan, problem, report)
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
            _discard(plan, f"same file content as '{other_path}'", report)
            plans.remove(plan)
    return plans


def _discard(plan: Plan, reason: str, report: ImportReport) -> None:
    """Report a row as not imported and remove files it stored that nothing references."""
    report.reject(plan.row, reason)
    for key in plan.new_files:
        if not Image.objects.filter(Q(file=key) | Q(thumbnail=key)).exists():
            delete_blob(key)
    plan.new_files = []
