"""manage.py train --dataset D --attribute A [--arch …] [--epochs N] [--wait] [--json]

Goes through the same service and queue as the Retrain button: a worker on the `train`
queue runs it. --wait shows a progress bar and prints the final metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from curation.models import Attribute, Dataset, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.options import TrainingError


class Command(BaseCommand):
    help = "Queue a training run for one attribute (a worker on the `train` queue runs it)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--attribute", required=True)
        parser.add_argument("--arch", choices=["resnet18", "resnet50", "efficientnet_lite0"])
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--image-size", type=int)
        parser.add_argument(
            "--stn", action="store_true", help="add a Spatial Transformer front-end"
        )
        parser.add_argument(
            "--pretrained", action="store_true", help="EfficientNet-Lite0 ImageNet weights"
        )
        parser.add_argument("--class-weighting", choices=["none", "inverse", "effective"])
        parser.add_argument("--cv-folds", type=int)
        parser.add_argument("--cv-epochs", type=int)
        self.add_run_arguments(parser, option_help="any other TrainConfig field")

    def add_run_arguments(self, parser, *, option_help: str) -> None:
        """The arguments every run command shares: --option, --user, --wait, --json."""
        parser.add_argument(
            "--option", action="append", default=[], metavar="NAME=VALUE", help=option_help
        )
        parser.add_argument(
            "--user", default="admin", help="who starts it (needs the data scientist role)"
        )
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--json", action="store_true", help="print the final run as JSON")

    def handle(self, *args, **o):
        dataset = self.dataset(o["dataset"])
        attribute = Attribute.objects.filter(dataset=dataset, name=o["attribute"]).first()
        if attribute is None:
            names = ", ".join(dataset.attributes.values_list("name", flat=True))
            raise CommandError(
                f"dataset '{dataset.name}' has no attribute '{o['attribute']}' (has: {names})"
            )
        options = self.options(
            o,
            ("arch", "epochs", "image_size", "class_weighting", "cv_folds", "cv_epochs"),
            flags=("stn", "pretrained"),
        )
        self.start_and_report(
            lambda user: start_training_run(
                dataset=dataset, attribute=attribute, options=options, actor=user, trusted=True
            ),
            o,
        )

    def dataset(self, name: str) -> Dataset:
        dataset = Dataset.objects.filter(name=name).first()
        if dataset is None:
            raise CommandError(f"dataset '{name}' does not exist")
        return dataset

    def options(self, o: dict, keys: tuple[str, ...], *, flags: tuple[str, ...]) -> dict:
        """The named options that were given, the flags that were set, then each --option
        NAME=VALUE (VALUE read as JSON when it is JSON, else as a plain word)."""
        options = {key: o[key] for key in keys if o[key] is not None}
        options.update({flag: True for flag in flags if o[flag]})
        for item in o["option"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--option {item!r}: use NAME=VALUE")
            try:
                options[name] = json.loads(value)
            except ValueError:
                options[name] = value  # a plain word, e.g. arch=resnet18
        return options

    def start_and_report(self, start: Callable[[Any], TrainingRun], o: dict) -> None:
        """Start the run as --user, then follow it (--wait) and print it (--json)."""
        user = get_user_model().objects.filter(username=o["user"]).first()
        if user is None:
            raise CommandError(
                f"no user '{o['user']}'; pass --user with a data scientist's username"
            )
        try:
            run = start(user)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        except PermissionDenied as exc:
            raise CommandError(f"user '{user.username}': {exc}") from exc
        self.stderr.write(
            f"queued run {run.pk} ({run.train_count} train / {run.test_count} test images)"
        )
        if o["wait"]:
            run = self._follow(run)
        if o["json"]:
            from curation.api.runs import RunSerializer

            self.stdout.write(json.dumps(RunSerializer(run).data, default=str))
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")

    def _follow(self, run: TrainingRun) -> TrainingRun:
        bar = tqdm(
            total=100,
            unit="%",
            desc=f"run {run.pk}",
            file=self.stderr._out,
            bar_format="{l_bar}{bar}| {postfix}",
        )
        try:
            while run.status not in TrainingRun.FINISHED:
                time.sleep(1)
                run.refresh_from_db()
                p = run.progress or {}
                bar.n = run.percent
                bar.set_postfix_str(
                    f"{p.get('phase', run.status)} "
                    f"epoch {p.get('epoch', '-')}/{p.get('epochs', '-')} "
                    f"loss {p.get('loss', '-')} {p.get('images_per_s', '-')} img/s"
                )
        finally:
            bar.close()
        return run
