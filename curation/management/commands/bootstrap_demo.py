"""manage.py bootstrap_demo: what `make run` does on first start.

Loads the demo catalogs when the database has no dataset yet, and creates one demo user per
role when none exists, printing their passwords. Running it again changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from curation.models import Dataset

ROLES = ("viewer", "merchandiser", "data_scientist", "admin")


class Command(BaseCommand):
    help = "Load demo catalogs into an empty database and create demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fashion-mnist-limit",
            type=int,
            default=int(os.environ.get("DEMO_FASHION_MNIST_LIMIT", "0")) or None,
            help=(
                "at most N Fashion-MNIST images per split "
                "(default: all; env DEMO_FASHION_MNIST_LIMIT)"
            ),
        )

    def handle(self, *args, **options):
        if Dataset.objects.exists():
            self.stdout.write("Datasets exist already; not loading demo catalogs.")
        else:
            demo_dir = Path(settings.VAR_DIR) / "demo"
            self.stdout.write("Empty database: loading the demo catalogs (first start only)…")
            call_command(
                "demo_catalog",
                "fashion-mnist",
                out=str(demo_dir / "fashion-mnist"),
                limit_per_split=options["fashion_mnist_limit"],
                stdout=self.stdout,
                stderr=self.stderr,
            )
            call_command(
                "demo_catalog",
                "synthetic-dresses",
                out=str(demo_dir / "synthetic-dresses"),
                stdout=self.stdout,
            )
        if User.objects.filter(username__in=ROLES).exists():
            self.stdout.write(
                "Demo users exist already (reset their passwords: manage.py setup_demo_users)."
            )
        else:
            call_command("setup_demo_users", stdout=self.stdout)
        self._queue_demo_index()

    def _queue_demo_index(self) -> None:
        """First start: queue a similarity index of the synthetic dresses (the cpu worker
        builds it in a minute or two), so look-alikes show on the image pages."""
        from curation.models import SimilarityIndex
        from curation.services.indexes import start_index_build

        dataset = Dataset.objects.filter(name="synthetic-dresses").first()
        builder = User.objects.filter(username="data_scientist").first()
        if (
            dataset is None
            or builder is None
            or SimilarityIndex.objects.filter(dataset=dataset).exists()
        ):
            return
        row = start_index_build(dataset=dataset, actor=builder)
        self.stdout.write(
            f"Queued similarity index #{row.pk} of the synthetic dresses on the cpu queue."
        )
