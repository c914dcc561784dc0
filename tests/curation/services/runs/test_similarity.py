"""Similarity runs in-process: options, roles, training on synthetic dresses with held-out
triplet accuracy, people's triplets, the localizer, cancel, resume, the index built with the
trained net, the run page and the command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from curation.models import Dataset, Image, ImageBox, SimilarityIndex, TrainingRun, Triplet
from curation.queries import search
from curation.services.datasets import create_dataset
from curation.services.demo import load_demo_catalog
from curation.services.runs.execute import execute_training_run
from curation.services.runs.options import TrainingError
from curation.services.runs.similarity_start import start_similarity_run
from curation.services.triplets import record_triplet
from mlcore.datasets.synthetic_dresses import ATTRIBUTES
from tests.support.run_kinds import BAD_BACKBONE_OPTIONS, cancel_at_step, waited_command
from tests.support.services import use_s3_storage

pytestmark = pytest.mark.django_db

FAST = {
    "arch": "resnet18",
    "pretrained": False,
    "image_size": 32,
    "width": 8,
    "epochs": 8,
    "batch_size": 16,
    "lr": 0.01,
    "progress_every": 1,
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny nets: one thread is faster than two, and far faster on a loaded machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dresses(tmp_path, settings):
    """30 synthetic products x 3 photos with exact boxes; a fixed salt, so the same 6
    products land in the test split every time."""
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    return _pinned_dresses(tmp_path, n_products=30)


def _pinned_dresses(tmp_path, *, n_products: int) -> Dataset:
    """The synthetic-dresses demo under a fixed split salt: the same products land in the
    test split every run (a random salt left 10 products' test split empty one run in nine)."""
    dataset = create_dataset(
        name="synthetic-dresses",
        is_synthetic=True,
        attributes={k: list(v) for k, v in ATTRIBUTES.items()},
    )
    Dataset.objects.filter(pk=dataset.pk).update(split_salt="helper6-fixed")
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=n_products)
    return Dataset.objects.get(pk=dataset.pk)


def _start(dataset, user, **options):
    return start_similarity_run(dataset=dataset, options={**FAST, **options}, actor=user)


def _images(dataset, split: str) -> list[Image]:
    return list(Image.objects.filter(dataset=dataset, split=split).order_by("id"))


@pytest.fixture
def weak_baseline(monkeypatch):
    """The pretrained embedder scores 0 on held-out triplets, so the trained net wins."""
    from curation.services.runs import similarity_worker

    monkeypatch.setattr(similarity_worker, "baseline_accuracy", lambda *args: 0.0)


def test_a_run_learns_look_alikes_and_the_index_uses_its_net(
    dresses, data_scientist, django_capture_on_commit_callbacks, weak_baseline
):
    run = _start(dresses, data_scientist)
    assert (run.kind, run.attribute_id, run.status) == ("similarity", None, "queued")
    assert run.label_names == list(ATTRIBUTES) and run.train_count + run.test_count == 90
    with django_capture_on_commit_callbacks(execute=True):
        assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    m = run.metrics
    assert m["triplet_accuracy"] > 0.7, m  # held-out test-split triplets; chance is 0.5
    assert m["train_triplet_accuracy"] >= m["triplet_accuracy"] - 0.1
    assert all(m["triplets"]["train"][k] > 0 for k in ("flip", "group", "attribute"))
    assert m["triplets"]["held"]["group"] > 0 and "flip" not in m["triplets"]["held"]
    assert run.loss_curve and run.progress["phase"] == "done" and run.artifact_uri
    from mlcore.similarity import triplet_embedder

    assert triplet_embedder(run.artifact_uri).dim == 128
    index = SimilarityIndex.objects.get(pk=m["index"])
    assert (index.run_id, index.status, index.dim, index.count) == (run.pk, "ready", 128, 90)
    image = _images(dresses, "test")[0]
    hits = search.similar_to_image(image, search.Query(k=5))
    assert len(hits) == 5 and search.current_index(dresses).pk == index.pk
    assert execute_training_run(run.pk) == "already finished"


