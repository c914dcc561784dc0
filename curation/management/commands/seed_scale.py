"""python manage.py seed_scale --images 1000000: a large synthetic catalog for load tests."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from curation.services.scale import ScaleError, seed_scale_catalog


class Command(BaseCommand):
    help = (
        "Fill the database with a synthetic catalog of N images (rows, predictions, history; "
        "no files), for load tests. Use PostgreSQL for large N."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, required=True)
        parser.add_argument("--dataset", default="scale-demo")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, images, dataset, seed, **options):
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:6.1f}s] {message}")

        try:
            created = seed_scale_catalog(images=images, name=dataset, seed=seed, progress=progress)
        except ScaleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"dataset '{created.name}': {images:,} images in {time.monotonic() - started:.1f} s"
            )
        )
