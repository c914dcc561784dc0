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

import multiprocessing
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db.models import Q

from curation.imaging import Rejection
from curation.models import Attribute, Dataset, Image, ImageStatus, Label
from curation.probe import LocalJob, Probe, ProbeLimits, probe_bytes, probe_local
from curation.services.import_writes import Names, Plan, WriteContext, write_chunk
from curation.services.manifest import ManifestRow, RowError, parse_manifest
from curation.services.sources import (
    CatalogSource,
    LocalSource,
    SourceError,
    UnsafePath,
    open_source,
)
from curation.storage import delete_blob, local_storage_location, put_blob

CHUNK = 1000
# How the command line asks for what a source names that the dataset lacks; the Import
# page words it as its own checkbox (NotInDataset.worded).
CLI_CREATE = "pass --create"
# Below this many rows, starting worker processes costs more than it saves.
PROCESS_POOL_MIN_ROWS = 3000
Progress = Callable[[int, int], None]


class NotInDataset(SourceError):
    """The source names a dataset or columns the app lacks and create was not asked for.
    str() says how on the command line; worded(how) as another caller asks (a checkbox)."""

    def __init__(self, problem: str, purpose: str):
        self.problem, self.purpose = problem, purpose
        super().__init__(self.worded(CLI_CREATE))

    def worded(self, how: str) -> str:
        return f"{self.problem}; {how} {self.purpose}"


def parse_label_names(raw: str | Collection[str]) -> list[str]:
    """'boat, neckline:square' -> ['boat', 'neckline:square']: the labels a user named to be
    created (a bare label for any attribute, attribute:label for one)."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    return [p.strip() for p in parts if p.strip()]


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
    # Labels the source uses that the dataset lacked: {attribute, label, rows, created}. Only
    # those named in create_labels (or of a column this import created) were created.
    new_labels: list[dict[str, object]] = field(default_factory=list)
    # Names in create_labels that no row used (a typo, most likely): nothing was created.
    unused_create_labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def reject(self, row: ManifestRow, reason: str) -> None:
        self.errors.append(RowError(row.line, reason, row.path).to_dict())


def import_catalog(
    source: str | CatalogSource,
    *,
    dataset_name: str,
    create: bool = False,
    create_labels: str | Collection[str] = (),
    overwrite_manual: bool = False,
    actor=None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `source` into the dataset `dataset_name`. Raises SourceError if unusable.

    create: make the dataset and the columns' attributes if missing (with every label of a
    column made here). A label new to an existing attribute is made only when named in
    create_labels ('boat' or 'neckline:boat'); otherwise its rows are errors naming it,
    and the report lists it under new_labels."""
    src = open_source(source) if isinstance(source, str) else source
    manifest = parse_manifest(src.read_manifest())
    dataset = _get_dataset(dataset_name, create=create)
    report = ImportReport(dataset=dataset.name, source=src.description)
    report.errors.extend(e.to_dict() for e in manifest.errors)
    attributes, made = _ensure_attributes(dataset, manifest.attributes, create=create)
    labels = _ensure_labels(
        attributes, manifest.rows, made=made, named=parse_label_names(create_labels), report=report
    )
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
    chunks = [manifest.rows[i : i + CHUNK] for i in range(0, total, CHUNK)]
    first_path_of: dict[str, str] = {}  # sha256 -> first manifest path with that content
    done = 0
    with _probe_executor(src, total) as pool:
        # Probe chunk k+1 while chunk k is written to the database.
        started = (
            _start_chunk(dataset, src, chunks[0], attributes, labels, pool, report)
            if chunks
            else None
        )
        for k in range(len(chunks)):
            assert started is not None
            following = (
                _start_chunk(dataset, src, chunks[k + 1], attributes, labels, pool, report)
                if k + 1 < len(chunks)
                else None
            )
            plans = _finish_chunk(dataset, started, first_path_of, report)
            _record(report, *write_chunk(ctx, plans))
            done += len(chunks[k])
            if progress:
                try:
                    progress(done, total)  # may raise to stop the import (a cancelled job)
                except BaseException:
                    if following is not None:
                        _abandon(following)
                    raise
            started = following
    report.errors.sort(key=lambda e: int(e["line"]))  # type: ignore[call-overload]
    if report.created:
        from curation.services.indexes import queue_index_extension
        from curation.services.scoring import queue_scoring_after_import

        queue_index_extension(dataset.pk)
        queue_scoring_after_import(dataset.pk, actor=actor)
    return report


def _get_dataset(name: str, *, create: bool) -> Dataset:
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is not None:
        return dataset
    if not create:
        raise NotInDataset(f"dataset '{name}' does not exist", "to create it")
    from curation.services.datasets import create_dataset

    return create_dataset(name=name)


def _ensure_attributes(
    dataset: Dataset, names: list[str], *, create: bool
) -> tuple[dict[str, Attribute], set[str]]:
    """The columns' attributes by name, and the names of those made now."""
    existing = {a.name: a for a in Attribute.objects.filter(dataset=dataset)}
    missing = [n for n in names if n not in existing]
    if missing and not create:
        known = ", ".join(existing) or "none yet"
        raise NotInDataset(
            f"column(s) {', '.join(missing)} are not attributes of dataset '{dataset.name}' "
            f"(attributes: {known})",
            "to add them",
        )
    position = max((a.position for a in existing.values()), default=-1) + 1
    for offset, name in enumerate(missing):
        existing[name] = Attribute.objects.create(
            dataset=dataset, name=name, position=position + offset
        )
    return {n: existing[n] for n in names}, set(missing)


