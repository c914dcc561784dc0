"""manage.py train_similarity --dataset D [--epochs N] [--localize] [--wait] [--json]

Goes through the same service and queue as the Train similarity button: a worker on the
`train` queue runs it, and a run that succeeds queues an index build with its net. --wait
shows a progress bar and prints the final metrics."""

from __future__ import annotations

from curation.management.commands.train import Command as TrainCommand
from curation.services.runs.similarity_start import start_similarity_run


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
        self.add_run_arguments(
            parser,
            option_help="any other TripletConfig field or run option (e.g. group_per_image=3)",
        )

    def handle(self, *args, **o):
        dataset = self.dataset(o["dataset"])
        options = self.options(
            o, ("arch", "epochs", "image_size", "dim", "margin"), flags=("localize",)
        )
        self.start_and_report(
            lambda user: start_similarity_run(dataset=dataset, options=options, actor=user), o
        )
