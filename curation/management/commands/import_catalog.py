"""manage.py import_catalog SOURCE --dataset NAME [--create] [--create-labels A,B]
[--overwrite-manual] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from curation.services.imports import ImportReport, import_catalog
from curation.services.sources import SourceError


class Command(BaseCommand):
    help = "Import a labelled catalog (folder with labels.csv, a CSV file or s3://bucket/prefix/)."

    def add_arguments(self, parser):
        parser.add_argument(
            "source", help="folder with labels.csv, a CSV file, or s3://bucket/prefix/"
        )
        parser.add_argument("--dataset", required=True, help="dataset name (slug)")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the dataset and the columns' attributes (with their labels) if missing",
        )
        parser.add_argument(
            "--create-labels",
            default="",
            metavar="A,B",
            help="labels new to an existing attribute to create ('boat' or 'neckline:boat'); "
            "other unknown labels are row errors",
        )
        parser.add_argument(
            "--overwrite-manual",
            action="store_true",
            help="let changed source labels replace labels people changed in the app",
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object instead of a table"
        )

    def handle(self, *args, **options):
        progress = ProgressBar(self.stderr._out)
        try:
            report = import_catalog(
                options["source"],
                dataset_name=options["dataset"],
                create=options["create"],
                create_labels=options["create_labels"],
                overwrite_manual=options["overwrite_manual"],
                progress=progress,
            )
        except SourceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=None))
        else:
            self.stdout.write(format_report(report))


class ProgressBar:
    """An import progress callback drawing a tqdm bar (hidden when stderr is not a terminal)."""

    def __init__(self, stream):
        self.stream = stream
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, unit="row", desc="importing", disable=None, file=self.stream
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_report(report: ImportReport) -> str:
    lines = [
        f"Imported {report.source} into dataset '{report.dataset}'",
        "",
        f"  {'created':<12}{report.created:>8}",
        f"  {'updated':<12}{report.updated:>8}",
        f"  {'unchanged':<12}{report.unchanged:>8}",
        f"  {'conflicts':<12}{len(report.conflicts):>8}",
        f"  {'quarantined':<12}{len(report.quarantined):>8}",
        f"  {'errors':<12}{len(report.errors):>8}",
    ]
    if report.quarantined:
        lines += ["", "Quarantined files:"]
        lines += [f"  line {q['line']}: {q['path']}: {q['reason']}" for q in report.quarantined]
    if report.errors:
        lines += ["", "Rows not imported:"]
        lines += [f"  line {e['line']}: {e['path'] or '-'}: {e['reason']}" for e in report.errors]
    missing = [n for n in report.new_labels if not n["created"]]
    if missing:
        names = ",".join(f"{n['attribute']}:{n['label']}" for n in missing)
        lines += ["", f"Labels not in the dataset (--create-labels {names} to add them):"]
        lines += [f"  {n['attribute']}: {n['label']} ({n['rows']} rows)" for n in missing]
    if report.unused_create_labels:
        lines += ["", f"Named but used by no row: {', '.join(report.unused_create_labels)}"]
    if report.conflicts:
        lines += ["", "Conflicts (kept the app's label; --overwrite-manual to take the source's):"]
        lines += [
            f"  line {c['line']}: {c['path']} {c['attribute']}: "
            f"app has {c['current']}, source says {c['incoming']}"
            for c in report.conflicts
        ]
    return "\n".join(lines)
