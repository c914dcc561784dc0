"""Run options checked as a whole at submit: every combination that would fail later in the
worker is a 400 naming the option (API) and an error on that field (the Retrain form), and
no run is created. Workable neighbours of each are accepted, so the checks can't pass by
refusing everything."""

from __future__ import annotations

import pytest
import torch
from rest_framework.test import APIClient

from curation.models import Dataset, TrainingRun
from curation.services.imports import import_catalog
from mlcore.config import TrainConfig
from mlcore.models import build_model
from tests.support.training import FAST_OPTIONS, write_two_colour_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def colours(tmp_path, settings):
    """16 training images a label (red, blue), 8 test."""
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    settings.CURATION_WEIGHTS_DIR = tmp_path / "weights"
    settings.CURATION_WEIGHTS_DIR.mkdir()
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    return Dataset.objects.get(name="colours")


def _post(user, options: dict):
    client = APIClient()
    client.force_authenticate(user)
    body = {"dataset": "colours", "attribute": "colour", "options": {**FAST_OPTIONS, **options}}
    return client.post("/api/runs/", body, format="json")


def _weights(settings, name: str, **config) -> str:
    """A backbone state dict saved in the weights folder, built from FAST_OPTIONS + config."""
    keys = ("arch", "width", "small_stem", "image_size")
    model = build_model(TrainConfig(**{k: FAST_OPTIONS[k] for k in keys} | config), 2)
    torch.save(model.backbone.state_dict(), settings.CURATION_WEIGHTS_DIR / name)
    return name


LITE0 = {"arch": "efficientnet_lite0", "pretrained": True}


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        # the case: it trained a whole epoch, then failed at cross-fitting
        ({"cv_method": "linear_probe"}, "cv_method", "efficientnet_lite0"),
        ({"arch": "resnet50", "pretrained": True}, "pretrained", "No pretrained weights"),
        ({"cv_folds": 17}, "cv_folds", "use 2 to 16"),  # 16 training images a label
        ({**LITE0, "cv_method": "linear_probe", "cv_folds": 17}, "cv_folds", "use 2 to 16"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda"),
        ({"batch_size": 1, "image_size": 8}, "batch_size", "batch_size 2 or more"),
        ({"cache_decoded": True, "image_size": 512, "cache_max_mb": 1}, "cache_decoded", "MB"),
        ({"cv_epochs": -1}, "cv_epochs", ">= 0"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"weight_decay": -0.1}, "weight_decay", ">= 0"),
        ({"num_workers": -1}, "num_workers", ">= 0"),
        ({"warmup_epochs": -1}, "warmup_epochs", ">= 0"),
        ({"weights_path": "garbage.pt"}, "weights_path", "not a readable PyTorch weights file"),
        ({"weights_path": "wide.pt"}, "weights_path", "wrong shape"),
    ],
)
def test_an_impossible_combination_is_a_400_naming_the_option(
    colours, data_scientist, settings, options, option, words
):
    (settings.CURATION_WEIGHTS_DIR / "garbage.pt").write_bytes(b"not a state dict")
    _weights(settings, "wide.pt", width=16)  # a width-16 file for the width-8 model

    response = _post(data_scientist, options)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["option"] == option and option in body["options"] and words in body["options"]
    assert not TrainingRun.objects.exists()


def test_no_gpu_here_refuses_a_cuda_device(colours, data_scientist):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    response = _post(data_scientist, {"device": "cuda"})
    assert response.status_code == 400 and response.json()["option"] == "device"


@pytest.mark.parametrize(
    "options",
    [
        {**LITE0, "cv_method": "linear_probe", "cv_folds": 4},
        {"cv_method": "linear_probe", "weights_path": "fits.pt"},  # a ResNet file supplied
        {"cv_folds": 16},
        {"batch_size": 1, "image_size": 64},  # a 64-px map: batch norm works on one image
        {"device": "cpu"},
        *({"stn": True, "arch": arch} for arch in ("resnet18", "resnet50", "efficientnet_lite0")),
    ],
)
def test_the_workable_neighbours_are_accepted(colours, data_scientist, settings, options):
    _weights(settings, "fits.pt")

    response = _post(data_scientist, options)

    assert response.status_code == 202, response.json()


def test_a_recipe_cache_that_would_not_fit_falls_back_to_auto(colours, data_scientist):
    # The small-image recipe forces the decoded cache; at 512 px it would not fit 1 MB.
    options = {k: v for k, v in FAST_OPTIONS.items() if k != "image_size"}
    client = APIClient()
    client.force_authenticate(data_scientist)
    body = {"dataset": "colours", "attribute": "colour"}
    small = client.post("/api/runs/", {**body, "options": options}, format="json")
    big = {**options, "image_size": 512, "cache_max_mb": 1}
    large = client.post("/api/runs/", {**body, "options": big}, format="json")

    assert small.status_code == large.status_code == 202
    assert TrainingRun.objects.get(pk=small.json()["id"]).config["cache_decoded"] is True
    assert TrainingRun.objects.get(pk=large.json()["id"]).config["cache_decoded"] is None


def test_folds_beyond_a_tiny_catalog_are_refused_on_the_form(tmp_path, settings, client):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat", per_label=6)),
        dataset_name="tiny",
        create=True,
    )
    from django.contrib.auth.models import User

    from curation.roles import ensure_role_groups

    user = User.objects.create_user(username="ds", password="pw")
    user.groups.add(ensure_role_groups()["data_scientist"])
    client.force_login(user)
    form = {"arch": "resnet18", "epochs": 1, "image_size": 16, "class_weighting": "none"}

    too_many = client.post("/datasets/tiny/attributes/colour/retrain/", {**form, "cv_folds": 5})
    pretrained = client.post(
        "/datasets/tiny/attributes/colour/retrain/", {**form, "cv_folds": 2, "pretrained": "on"}
    )

    assert too_many.status_code == 400 and "cv_folds" in too_many.context["form"].errors
    assert "use 2 to 4" in too_many.content.decode()  # 4 training images a label
    assert pretrained.status_code == 400 and "pretrained" in pretrained.context["form"].errors
    assert not TrainingRun.objects.exists()


def test_the_linear_probe_needs_two_labels_with_a_fold_each():
    from curation.services.runs.checks import check_folds
    from curation.services.runs.options import TrainingError

    probe = TrainConfig(cv_method="linear_probe", pretrained=True, cv_folds=4)
    check_folds(TrainConfig(cv_folds=4), [10, 3])  # k-fold: one label with 4 is enough

    with pytest.raises(TrainingError, match="use cv_folds 2 to 3, or cv_method=kfold"):
        check_folds(probe, [10, 3])


def test_a_recipe_fold_count_too_large_for_the_catalog_comes_down_to_what_it_allows(
    tmp_path, settings, data_scientist
):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    catalog = write_two_colour_catalog(tmp_path / "cat", per_label=4)  # 2 training images a label
    import_catalog(str(catalog), dataset_name="colours", create=True)
    client = APIClient()
    client.force_authenticate(data_scientist)
    body = {"dataset": "colours", "attribute": "colour"}

    defaulted = client.post("/api/runs/", {**body, "options": {"epochs": 1}}, format="json")
    asked = client.post("/api/runs/", {**body, "options": {"cv_folds": 3}}, format="json")

    assert defaulted.status_code == 202, defaulted.json()  # the recipe asks for 4
    assert TrainingRun.objects.get(pk=defaulted.json()["id"]).config["cv_folds"] == 2
    assert asked.status_code == 400 and asked.json()["option"] == "cv_folds"