def test_peoples_triplets_train_or_test_by_their_split(dresses, data_scientist, merchandiser):
    train, test = _images(dresses, "train"), _images(dresses, "test")
    for a, b, c in (train[0:3], train[3:6], test[0:3]):
        record_triplet(reference=a, closer=b, farther=c, actor=merchandiser)
    record_triplet(reference=test[3], closer=train[7], farther=test[4], actor=merchandiser)
    run = _start(dresses, data_scientist, epochs=1, human_repeat=3)
    assert execute_training_run(run.pk) == "succeeded"
    m = TrainingRun.objects.get(pk=run.pk).metrics
    assert m["triplets"]["train"]["human"] == 2 * 3 and m["triplets"]["held"]["human"] == 1
    assert m["human_unused"] == {"mixed_splits": 1, "unusable_image": 0}
    assert set(m["accuracy_by_source"]["held"]) == {"group", "attribute", "human"}
    assert 0.5 < m["baseline_triplet_accuracy"] <= 1  # the pretrained embedder, measured


def test_a_net_worse_than_the_pretrained_embedder_is_not_indexed_unless_asked(
    dresses, data_scientist, client, monkeypatch, django_capture_on_commit_callbacks
):
    from curation.services.runs import similarity_worker

    monkeypatch.setattr(similarity_worker, "baseline_accuracy", lambda *args: 1.0)
    run = _start(dresses, data_scientist, epochs=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert "below the pretrained embedder's 1.000" in run.metrics["index_error"]
    assert "index" not in run.metrics and not SimilarityIndex.objects.exists()
    client.force_login(data_scientist)
    assert "Build an index with this net" in client.get(run.get_absolute_url()).content.decode()
    url = reverse("curation:index_build", args=[dresses.name])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"run": run.pk}).status_code == 302
    assert SimilarityIndex.objects.get().run_id == run.pk
    client.post(url, {"run": "99999"})
    assert SimilarityIndex.objects.count() == 1


def test_the_localizer_is_scored_against_the_whole_image_and_crops_images_without_a_box(
    dresses, data_scientist, weak_baseline
):
    from curation.artifacts import run_localizer, uris_and_boxes

    run = _start(dresses, data_scientist, epochs=1, localize=True, localize_epochs=2)
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    loc = run.metrics["localizer"]
    assert loc["trained_on"] == run.train_count and loc["tested_on"] == run.test_count
    for key in ("mean_iou", "share_iou50", "baseline_mean_iou", "baseline_share_iou50"):
        assert 0 <= loc[key] <= 1, loc
    assert loc["cropped_by_localizer"] == 0  # every demo photo has its exact box
    image = _images(dresses, "train")[0]
    ImageBox.objects.filter(image=image).delete()
    image = Image.objects.select_related("box").get(pk=image.pk)
    _, uris, boxes = uris_and_boxes([image], run_localizer(run))
    x0, y0, x1, y1 = boxes[0]
    assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height

    # A query photo (an upload) is cropped by the same localizer before it is embedded, as
    # the index build crops images without a box.
    import numpy as np

    from curation.artifacts import run_embedder
    from mlcore.similarity import embed_images

    row = SimilarityIndex.objects.create(dataset=dresses, run=run, embedder="triplet")
    embedder = run_embedder(run)
    cropped = embed_images(embedder, uris, boxes=boxes).vectors[0]
    whole = embed_images(embedder, uris).vectors[0]
    query = search.query_vector(row, uris[0])
    assert np.allclose(query, cropped, atol=1e-5) and not np.allclose(query, whole, atol=1e-3)


def test_too_few_boxes_skip_the_localizer_and_say_so(dresses, data_scientist):
    ImageBox.objects.filter(image__dataset=dresses).delete()
    run = _start(dresses, data_scientist, epochs=1, localize=True)
    assert execute_training_run(run.pk) == "succeeded"
    assert (
        "only 0 training-split images have a box"
        in TrainingRun.objects.get(pk=run.pk).metrics["localizer"]["skipped"]
    )


