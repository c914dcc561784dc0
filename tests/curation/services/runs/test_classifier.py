"""Training runs in-process: snapshot, train/evaluate/cross-fit/rank, idempotency, cancel,
promote, API and CLI. (A real worker process, killed mid-run: test_worker_process.py.)"""

from __future__ import annotations

import pytest
import torch
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from curation.models import Annotation, Image, PromotedModel, ReviewItem, RunImage, TrainingRun
from curation.services.imports import import_catalog
from curation.services.labels import relabel_image
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.control import cancel_training_run, promote_training_run
from curation.services.runs.execute import execute_training_run
from curation.services.runs.options import TrainingError
from mlcore.config import TrainConfig
from mlcore.models import build_model
from tests.support.run_kinds import BAD_BACKBONE_OPTIONS, cancel_at_step, waited_command
from tests.support.training import FAST_OPTIONS, write_two_colour_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def colours(tmp_path, settings):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    from curation.models import Dataset

    dataset = Dataset.objects.get(name="colours")
    return dataset, dataset.attributes.get(name="colour")


def _start(colours, user, **options):
    dataset, attribute = colours
    return start_training_run(
        dataset=dataset, attribute=attribute, options={**FAST_OPTIONS, **options}, actor=user
    )


def test_a_merchandiser_cannot_start_a_run(colours, merchandiser):
    with pytest.raises(PermissionDenied):
        _start(colours, merchandiser)
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(("options", "words"), BAD_BACKBONE_OPTIONS)
def test_bad_options_are_refused_with_a_reason(colours, data_scientist, options, words):
    with pytest.raises(TrainingError, match=words):
        _start(colours, data_scientist, **options)


def test_a_weights_path_from_the_page_or_api_must_be_in_the_weights_folder(
    colours, data_scientist, settings, tmp_path
):
    settings.CURATION_WEIGHTS_DIR = tmp_path / "weights"
    settings.CURATION_WEIGHTS_DIR.mkdir()
    # A file that fits the run's model: weights are checked at submit (test_option_checks.py).
    keys = ("arch", "width", "small_stem", "image_size")
    model = build_model(TrainConfig(**{k: FAST_OPTIONS[k] for k in keys}), 2)
    torch.save(model.backbone.state_dict(), settings.CURATION_WEIGHTS_DIR / "resnet18.pt")
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes((settings.CURATION_WEIGHTS_DIR / "resnet18.pt").read_bytes())
    client = APIClient()
    client.force_authenticate(data_scientist)
    for raw, words in [
        (str(outside), "CURATION_WEIGHTS_DIR"),
        ("../elsewhere.pt", "CURATION_WEIGHTS_DIR"),
        ("/etc/passwd", "CURATION_WEIGHTS_DIR"),
        ("missing.pt", "no file missing.pt"),
    ]:
        body = {
            "dataset": "colours",
            "attribute": "colour",
            "options": {**FAST_OPTIONS, "weights_path": raw},
        }
        response = client.post("/api/runs/", body, format="json")
        assert response.status_code == 400 and words in response.json()["options"], raw
    assert not TrainingRun.objects.exists()
    run = _start(colours, data_scientist, weights_path="resnet18.pt")  # a bare name: in the folder
    assert run.config["weights_path"] == str(
        (settings.CURATION_WEIGHTS_DIR / "resnet18.pt").resolve()
    )
    # The command line is trusted: whoever runs it has the server's files anyway.
    dataset, attribute = colours
    trusted = start_training_run(
        dataset=dataset,
        attribute=attribute,
        actor=data_scientist,
        trusted=True,
        options={**FAST_OPTIONS, "weights_path": str(outside)},
    )
    assert trusted.config["weights_path"] == str(outside)


def test_the_snapshot_trains_on_train_and_tests_on_test_only(colours, data_scientist):
    run = _start(colours, data_scientist)
    train_ids = set(
        RunImage.objects.filter(run=run, split="train").values_list("image_id", flat=True)
    )
    test_ids = set(
        RunImage.objects.filter(run=run, split="test").values_list("image_id", flat=True)
    )
    assert train_ids and test_ids and not train_ids & test_ids
    assert train_ids == set(
        Image.objects.filter(dataset=run.dataset, split="train").values_list("id", flat=True)
    )
    assert test_ids == set(
        Image.objects.filter(dataset=run.dataset, split="test").values_list("id", flat=True)
    )
    assert (run.train_count, run.test_count) == (len(train_ids), len(test_ids))


