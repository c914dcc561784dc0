"""POST /api/classify/: an uploaded photo through the promoted models, catalog images from
their stored scores, every bad input a 4xx naming the problem, and the model cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from curation.models import Image, RunImage
from curation.queries.classify import CACHE, MAX_IMAGES
from tests.support.api import api_client
from tests.support.classify import give_a_localizer, photo_bytes, promote_tiny_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_classify_cache")]
URL = "/api/classify/"


@pytest.fixture
def promoted(imported):
    """Both attributes of the small catalog with a promoted tiny model; neckline's run has a
    fitted temperature of 2."""
    neckline = promote_tiny_model(imported.attributes.get(name="neckline"), temperature=2.0)
    sleeve = promote_tiny_model(imported.attributes.get(name="sleeve"), seed=1)
    return {"neckline": neckline, "sleeve": sleeve}


def _upload(client, data=None, name="photo.png", dataset="dresses"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fields = {"image": SimpleUploadedFile(name, photo_bytes() if data is None else data)}
    if dataset is not None:
        fields["dataset"] = dataset
    return client.post(URL, fields, format="multipart")


def test_an_uploaded_photo_gets_every_label_s_probability_per_attribute(promoted, viewer):
    response = _upload(api_client(viewer))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["dataset"] == "dresses" and len(body["results"]) == 1
    result = body["results"][0]
    assert result["image"] is None and result["crop"] is None
    by_name = {a["attribute"]: a for a in result["attributes"]}
    assert list(by_name) == ["neckline", "sleeve"]
    for name, labels in (("neckline", {"round", "v-neck", "boat"}), ("sleeve", {"short", "long"})):
        scores = by_name[name]
        probs = [p["probability"] for p in scores["probabilities"]]
        assert scores["run"] == promoted[name].pk
        assert {p["label"] for p in scores["probabilities"]} == labels
        assert sum(probs) == pytest.approx(1.0, abs=1e-6)
        assert probs == sorted(probs, reverse=True)
        assert scores["top"] == scores["probabilities"][0]["label"]


def test_the_photo_s_probabilities_carry_the_run_s_temperature(promoted, viewer):
    from mlcore.data.images import decode_image
    from mlcore.eval.calibration import apply_temperature
    from mlcore.infer import predict_images
    from mlcore.store import load_model

    body = _upload(api_client(viewer)).json()

    saved = load_model(promoted["neckline"].artifact_uri)
    raw = predict_images(saved.model, [decode_image(photo_bytes())], config=saved.config).probs
    expected = dict(zip(saved.label_names, apply_temperature(raw, 2.0)[0], strict=True))
    got = {
        p["label"]: p["probability"] for p in body["results"][0]["attributes"][0]["probabilities"]
    }
    assert got == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(sorted(got.values()), sorted(raw[0]), atol=1e-4)


def test_catalog_images_are_answered_from_their_stored_scores(promoted, viewer):
    ids = list(Image.objects.order_by("id").values_list("id", flat=True)[:3])

    response = api_client(viewer).post(URL, {"dataset": "dresses", "images": ids}, format="json")

    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["image"] for r in results] == ids
    for result in results:
        assert result["crop"] is None and result["unscored"] == []
        for scores in result["attributes"]:
            run = promoted[scores["attribute"]]
            row = RunImage.objects.select_related("predicted_label").get(
                run=run, image_id=result["image"]
            )
            probs = [p["probability"] for p in scores["probabilities"]]
            assert scores["run"] == run.pk and len(probs) == len(run.label_names)
            assert sum(probs) == pytest.approx(1.0, abs=1e-6)
            assert scores["top"] == row.predicted_label.name


def test_an_image_its_model_has_not_scored_is_listed_as_unscored(promoted, viewer):
    image = Image.objects.order_by("id").first()
    RunImage.objects.filter(run=promoted["sleeve"], image=image).delete()

    body = api_client(viewer).post(URL, {"dataset": "dresses", "images": [image.pk]}, format="json")

    result = body.json()["results"][0]
    assert [a["attribute"] for a in result["attributes"]] == ["neckline"]
    assert result["unscored"] == ["sleeve"]


def test_a_photo_is_cropped_by_the_dataset_s_localizer_and_the_box_returned(
    promoted, viewer, tmp_path
):
    give_a_localizer(promoted["neckline"].dataset, tmp_path)

    response = _upload(api_client(viewer), photo_bytes(size=(64, 64)))

    assert response.status_code == 200, response.json()
    crop = response.json()["results"][0]["crop"]
    assert crop is not None and (crop["width"], crop["height"]) == (64, 64)
    x0, y0, x1, y1 = crop["box"]
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64


def _too_many():
    return {"dataset": "dresses", "images": list(range(1, MAX_IMAGES + 2))}


@pytest.mark.parametrize(
    ("send", "status", "words"),
    [
        pytest.param(
            lambda c: c.post(URL, {"dataset": "dresses"}), 400, "attach the photo", id="no-file"
        ),
        pytest.param(
            lambda c: c.post(URL, {"dataset": "dresses", "image": "x"}),
            400,
            "attach the photo",
            id="image-not-a-file",
        ),
        pytest.param(
            lambda c: _upload(c, b"hello, not a picture"), 400, "not an image", id="not-an-image"
        ),
        pytest.param(
            lambda c: _upload(c, photo_bytes("JPEG"), name="photo.png"),
            400,
            "does not match",
            id="extension-lies",
        ),
        pytest.param(
            lambda c: _upload(c, photo_bytes()[:70], name="cut.png"), 400, "cut.png", id="truncated"
        ),
        pytest.param(lambda c: _upload(c, dataset=None), 400, "dataset", id="photo-no-dataset"),
        pytest.param(lambda c: _upload(c, dataset="nope"), 404, "nope", id="unknown-dataset"),
        pytest.param(
            lambda c: c.post(URL, {"dataset": "nope", "images": [1]}, format="json"),
            404,
            "nope",
            id="unknown-dataset-json",
        ),
        pytest.param(
            lambda c: c.post(URL, {"dataset": "dresses", "images": [424242]}, format="json"),
            400,
            "424242",
            id="unknown-image",
        ),
        pytest.param(
            lambda c: c.post(URL, {"dataset": "dresses", "images": []}, format="json"),
            400,
            "images",
            id="no-ids",
        ),
        pytest.param(
            lambda c: c.post(URL, {"dataset": "dresses", "images": ["a"]}, format="json"),
            400,
            "images",
            id="id-not-a-number",
        ),
        pytest.param(lambda c: c.post(URL, _too_many(), format="json"), 400, "100", id="too-many"),
        pytest.param(lambda c: c.post(URL, [1, 2], format="json"), 400, "JSON object", id="a-list"),
    ],
)
def test_bad_input_gets_a_4xx_json_naming_the_problem(promoted, viewer, send, status, words):
    response = send(api_client(viewer))

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert words in str(response.json()), response.json()


def test_a_photo_over_the_size_limit_is_refused_before_decoding(promoted, viewer, settings):
    settings.CURATION_MAX_FILE_MB = 0

    response = _upload(api_client(viewer))

    assert response.status_code == 400 and "larger than 0 MB" in response.json()["detail"]
    assert CACHE.loads == 0


def test_an_image_of_another_dataset_is_named_as_not_in_this_one(promoted, viewer, tmp_path):
    from curation.services.imports import import_catalog
    from tests.support.training import write_two_colour_catalog

    import_catalog(
        str(write_two_colour_catalog(tmp_path / "c", per_label=2)), dataset_name="c", create=True
    )
    other = Image.objects.filter(dataset__name="c").first()

    response = api_client(viewer).post(
        URL, {"dataset": "dresses", "images": [other.pk]}, format="json"
    )

    assert response.status_code == 400 and f"no image {other.pk} in 'dresses'" in str(
        response.json()
    )


def test_a_dataset_without_promoted_models_gets_a_400_saying_so(imported, viewer):
    for response in (
        _upload(api_client(viewer)),
        api_client(viewer).post(URL, {"dataset": "dresses", "images": [1]}, format="json"),
    ):
        assert response.status_code == 400
        assert "no promoted model" in response.json()["detail"]


def test_the_loaded_models_are_reused_across_requests(promoted, viewer):
    client = api_client(viewer)

    for _ in range(3):
        assert _upload(client).status_code == 200

    assert CACHE.loads == 2  # one per promoted attribute, not per request


def test_promoting_another_run_loads_it_and_drops_the_old_one(promoted, viewer):
    client = api_client(viewer)
    assert _upload(client).status_code == 200
    newer = promote_tiny_model(promoted["neckline"].attribute, seed=2)

    body = _upload(client).json()

    runs = {a["attribute"]: a["run"] for a in body["results"][0]["attributes"]}
    assert runs == {"neckline": newer.pk, "sleeve": promoted["sleeve"].pk}
    assert CACHE.loads == 3
    assert promoted["neckline"].pk not in CACHE and newer.pk in CACHE


def test_the_cache_keeps_at_most_its_size(promoted, viewer, settings):
    settings.CURATION_CLASSIFY_CACHE_MODELS = 1
    client = api_client(viewer)

    _upload(client)
    _upload(client)

    assert CACHE.loads == 4  # each request evicts the other attribute's model
    assert (promoted["neckline"].pk in CACHE) + (promoted["sleeve"].pk in CACHE) == 1


def test_anonymous_users_and_users_without_a_role_are_refused(promoted, outsider):
    assert APIClient().post(URL, {"dataset": "dresses", "images": [1]}).status_code in (401, 403)
    response = api_client(outsider).post(URL, {"dataset": "dresses", "images": [1]}, format="json")
    assert response.status_code == 403


def test_a_token_works_like_the_rest_of_the_api(promoted, viewer):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=viewer).key
    client = APIClient()
    image = Image.objects.order_by("id").first()

    response = client.post(
        URL,
        {"dataset": "dresses", "images": [image.pk]},
        format="json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 200


def test_the_schema_documents_both_request_forms_and_the_errors(viewer):
    schema = api_client(viewer).get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/classify/"]["post"]
    content = operation["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(content)
    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert set(operation["responses"]) >= {"200", "400", "404"}
    result = schema["components"]["schemas"]["ClassifyResult"]["properties"]
    assert {"image", "crop", "attributes", "unscored"} <= set(result)
    image = schema["components"]["schemas"]["Image"]["properties"]
    assert "scores" in image


def test_a_photo_decoded_as_grey_is_classified_in_rgb(promoted, viewer):
    import io

    out = io.BytesIO()
    PILImage.new("L", (30, 30), 128).save(out, format="PNG")

    response = _upload(api_client(viewer), out.getvalue())

    assert response.status_code == 200


@pytest.mark.slow
def test_a_trained_and_promoted_run_tells_a_red_photo_from_a_blue_one(
    tmp_path, settings, data_scientist
):
    """End to end through a real training run: the upload is preprocessed as training was."""
    from curation.services.runs.control import promote_training_run
    from tests.support.training import train_colours

    run = train_colours(tmp_path, settings, data_scientist, epochs=4)
    promote_training_run(run=run, actor=data_scientist)
    client = api_client(data_scientist)

    tops = [
        _upload(client, photo_bytes(size=(16, 16), colour=colour), dataset="colours").json()[
            "results"
        ][0]["attributes"][0]["top"]
        for colour in ((200, 40, 40), (40, 40, 200))
    ]

    assert tops == ["red", "blue"]


def test_a_model_whose_file_is_gone_gets_a_400_naming_the_run(promoted, viewer):
    import shutil

    shutil.rmtree(promoted["sleeve"].artifact_uri)

    response = _upload(api_client(viewer))

    assert response.status_code == 400
    assert f"run #{promoted['sleeve'].pk}" in response.json()["detail"]


def test_a_localizer_whose_file_is_gone_gets_a_400_naming_it(promoted, viewer, tmp_path):
    from pathlib import Path

    similarity_run = give_a_localizer(promoted["neckline"].dataset, tmp_path)
    Path(similarity_run.metrics["localizer"]["uri"]).unlink()

    response = _upload(api_client(viewer))

    assert response.status_code == 400
    assert f"localizer of similarity run #{similarity_run.pk}" in response.json()["detail"]


@pytest.mark.s3
def test_a_model_stored_in_s3_is_loaded_from_there(
    imported, viewer, settings, s3_server, s3_bucket
):
    from tests.support.services import use_s3_storage

    use_s3_storage(settings, s3_server, s3_bucket)
    run = promote_tiny_model(imported.attributes.get(name="neckline"))
    assert run.artifact_uri.startswith(f"s3://{s3_bucket}/models/")

    response = _upload(api_client(viewer))

    assert response.status_code == 200, response.json()
    assert response.json()["results"][0]["attributes"][0]["run"] == run.pk
    assert CACHE.loads == 1
