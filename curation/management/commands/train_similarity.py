"""manage.py train_similarity --dataset D [--epochs N] [--localize] [--wait] [--json]

Goes through the same service and queue as the Train similarity button: a worker on the
`train` queue runs it, and a run that succeeds queues an index build with its net. --wait
shows a progress bar and prints the final metrics."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from curation.management.commands.train import Command as TrainCommand
from curation.models import Dataset, TrainingRun
from curation.services.similarity_runs import start_similarity_run
from curation.services.training import TrainingError


class Command(TrainCommand):
    help = "Queue a similarity run (triplet net, optional localizer) for a dataset."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--arch", choices=["resnet18", "resnet50", "efficientnet_lite0"])
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--dim", type=int, help="embedding size")
        parser.add_argument("--margin", type=float, help="hinge margin on squared distances")
        parser.add_argument(
            "--localize", action="store_true", help="train a dress localizer on the boxes too"
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="any other TripletConfig field or run option (e.g. group_per_image=3)",
        )
        parser.add_argument(
            "--user", default="admin", help="who starts it (needs the data scientist role)"
        )
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--json", action="store_true", help="print the final run as JSON")

    def handle(self, *args, **o):
        dataset = Dataset.objects.filter(name=o["dataset"]).first()
        if dataset is None:
            raise CommandError(f"dataset '{o['dataset']}' does not exist")
        user = get_user_model().objects.filter(username=o["user"]).first()
        if user is None:
            raise CommandError(
                f"no user '{o['user']}'; pass --user with a data scientist's username"
            )
        options = {
            key: o[key]
            for key in ("arch", "epochs", "image_size", "dim", "margin")
            if o[key] is not None
        }
        if o["localize"]:
            options["localize"] = True
        for item in o["option"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--option {item!r}: use NAME=VALUE")
            try:
                options[name] = json.loads(value)
            except ValueError:
                options[name] = value  # a plain word, e.g. arch=resnet18
        try:
            run = start_similarity_run(dataset=dataset, options=options, actor=user)
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