def test_a_run_trains_evaluates_cross_fits_and_ranks_suspects(colours, data_scientist, tmp_path):
    run = _start(colours, data_scientist, epochs=4)
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.finished_at and run.attempts == 1
    assert run.metrics["accuracy"] >= 0.9, run.metrics
    assert len(run.metrics["per_class"]) == 2 and run.loss_curve
    # The mistakes are RunImage rows; the run row does not grow with the test split.
    assert "false_positives" not in run.metrics and "false_negatives" not in run.metrics
    rows = RunImage.objects.filter(run=run)
    assert not rows.filter(predicted_label=None).exists()
    assert set(rows.filter(split="train").values_list("out_of_sample", flat=True)) == {True}
    assert set(rows.filter(split="test").values_list("out_of_sample", flat=True)) == {False}
    for row in rows:
        assert abs(sum(row.probs) - 1) < 1e-3 and row.confidence == pytest.approx(
            max(row.probs), abs=1e-4
        )
    ranks = sorted(rows.exclude(suspect_rank=None).values_list("suspect_rank", flat=True))
    assert ranks == list(range(1, len(ranks) + 1))
    # the run's estimate of wrong labels, per split and class (its accuracy: test_issues.py)
    wrong = run.metrics["wrong_labels"]
    assert set(wrong) == {"train", "test"} and set(wrong["train"]) == {"red", "blue"}
    for split, count in (("train", run.train_count), ("test", run.test_count)):
        assert 0 <= sum(wrong[split].values()) <= count
    from mlcore.store import load_model

    assert load_model(run.artifact_uri).label_names == ["red", "blue"]
    # The QA aggregates agree with the model's own test metrics, and the suspects are queued.
    test_confusion = run.aggregates["splits"]["test"]["confusion"]
    assert test_confusion == run.metrics["confusion"]
    assert sum(map(sum, run.aggregates["splits"]["train"]["confusion"])) == run.train_count
    errors = {r.pk for r in rows if r.predicted_label_id != r.given_label_id}
    assert set(rows.filter(is_error=True).values_list("pk", flat=True)) == errors
    # One review order over every scored image, train and test alike; the flagged suspects
    # keep their order inside it, and the review queue is its head.
    order = list(rows.order_by("review_rank").values_list("review_rank", "suspect_rank"))
    assert [r for r, _ in order] == list(range(1, rows.count() + 1))
    assert [s for _, s in order if s is not None] == ranks
    queued = ReviewItem.objects.filter(run=run).order_by("rank")
    assert list(queued.values_list("rank", flat=True)) == list(range(1, rows.count() + 1))
    # A second delivery of the same task changes nothing.
    before = list(rows.order_by("id").values_list("id", "predicted_label_id", "probs"))
    assert execute_training_run(run.pk) == "already finished"
    assert list(rows.order_by("id").values_list("id", "predicted_label_id", "probs")) == before


@pytest.mark.slow
def test_planted_mislabels_rank_at_the_top(colours, data_scientist):
    dataset, attribute = colours
    blue = attribute.labels.get(name="blue")
    planted = list(
        Image.objects.filter(dataset=dataset, split="train", source_path__startswith="red/")[:2]
    )
    for image in planted:
        relabel_image(image=image, attribute=attribute, label=blue, actor=data_scientist)
    run = _start(colours, data_scientist, epochs=4, batch_size=4, cv_epochs=5)
    assert execute_training_run(run.pk) == "succeeded"
    top = set(
        RunImage.objects.filter(run=run, suspect_rank__lte=4).values_list("image_id", flat=True)
    )
    assert {im.pk for im in planted} <= top


@pytest.mark.slow
def test_planted_mislabels_lead_the_review_order_on_train_and_test(colours, data_scientist):
    dataset, attribute = colours
    blue = attribute.labels.get(name="blue")
    reds = Image.objects.filter(dataset=dataset, source_path__startswith="red/")
    planted = [*reds.filter(split="train")[:2], *reds.filter(split="test")[:2]]
    for image in planted:
        relabel_image(image=image, attribute=attribute, label=blue, actor=data_scientist)
    run = _start(colours, data_scientist, epochs=4, batch_size=4, cv_epochs=5)
    assert execute_training_run(run.pk) == "succeeded"
    rows = RunImage.objects.filter(run=run)
    assert not rows.filter(review_rank=None).exists()  # every usable image has a place
    top = set(rows.filter(review_rank__lte=6).values_list("image_id", flat=True))
    assert {im.pk for im in planted} <= top
    # The flagged test images lead: their labels are the ones the reported figures count.
    flagged_test = rows.filter(split="test", suspect_rank__isnull=False)
    head = rows.filter(review_rank__lte=flagged_test.count())
    assert flagged_test.exists()
    assert set(head.values_list("pk", flat=True)) == set(flagged_test.values_list("pk", flat=True))


