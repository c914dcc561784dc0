"""manage.py demo_catalog fashion-mnist|synthetic-dresses [--limit-per-split N] [--json]"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from curation.management.commands.import_catalog import ProgressBar, format_report
from curation.services.demo import DEMOS, load_demo_catalog
from curation.services.sources import SourceError


class Command(BaseCommand):
    help = "Write a demo catalog as image files + labels.csv and import it."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=DEMOS)
        parser.add_argument("--dataset", help="dataset name (default: the demo's name)")
        parser.add_argument("--out", help="folder for the files (default: var/demo/<kind>)")
        parser.add_argument(
            "--limit-per-split", type=int, help="Fashion-MNIST: at most N images per split"
        )
        parser.add_argument(
            "--products", type=int, default=300, help="synthetic dresses: number of products"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        out = Path(options["out"] or Path(settings.VAR_DIR) / "demo" / options["kind"])
        progress = ProgressBar(self.stderr._out)
        try:
            report = load_demo_catalog(
                options["kind"],
                out_dir=out,
                dataset_name=options["dataset"],
                limit_per_split=options["limit_per_split"],
                n_products=options["products"],
                progress=progress,
            )
        except (SourceError, ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.close()
        self.stdout.write(
            json.dumps(report.to_dict()) if options["json"] else format_report(report)
        )
