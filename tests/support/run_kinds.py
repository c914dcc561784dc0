"""What the tests of both run kinds (classifier, similarity) share: the option mistakes both
refuse the same way at start (the shared option coercion, then mlcore's backbone checks), a
cancel requested at a given training step, and their commands run waiting for the run."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command

from curation.models import TrainingRun

BAD_BACKBONE_OPTIONS = [
    ({"colour_space": "lab"}, "unknown option"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"epochs": "many"}, "'epochs' must be a whole number"),
    ({"epochs": "²"}, "'epochs' must be a whole number"),  # isdigit(), then int() fails
    ({"epochs": "9" * 5000}, "'epochs' must be a whole number"),  # past int()'s digits
    ({"epochs": "١٢"}, "'epochs' must be a whole number"),
    ({"epochs": "1e3"}, "'epochs' must be a whole number"),
    ({"arch": "vgg16"}, "arch='vgg16' is not one of"),
    ({"pretrained": True, "arch": "resnet18"}, "No pretrained weights ship for resnet18"),
]


def waited_command(name: str, *args: str, user, options: dict) -> tuple[dict, str]:
    """`manage.py name *args --user … --wait --json --option=k=v …`: (the JSON it printed,
    what it wrote to stderr)."""
    out, err = StringIO(), StringIO()
    flags = [f"--option={k}={json.dumps(v)}" for k, v in options.items()]
    call_command(
        name, *args, "--user", user.username, "--wait", "--json", *flags, stdout=out, stderr=err
    )
    return json.loads(out.getvalue()), err.getvalue()


def cancel_at_step(monkeypatch, run: TrainingRun, epoch: int, step: int) -> list[tuple[int, int]]:
    """Request the run's cancel when training reports (epoch, step), as Cancel pressed then.
    Returns the (epoch, step) of every report, filled in as the run trains."""
    from curation.services.runs import worker

    seen = []
    real = worker.Reporter.train

    def train_and_cancel(self, p):
        real(self, p)
        seen.append((p.epoch, p.step))
        if (p.epoch, p.step) == (epoch, step):
            TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            self.last_check = 0.0  # don't let the 0.2 s throttle hide the request

    monkeypatch.setattr(worker.Reporter, "train", train_and_cancel)
    return seen