def test_cancel_stops_within_one_step_and_keeps_the_checkpoint(
    dresses, data_scientist, monkeypatch, settings
):
    run = _start(dresses, data_scientist, epochs=3)
    seen = cancel_at_step(monkeypatch, run, 2, 1)
    assert execute_training_run(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.progress["phase"] == "cancelled"
    assert seen[-1] == (2, 1) and not run.artifact_uri and run.metrics is None
    assert (settings.CURATION_RUNS_DIR / str(run.pk) / "triplet" / "checkpoint.pt").exists()


class WorkerDied(BaseException):
    """Not an Exception: like a killed worker, nothing in the run catches it."""


def test_a_redelivered_run_resumes_from_its_checkpoint_on_the_same_inputs(
    dresses, data_scientist, merchandiser, monkeypatch, settings
):
    from curation.services.runs import worker

    run = _start(dresses, data_scientist, epochs=2)
    real = worker.Reporter.train

    def die_in_epoch_two(self, p):
        real(self, p)
        if p.epoch == 2:
            raise WorkerDied

    monkeypatch.setattr(worker.Reporter, "train", die_in_epoch_two)
    with pytest.raises(WorkerDied):
        execute_training_run(run.pk)
    monkeypatch.setattr(worker.Reporter, "train", real)
    assert TrainingRun.objects.get(pk=run.pk).status == "running"
    assert execute_training_run(run.pk) == "running elsewhere"  # its heartbeat is fresh
    train = _images(dresses, "train")
    record_triplet(reference=train[0], closer=train[1], farther=train[2], actor=merchandiser)
    stale = timezone.now() - timedelta(seconds=settings.CURATION_RUN_STALE_SECONDS + 5)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.attempts == 2 and run.progress["resumed"] is True
    assert run.progress["first_epoch_of_attempt"] == 2  # epoch 1 came from the checkpoint
    assert run.metrics["triplets"]["train"]["human"] == 0  # the inputs frozen at the start


def test_the_api_starts_a_similarity_run_with_202(dresses, data_scientist, merchandiser):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(data_scientist)
    body = {"dataset": dresses.name, "kind": "similarity", "options": {"epochs": 1, "dim": 16}}
    response = client.post("/api/runs/", body, format="json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert (run.kind, run.attribute_id, run.status, run.config["dim"]) == (
        "similarity",
        None,
        "queued",
        16,
    )
    shown = client.get(f"/api/runs/{run.pk}/").json()
    assert (shown["kind"], shown["attribute"]) == ("similarity", None)
    client.force_authenticate(merchandiser)
    assert client.post("/api/runs/", body, format="json").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "merchandiser"])
def test_only_data_scientists_start_runs(dresses, request, role):
    with pytest.raises(PermissionDenied):
        _start(dresses, request.getfixturevalue(role))
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        *BAD_BACKBONE_OPTIONS,
        ({"margin": 9}, "'margin' must be in"),
        ({"dim": 100_000}, "'dim' may be at most"),
        ({"localize": "maybe"}, "'localize' must be true or false"),
        ({"group_per_image": -1}, "'group_per_image' must be 0 or more"),
        (
            {"flip_per_image": 0, "group_per_image": 0, "attribute_per_image": 0},
            "no automatic triplets",
        ),
        ({"weights_path": "/etc/passwd"}, "unknown option"),
    ],
)
def test_bad_options_are_refused_with_a_reason(dresses, data_scientist, options, words):
    with pytest.raises(TrainingError, match=words):
        _start(dresses, data_scientist, **options)


def test_a_dataset_without_training_images_is_refused(data_scientist):
    dataset = create_dataset(name="empty", attributes={})
    with pytest.raises(TrainingError, match="at least two usable training-split images"):
        start_similarity_run(dataset=dataset, options={}, actor=data_scientist)


