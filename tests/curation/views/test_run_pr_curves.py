"""The run page's precision-recall curves: one inline-SVG panel per class, its AP that of
scikit-learn on the run's stored test probabilities, no inline style or script."""

from __future__ import annotations

import re
from dataclasses import asdict

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from curation.models import Image, RunImage, TrainingRun
from mlcore.config import TrainConfig
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db


def _as_trained(run: TrainingRun) -> TrainingRun:
    """The config the run page shows of a real run."""
    TrainingRun.objects.filter(pk=run.pk).update(config=asdict(TrainConfig()))
    return run


def test_the_run_page_draws_a_curve_per_class_with_sklearns_ap(client, viewer, imported):
    neckline = imported.attributes.get(name="neckline")
    test = sorted(Image.objects.filter(dataset=imported, split="test").values_list("pk", flat=True))
    run = _as_trained(finished_run(neckline, wrong={test[0]}))
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()

    svg = re.search(r'<svg class="chart pr-curves".*?</svg>', html, re.S)
    assert svg, "no precision-recall curves"
    rows = RunImage.objects.filter(run=run, split="test").order_by("id")
    names = dict(neckline.labels.values_list("id", "name"))
    probs = np.array([r.probs for r in rows])
    given = np.array([run.label_names.index(names[r.given_label_id]) for r in rows])
    for i, name in enumerate(run.label_names):
        assert f">{name}</text>" in svg.group(0)
        if (given == i).any():
            ap = average_precision_score(given == i, probs[:, i])
            assert f">AP {ap:.3f} · {(given == i).sum()} given<" in svg.group(0), name
    assert len(re.findall(r'<polyline class="pr"', svg.group(0))) == int(
        sum((given == i).any() for i in range(len(run.label_names)))
    )
    assert "style=" not in svg.group(0) and "<script" not in svg.group(0)
    assert not re.search(r"<style|\sstyle=", html)


def test_a_run_without_test_rows_has_no_curves(client, viewer, imported):
    run = _as_trained(finished_run(imported.attributes.get(name="neckline")))
    RunImage.objects.filter(run=run, split="test").delete()
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()
    assert 'id="pr-curves"' not in html