def _ensure_labels(
    attributes: dict[str, Attribute],
    rows: list[ManifestRow],
    *,
    made: set[str],
    named: list[str],
    report: ImportReport,
) -> dict[str, dict[str, int]]:
    """attribute name -> {label name -> label id}. New labels (in order of first use) are
    made for the attributes in `made` and where `named` names them; every label the dataset
    lacked goes into report.new_labels, made or not."""
    name_of = {a.pk: n for n, a in attributes.items()}
    by_attr: dict[str, dict[str, int]] = {name: {} for name in attributes}
    next_position: dict[str, int] = dict.fromkeys(attributes, 0)
    for label in Label.objects.filter(attribute__in=list(attributes.values())):
        attr_name = name_of[label.attribute_id]
        by_attr[attr_name][label.name] = label.pk
        next_position[attr_name] = max(next_position[attr_name], label.position + 1)
    uses: dict[tuple[str, str], int] = {}  # (attribute, label) -> rows, in order of first use
    for row in rows:
        for attr_name, value in row.labels.items():
            if value is not None and value not in by_attr[attr_name]:
                uses[attr_name, value] = uses.get((attr_name, value), 0) + 1
    used_names: set[str] = set()
    for (attr_name, value), count in uses.items():
        asked = {value, f"{attr_name}:{value}"} & set(named)
        used_names |= asked
        create = attr_name in made or bool(asked)
        if create:
            label = Label.objects.create(
                attribute=attributes[attr_name], name=value, position=next_position[attr_name]
            )
            next_position[attr_name] += 1
            by_attr[attr_name][value] = label.pk
        if attr_name not in made:  # a new column's labels are all new: no need to list them
            report.new_labels.append(
                {"attribute": attr_name, "label": value, "rows": count, "created": create}
            )
    report.unused_create_labels = [n for n in named if n not in used_names]
    return by_attr


def _record(report: ImportReport, outcomes, failures) -> None:
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


def _limits() -> ProbeLimits:
    return ProbeLimits(
        max_pixels=settings.CURATION_MAX_IMAGE_PIXELS,
        thumbnail_px=settings.CURATION_THUMBNAIL_PX,
        max_bytes=settings.CURATION_MAX_FILE_MB * 1024 * 1024,
    )


def uses_processes(src: CatalogSource, total: int) -> bool:
    """Worker processes need a local source and local storage, and can't start inside a
    daemonic process (a Celery prefork child)."""
    return (
        isinstance(src, LocalSource)
        and local_storage_location() is not None
        and total >= PROCESS_POOL_MIN_ROWS
        and settings.CURATION_IMPORT_WORKERS > 1
        and not multiprocessing.current_process().daemon
    )


def _probe_executor(src: CatalogSource, total: int) -> Executor:
    workers = max(1, settings.CURATION_IMPORT_WORKERS)
    if uses_processes(src, total):
        # spawn, not fork: a forked child would share the parent's database connection.
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
    return ThreadPoolExecutor(max_workers=workers)


def _probe_with_storage_api(
    src: CatalogSource, path: str, known_sha: str | None, store: bool
) -> Probe:
    try:
        data = src.read(path)
    except (FileNotFoundError, UnsafePath, ValueError) as exc:
        return Probe(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - report any read failure as a row error
        return Probe(error=f"cannot read {path}: {exc}")
    return probe_bytes(
        data, path=path, known_sha=known_sha, store=store, limits=_limits(), put=put_blob
    )


@dataclass
class _Started:
    valid: list[tuple[ManifestRow, dict[int, int | None]]]
    existing: dict[str, Image]
    probes: Iterator[Probe]


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


def _start_chunk(
    dataset, src, rows, attributes, labels, pool: Executor, report: ImportReport
) -> _Started:
    """Validate a chunk's labels and submit its files to the pool (results come later)."""
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

    def known(row: ManifestRow) -> tuple[str | None, bool]:
        image = existing.get(row.path)
        if image is None:
            return None, True
        ok = image.status == ImageStatus.OK
        return (image.sha256 if ok else None), not ok  # (sha to compare, store if good)

    if isinstance(pool, ProcessPoolExecutor):
        assert isinstance(src, LocalSource)
        location, limits = local_storage_location() or "", _limits()
        jobs = [
            LocalJob(str(src.root), row.path, *known(row), limits, location) for row, _ in valid
        ]
        probes = pool.map(probe_local, jobs, chunksize=64)
    else:
        probes = pool.map(
            lambda item: _probe_with_storage_api(src, item[0].path, *known(item[0])), valid
        )
    return _Started(valid=valid, existing=existing, probes=probes)


def _finish_chunk(
    dataset, started: _Started, first_path_of: dict[str, str], report: ImportReport
) -> list[Plan]:
    """Collect a chunk's probe results into plans; reject rows whose file can't be used."""
    plans: list[Plan] = []
    for (row, resolved), probe in zip(started.valid, started.probes, strict=True):
        plan = Plan(
            row=row, image=started.existing.get(row.path), result=probe.result, labels=resolved
        )
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
    _delete_unreferenced(plan.new_files)
    plan.new_files = []


def _abandon(started: _Started) -> None:
    """A chunk whose files were stored but whose rows will never be written: remove them."""
    for probe in started.probes:
        _delete_unreferenced(probe.new_files)


def _delete_unreferenced(keys: list[str]) -> None:
    for key in keys:
        if not Image.objects.filter(Q(file=key) | Q(thumbnail=key)).exists():
            delete_blob(key)
