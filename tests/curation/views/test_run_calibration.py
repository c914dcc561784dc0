"""The run page's calibration panel: ECE before and after temperature scaling on the test
split, the temperature and what it was fitted on, and the reliability diagram (inline SVG)."""

from __future__ import annotations

import re
from dataclasses import asdict
from html import unescape

import pytest

from curation.models import PromotedModel, RunImage, TrainingRun
from mlcore.config import TrainConfig
from tests.support.runs import finished_run
from tests.support.training import train_colours

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_a_cross_fitted_run_shows_its_reliability_diagram_and_ece(
    client, data_scientist, viewer, tmp_path, settings
):
    run = train_colours(tmp_path, settings, data_scientist, epochs=3)
    calibration = run.metrics["calibration"]
    oos = RunImage.objects.filter(run=run, out_of_sample=True).count()
    assert calibration["fitted_on"] == oos > 0

    client.force_login(viewer)
    response = client.get(run.get_absolute_url())
    assert response.status_code == 200
    html, text = response.content.decode(), _text(response)
    svg = re.search(r'<svg class="chart reliability".*?</svg>', html, re.S)
    assert svg, "no reliability diagram"
    # One bar per non-empty bin in each panel, with the bin's count printed on it.
    bars = re.findall(r"<rect fill=\"#(?:cbd5e1|7c3aed)\"", svg.group(0))
    filled = [b for b in calibration["bins_before"] + calibration["bins_after"] if b["count"]]
    assert len(bars) == len(filled) > 0
    assert sum(int(n) for n in re.findall(r'text-anchor="middle">(\d+)<', svg.group(0))) == (
        2 * run.test_count
    )
    assert "stroke-dasharray" in svg.group(0)  # the diagonal
    assert f"ECE {calibration['ece_before']:.4f} before, {calibration['ece_after']:.4f} after" in (
        text
    )
    assert f"T = {calibration['temperature']:.3f}, fitted on {oos} out-of-sample" in text
    assert "never on the test split" in text
    assert "<script" not in svg.group(0)
    # Per class, one versus the rest: a panel per label, each counting every test image.
    per_class = re.search(r'<svg class="chart reliability-classes".*?</svg>', html, re.S)
    assert per_class, "no per-class reliability"
    for name in run.label_names:
        assert f">{name}</text>" in per_class.group(0), name
    assert len(re.findall(r">ECE \d\.\d{3} · \d+ given<", per_class.group(0))) == len(
        run.label_names
    )
    counts = re.findall(r'text-anchor="middle">(\d+)<', per_class.group(0))
    assert sum(int(n) for n in counts) == len(run.label_names) * run.test_count


def test_a_promoted_run_without_out_of_sample_rows_says_t_is_one_and_why(client, imported, viewer):
    run = finished_run(imported.attributes.get(name="neckline"))
    RunImage.objects.filter(run=run).update(out_of_sample=False)  # as if trained without folds
    TrainingRun.objects.filter(pk=run.pk).update(
        config=asdict(TrainConfig()),  # what the page shows of a real run
        metrics={  # test-split metrics, no calibration stored yet
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "weighted_f1": 1.0,
            "per_class": [],
            "label_names": run.label_names,
            "confusion": [[0] * len(run.label_names)] * len(run.label_names),
        },
    )
    PromotedModel.objects.create(attribute=run.attribute, run=run)
    client.force_login(viewer)
    response = client.get(run.get_absolute_url())
    text = _text(response)
    assert 'href="/datasets/dresses/attributes/neckline/auto-accept/"' in response.content.decode()
    assert "T = 1 (no change): this run has no out-of-sample training predictions" in text
    assert "without cross-fitting" in text
    run.refresh_from_db()
    assert run.metrics["calibration"]["fitted_on"] == 0  # computed once and kept