def test_the_run_page_shows_triplet_accuracy_not_a_confusion_matrix(
    dresses, data_scientist, client
):
    run = _start(dresses, data_scientist, epochs=1)
    client.force_login(data_scientist)
    queued = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Waiting for a worker" in queued and "similar dresses" in queued
    execute_training_run(run.pk)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Held-out triplet accuracy" in page and "Confusion matrix" not in page
    assert "Promote" not in page and "flip" in page
    assert f"#{run.pk}" in client.get("/runs/").content.decode()


def test_the_similarity_page_offers_training_to_data_scientists_only(
    dresses, client, data_scientist, viewer
):
    url = reverse("curation:dataset_similarity", args=[dresses.name])
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert "Train similarity" not in page and "Judge look-alikes" in page
    client.force_login(data_scientist)
    assert "Train similarity" in client.get(url).content.decode()


def test_the_train_form_starts_a_run_or_says_what_is_wrong(
    dresses, client, data_scientist, merchandiser
):
    url = reverse("curation:similarity_train", args=[dresses.name])
    form = {"arch": "resnet18", "epochs": 1, "image_size": 32, "dim": 16, "margin": 0.2}
    client.force_login(merchandiser)
    assert client.get(url).status_code == 403 and client.post(url, form).status_code == 403
    client.force_login(data_scientist)
    assert client.get(url).status_code == 200
    bad = client.post(url, {**form, "epochs": 0})
    assert bad.status_code == 400 and "greater than or equal to 1" in bad.content.decode()
    Image.objects.filter(dataset=dresses).update(status="quarantined")
    refused = client.post(url, form)
    assert (
        refused.status_code == 400
        and "at least two usable training-split images" in refused.content.decode()
    )
    assert not TrainingRun.objects.exists()
    Image.objects.filter(dataset=dresses).update(status="ok")
    response = client.post(url, {**form, "localize": "on"})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert (run.kind, run.config["dim"], run.config["pretrained"], run.config["localize"]) == (
        "similarity",
        16,
        False,
        True,
    )


@pytest.mark.django_db(transaction=True)
def test_the_command_waits_and_prints_json(dresses, data_scientist):
    """Transactional, so the run is queued (and, tasks being eager here, run) on commit."""
    body, err = waited_command(
        "train_similarity",
        *("--dataset", dresses.name, "--epochs", "1"),
        user=data_scientist,
        options={k: v for k, v in FAST.items() if k != "epochs"},
    )
    assert body["status"] == "succeeded" and body["kind"] == "similarity"
    assert 0 <= body["metrics"]["triplet_accuracy"] <= 1 and "queued run" in err
    assert Triplet.objects.count() == 0


@pytest.mark.s3
def test_with_s3_storage_the_models_live_in_the_bucket_and_the_index_loads_them(
    tmp_path,
    settings,
    s3_server,
    s3_bucket,
    data_scientist,
    django_capture_on_commit_callbacks,
    weak_baseline,
):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    use_s3_storage(settings, s3_server, s3_bucket)
    dataset = _pinned_dresses(tmp_path, n_products=10)  # 2 of the 10 products are test
    unboxed = _images(dataset, "test")[:2]
    assert len(unboxed) == 2
    ImageBox.objects.filter(image__in=unboxed).delete()
    run = _start(dataset, data_scientist, epochs=1, localize=True, localize_epochs=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    prefix = f"s3://{s3_bucket}/models/similarity/synthetic-dresses-run{run.pk}/"
    assert run.artifact_uri == prefix + "triplet.pt"
    assert run.metrics["localizer"]["uri"] == prefix + "localizer.pt"
    assert run.metrics["localizer"]["cropped_by_localizer"] == 2
    index = SimilarityIndex.objects.get(pk=run.metrics["index"])
    assert (index.status, index.count, index.error) == ("ready", 30, ""), run.metrics