def test_relabels_after_the_start_do_not_change_the_snapshot(colours, data_scientist):
    dataset, attribute = colours
    run = _start(colours, data_scientist)
    image = Image.objects.filter(dataset=dataset, source_path__startswith="red/").first()
    relabel_image(
        image=image,
        attribute=attribute,
        label=attribute.labels.get(name="blue"),
        actor=data_scientist,
    )
    assert RunImage.objects.get(run=run, image=image).given_label.name == "red"


def test_a_queued_run_cancels_at_once(colours, data_scientist):
    run = cancel_training_run(run=_start(colours, data_scientist), actor=data_scientist)
    assert run.status == "cancelled"
    assert execute_training_run(run.pk) == "already finished"


def test_cancel_stops_a_running_run_within_one_step(colours, data_scientist, monkeypatch):
    run = _start(colours, data_scientist, epochs=3, batch_size=4, progress_every=1)
    seen = cancel_at_step(monkeypatch, run, 2, 1)
    assert execute_training_run(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.progress["phase"] == "cancelled"
    assert seen[-1] == (2, 1)  # not a single step after the request
    assert (run.finished_at is not None) and not RunImage.objects.filter(run=run).exclude(
        predicted_label=None
    ).exists()
    from django.conf import settings

    assert (
        settings.CURATION_RUNS_DIR / str(run.pk) / "model" / "checkpoint.pt"
    ).exists()  # epoch 1 kept


@pytest.mark.slow
def test_a_run_with_a_live_worker_is_left_alone_and_a_stale_one_resumed(
    colours, data_scientist, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from curation.services.runs.control import resume_stale_runs

    run = _start(colours, data_scientist)
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", heartbeat_at=timezone.now(), attempts=1
    )
    assert execute_training_run(run.pk) == "running elsewhere"
    assert resume_stale_runs() == []
    stale = timezone.now() - timedelta(seconds=settings.CURATION_RUN_STALE_SECONDS + 5)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    assert resume_stale_runs() == [run.pk]  # the eager task ran it to the end
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 2


@pytest.mark.slow
def test_only_a_succeeded_run_can_be_promoted(colours, data_scientist):
    run = _start(colours, data_scientist)
    with pytest.raises(TrainingError, match="only a succeeded run"):
        promote_training_run(run=run, actor=data_scientist)
    execute_training_run(run.pk)
    run.refresh_from_db()
    promote_training_run(run=run, actor=data_scientist)
    assert PromotedModel.objects.get(attribute=run.attribute).run_id == run.pk


def test_api_starts_a_run_with_202_and_reports_it(
    colours, data_scientist, viewer, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_authenticate(data_scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/runs/",
            {"dataset": "colours", "attribute": "colour", "options": FAST_OPTIONS},
            format="json",
        )
    assert response.status_code == 202
    run_id = response.json()["id"]
    body = client.get(f"/api/runs/{run_id}/").json()
    assert body["status"] == "succeeded" and body["metrics"]["accuracy"] > 0.5
    suspects = client.get(f"/api/runs/{run_id}/suspects/").json()["results"]
    assert [s["review_rank"] for s in suspects] == list(range(1, len(suspects) + 1))
    flagged = client.get(f"/api/runs/{run_id}/suspects/", {"flagged": "true"}).json()
    ranks = [s["suspect_rank"] for s in flagged["results"]]
    assert ranks == sorted(ranks) and all(s["flagged"] for s in flagged["results"])
    predictions = client.get(f"/api/runs/{run_id}/predictions/", {"split": "test"}).json()[
        "results"
    ]
    assert predictions and all(not p["out_of_sample"] for p in predictions)
    assert client.post(f"/api/runs/{run_id}/promote/").status_code == 200
    viewer_client = APIClient()
    viewer_client.force_authenticate(viewer)
    assert viewer_client.post(f"/api/runs/{run_id}/cancel/").status_code == 403
    bad = client.post(
        "/api/runs/",
        {"dataset": "colours", "attribute": "colour", "options": {"epochs": -1}},
        format="json",
    )
    assert bad.status_code == 400 and "epochs" in bad.json()["options"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_train_command_waits_and_prints_json(colours, data_scientist):
    """Transactional, so the run is queued (and, tasks being eager here, run) on commit."""
    body, err = waited_command(
        "train",
        *("--dataset", "colours", "--attribute", "colour"),
        user=data_scientist,
        options=FAST_OPTIONS,
    )
    assert body["status"] == "succeeded" and body["metrics"]["accuracy"] > 0.5
    assert "queued run" in err


def test_the_run_pages_show_progress_metrics_and_suspects(colours, data_scientist, client):
    run = _start(colours, data_scientist)
    client.force_login(data_scientist)
    queued = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Waiting for a worker" in queued and "Cancel run" in queued
    assert (
        f"{run.config['cv_folds']}-fold cross-fitting, {run.config['cv_epochs']} epochs a fold"
        in queued
    )
    probe = _start(
        colours,
        data_scientist,
        arch="efficientnet_lite0",
        pretrained=True,
        cv_method="linear_probe",
        optimizer="adamw",
    )
    page = client.get(f"/runs/{probe.pk}/").content.decode()
    assert "linear probe on frozen pretrained features" in page and "adamw lr" in page
    execute_training_run(run.pk)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Confusion matrix" in page and "<svg" in page and "Promote to current model" in page
    assert f"#{run.pk}" in client.get("/runs/").content.decode()
    form = client.get("/datasets/colours/attributes/colour/retrain/")
    assert form.status_code == 200 and "Start training" in form.content.decode()
    assert Annotation.objects.exists()


def test_each_architecture_gets_its_own_recipe_and_the_users_options_win(colours):
    from curation.services.runs.classifier_start import build_config

    dataset, _ = colours
    lite = build_config(dataset, {"arch": "efficientnet_lite0"})
    assert (lite["optimizer"], lite["lr"], lite["epochs"], lite["pretrained"]) == (
        "adamw",
        2e-3,
        3,
        True,
    )
    assert (lite["image_size"], lite["small_stem"], lite["cv_folds"], lite["cv_epochs"]) == (
        32,
        True,
        4,
        3,
    )
    assert build_config(dataset, {}) == lite  # small images: Lite0 unless asked otherwise
    mine = build_config(dataset, {"arch": "efficientnet_lite0", "epochs": 5, "pretrained": False})
    assert (mine["epochs"], mine["pretrained"], mine["optimizer"]) == (5, False, "adamw")
    resnet = build_config(dataset, {"arch": "resnet50"})
    assert (resnet["arch"], resnet["optimizer"], resnet["lr"], resnet["small_stem"]) == (
        "resnet50",
        "sgd",
        0.1,
        True,
    )


def test_the_progress_bar_counts_cross_fitting_not_just_training():
    def percents(config, stages, kind="classifier"):
        return [
            TrainingRun(kind=kind, status="running", config=config, progress=p).percent
            for p in stages
        ]

    trained = {"epoch": 4, "epochs": 4, "step": 10, "steps": 10}
    kfold = [
        {"phase": "training", "epoch": 1, "epochs": 4, "step": 5, "steps": 10},
        {"phase": "training", **trained},
        {"phase": "cross-fitting", **trained, "folds": 3},
        {
            "phase": "cross-fitting",
            **trained,
            "folds": 3,
            "fold": 1,
            "fold_epoch": 1,
            "fold_epochs": 2,
            "fold_step": 5,
            "fold_steps": 10,
        },
        {
            "phase": "cross-fitting",
            **trained,
            "folds": 3,
            "fold": 3,
            "fold_epoch": 2,
            "fold_epochs": 2,
            "fold_step": 10,
            "fold_steps": 10,
        },
        {"phase": "ranking", **trained},
    ]
    # 4 training epochs, then 3 folds x 2 epochs on 2/3 of the images: 4 epochs' worth more.
    assert percents({"cv_folds": 3, "cv_epochs": 2}, kfold) == [6, 50, 50, 54, 99, 99]
    probe = [
        {"phase": "training", **trained},
        {"phase": "cross-fitting", **trained, "fold": 0, "fold_step": 500, "fold_steps": 1000},
        {
            "phase": "cross-fitting",
            **trained,
            "fold": 2,
            "folds": 3,
            "fold_step": 1,
            "fold_steps": 1,
        },
    ]
    assert percents({"cv_folds": 3, "cv_method": "linear_probe"}, probe) == [80, 83, 95]
    assert percents({}, kfold[:2], kind="similarity") == [12, 99]
