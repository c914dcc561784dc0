"""manage.py score --dataset D [--attribute A] [--queue] [--user USERNAME]

Scores the usable images each promoted model has not scored yet (new arrivals, images
imported before the promotion). By default the job runs here, in this process, with a
progress bar; --queue hands it to a worker on CURATION_SCORE_QUEUE instead, as the attribute
card's button does. Either way it is the same ScoringJob row, so the page shows its
progress, and a job already running for the model is followed rather than doubled."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from curation.models import Attribute, Dataset, ScoringJob
from curation.services.scoring import ScoringError, run_scoring_job, start_scoring_job


class Command(BaseCommand):
    help = "Score a dataset's images with its promoted models (in-process, or --queue)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--attribute", help="one attribute (default: each promoted one)")
        parser.add_argument(
            "--queue", action="store_true", help="queue the job for a worker, don't run it here"
        )
        parser.add_argument(
            "--user", default="admin", help="who starts it (needs the data scientist role)"
        )

    def handle(self, *args, **o):
        dataset = Dataset.objects.filter(name=o["dataset"]).first()
        if dataset is None:
            raise CommandError(f"dataset '{o['dataset']}' does not exist")
        user = get_user_model().objects.filter(username=o["user"]).first()
        if user is None:
            raise CommandError(f"no user '{o['user']}'; pass --user with a data scientist's name")
        for attribute in self.attributes(dataset, o["attribute"]):
            asked = timezone.now()
            try:
                job = start_scoring_job(
                    attribute=attribute, actor=user, reason="command", enqueue=o["queue"]
                )
            except ScoringError as exc:
                raise CommandError(str(exc)) from exc
            except PermissionDenied as exc:
                raise CommandError(f"user '{user.username}': {exc}") from exc
            if o["queue"]:
                self.stdout.write(f"{attribute.name}: queued scoring job {job.pk}")
                continue
            job = self.follow(job, run_here=job.created_at >= asked)
            self.stdout.write(
                f"{attribute.name}: job {job.pk} {job.status}, {job.done - job.skipped} "
                f"scored, {job.skipped} unreadable, with run {job.run_id}"
            )
            if job.status == ScoringJob.Status.FAILED:
                raise CommandError(f"scoring job {job.pk} failed: {job.error}")

    def attributes(self, dataset: Dataset, name: str | None) -> list[Attribute]:
        if name is not None:
            attribute = Attribute.objects.filter(dataset=dataset, name=name).first()
            if attribute is None:
                names = ", ".join(dataset.attributes.values_list("name", flat=True))
                raise CommandError(
                    f"dataset '{dataset.name}' has no attribute '{name}' (has: {names})"
                )
            return [attribute]
        found = list(dataset.attributes.filter(promoted__isnull=False).order_by("id"))
        if not found:
            raise CommandError(
                f"dataset '{dataset.name}' has no promoted model; promote a run first"
            )
        return found

    def follow(self, job: ScoringJob, *, run_here: bool) -> ScoringJob:
        """Run the job in this process, or (one a worker has already) watch its row."""
        bar = tqdm(unit="img", desc=f"scoring {job.attribute.name}", file=self.stderr._out)

        def progress(current: ScoringJob) -> None:
            bar.total = current.total
            bar.n = current.done
            bar.refresh()

        try:
            if run_here:
                run_scoring_job(job.pk, progress=progress)
                job.refresh_from_db()
            while job.status in ScoringJob.ACTIVE:
                time.sleep(1)
                job.refresh_from_db()
                progress(job)
        finally:
            bar.close()
        job.refresh_from_db()
        return job
