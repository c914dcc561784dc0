"""A zoo of bad inputs across the API, the pages, uploads and manifests: each one gets a 4xx or
a report line that names the problem, never a 500, and nothing is lost or half-written."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db.models import Sum
from rest_framework.test import APIClient

from curation.models import Annotation, Label
from curation.services.imports import import_catalog
from curation.services.runs.classifier_start import start_training_run
from tests.support.catalogs import png_bytes, write_png

pytestmark = pytest.mark.django_db

HUGE = "9" * 30  # wider than any database integer
HUGE_CURSOR = base64.b64encode(f"p={HUGE}".encode()).decode()
IMG = "/api/images/{image}"

# (id, role, method, url, request options, expected status, words the answer must contain)
REQUESTS = [
    # --- query strings
    ("no dataset", "viewer", "get", "/api/images/", {}, 400, "dataset"),
    ("unknown dataset", "viewer", "get", "/api/images/?dataset=nope", {}, 404, "nope"),
    (
        "unknown status",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&status=gone",
        {},
        400,
        "status",
    ),
    ("unknown split", "viewer", "get", "/api/images/?dataset=dresses&split=val", {}, 400, "split"),
    (
        "unknown attribute",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&attribute=colour",
        {},
        400,
        "colour",
    ),
    (
        "unknown label",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&attribute=neckline&label=halter",
        {},
        400,
        "halter",
    ),
    (
        "label without attribute",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&label=round",
        {},
        400,
        "attribute",
    ),
    (
        "page size not a number",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&page_size=ten",
        {},
        400,
        "page_size",
    ),
    (
        "page size zero",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&page_size=0",
        {},
        400,
        "page_size",
    ),
    (
        "page size huge",
        "viewer",
        "get",
        f"/api/images/?dataset=dresses&page_size={HUGE}",
        {},
        400,
        "from 1 to 500",
    ),
    (
        "bad cursor",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&cursor=bm90LWEtY3Vyc29y",
        {},
        404,
        "cursor",
    ),
    (
        "cursor not base64",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&cursor=%%%",
        {},
        404,
        "cursor",
    ),
    (
        "cursor position not a number",
        "viewer",
        "get",
        "/api/images/?dataset=dresses&cursor=cD1hYmM=",
        {},
        404,
        "cursor",
    ),
    (
        "cursor position too large",
        "viewer",
        "get",
        f"/api/images/?dataset=dresses&cursor={HUGE_CURSOR}",
        {},
        404,
        "cursor",
    ),
    ("NUL in a filter", "viewer", "get", "/api/images/?dataset=dres%00ses", {}, 400, "NUL"),
    ("history bad cursor", "viewer", "get", IMG + "/history/?cursor=xyz", {}, 404, "cursor"),
    (
        "predictions bad split",
        "viewer",
        "get",
        "/api/runs/{run}/predictions/?split=val",
        {},
        400,
        "split",
    ),
    (
        "predictions page size",
        "viewer",
        "get",
        "/api/runs/{run}/suspects/?page_size=-3",
        {},
        400,
        "page_size",
    ),
    # --- ids in paths
    ("image id too large", "viewer", "get", f"/api/images/{HUGE}/", {}, 404, HUGE),
    ("run id too large", "viewer", "get", f"/api/runs/{HUGE}/", {}, 404, HUGE),
    ("image page id too large", "viewer", "get", f"/images/{HUGE}/", {}, 404, HUGE),
    ("run page id too large", "viewer", "get", f"/runs/{HUGE}/", {}, 404, HUGE),
    ("non-integer id", "viewer", "get", "/api/images/abc/", {}, 404, ""),
    # --- label PATCH payloads
    (
        "no If-Match",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "boat"}},
        428,
        "If-Match",
    ),
    (
        "If-Match not a version",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "boat"}, "HTTP_IF_MATCH": '"abc"'},
        400,
        "If-Match",
    ),
    (
        "stale If-Match",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "boat"}, "HTTP_IF_MATCH": '"999999"'},
        412,
        "changed",
    ),
    (
        "If-Match too large",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "boat"}, "HTTP_IF_MATCH": f'"{HUGE}"'},
        400,
        "If-Match must be a whole number",
    ),
    (
        "unknown label name",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "halter"}, "HTTP_IF_MATCH": '"1"'},
        400,
        "halter",
    ),
    (
        "unknown attribute name",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "hem", "label": "boat"}, "HTTP_IF_MATCH": '"1"'},
        400,
        "hem",
    ),
    (
        "label is a list",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": ["boat"]}, "HTTP_IF_MATCH": '"1"'},
        400,
        "label",
    ),
    (
        "body is a list",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": ["neckline", "boat"], "HTTP_IF_MATCH": '"1"'},
        400,
        "dictionary",
    ),
    (
        "body is not JSON",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"raw": b"{attribute: neckline", "HTTP_IF_MATCH": '"1"'},
        400,
        "JSON",
    ),
    (
        "body is not JSON at all",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"raw": b"neckline=boat", "content_type": "text/plain", "HTTP_IF_MATCH": '"1"'},
        415,
        "text/plain",
    ),
    (
        "note too long",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {
            "data": {"attribute": "neckline", "label": "boat", "note": "x" * 501},
            "HTTP_IF_MATCH": '"1"',
        },
        400,
        "note",
    ),
    (
        "NUL in a label",
        "merchandiser",
        "patch",
        IMG + "/labels/",
        {"data": {"attribute": "neckline", "label": "bo\x00at"}, "HTTP_IF_MATCH": '"1"'},
        400,
        "label",
    ),
    # --- run POST payloads
    (
        "options not an object",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": [1]}},
        400,
        "options",
    ),
    (
        "unknown option",
        "data_scientist",
        "post",
        "/api/runs/",
        {
            "data": {
                "dataset": "dresses",
                "attribute": "neckline",
                "options": {"colour_space": "lab"},
            }
        },
        400,
        "colour_space",
    ),
    (
        "epochs not a number",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"epochs": "many"}}},
        400,
        "epochs",
    ),
    (
        "epochs absurd",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"epochs": 10**9}}},
        400,
        "epochs",
    ),
    (
        "image size absurd",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"image_size": 10**6}}},
        400,
        "image_size",
    ),
    (
        "crop scale wrong shape",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"crop_scale": 5}}},
        400,
        "crop_scale",
    ),
    (
        "flag not a boolean",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"stn": "perhaps"}}},
        400,
        "stn",
    ),
    (
        "NUL in an option",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "neckline", "options": {"device": "cpu\x00"}}},
        400,
        "device",
    ),
    (
        "run for unknown attribute",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "attribute": "hem"}},
        400,
        "hem",
    ),
    (
        "run for unknown dataset",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "nope", "attribute": "hem"}},
        404,
        "nope",
    ),
    (
        "classifier run without attribute",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses"}},
        400,
        "needs the attribute",
    ),
    (
        "similarity run with an attribute",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "kind": "similarity", "attribute": "neckline"}},
        400,
        "leave it out",
    ),
    (
        "unknown run kind",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "kind": "gan", "attribute": "neckline"}},
        400,
        "gan",
    ),
    (
        "similarity run bad option",
        "data_scientist",
        "post",
        "/api/runs/",
        {"data": {"dataset": "dresses", "kind": "similarity", "options": {"dim": "wide"}}},
        400,
        "dim",
    ),
    (
        "promote an unfinished run",
        "data_scientist",
        "post",
        "/api/runs/{run}/promote/",
        {},
        409,
        "succeeded",
    ),
    # --- page forms
    (
        "relabel unknown attribute",
        "merchandiser",
        "post",
        "/images/{image}/relabel/",
        {"form": {"attribute": "hem", "label": "1"}},
        404,
        "attribute",
    ),
    (
        "relabel huge label id",
        "merchandiser",
        "post",
        "/images/{image}/relabel/",
        {"form": {"attribute": "neckline", "label": HUGE}},
        400,
        "label must be a whole number",
    ),
    (
        "relabel NUL",
        "merchandiser",
        "post",
        "/images/{image}/relabel/",
        {"urlencoded": {"attribute": "neck\x00line"}},
        400,
        "NUL",
    ),
    (
        "retrain epochs not a number",
        "data_scientist",
        "post",
        "/datasets/dresses/attributes/neckline/retrain/",
        {
            "form": {
                "arch": "resnet18",
                "epochs": "x",
                "image_size": 16,
                "class_weighting": "none",
                "cv_folds": 2,
            }
        },
        400,
        "whole number",
    ),
    (
        "retrain unknown arch",
        "data_scientist",
        "post",
        "/datasets/dresses/attributes/neckline/retrain/",
        {
            "form": {
                "arch": "vgg",
                "epochs": 1,
                "image_size": 16,
                "class_weighting": "none",
                "cv_folds": 2,
            }
        },
        400,
        "vgg",
    ),
    (
        "label move unknown label",
        "data_scientist",
        "post",
        f"/datasets/dresses/labels/{HUGE}/move/",
        {"form": {"direction": "up"}},
        404,
        "no label",
    ),
    (
        "import bad dataset name",
        "data_scientist",
        "post",
        "/import/",
        {"form": {"dataset": "Not a slug!", "source": "/nowhere"}},
        400,
        "slug",
    ),
    (
        "import neither source nor upload",
        "data_scientist",
        "post",
        "/import/",
        {"form": {"dataset": "x"}},
        400,
        "source path or upload",
    ),
    (
        "upload not a zip",
        "data_scientist",
        "post",
        "/import/",
        {"upload": ("cat.exe", b"MZ...")},
        400,
        ".zip",
    ),
    (
        "upload corrupt zip",
        "data_scientist",
        "post",
        "/import/",
        {"upload": ("cat.zip", b"PK\x03\x04 broken")},
        400,
        "not a valid zip",
    ),
    (
        "upload zip without labels.csv",
        "data_scientist",
        "post",
        "/import/",
        {"zip": {"img/a.png": png_bytes()}},
        400,
        "no labels.csv",
    ),
    (
        "upload zip escaping",
        "data_scientist",
        "post",
        "/import/",
        {"zip": {"../../etc/cron.d/x": b"* * * * * root x"}},
        400,
        "unsafe",
    ),
    (
        "upload oversized",
        "data_scientist",
        "post",
        "/import/",
        {"upload": ("big.zip", b"\0" * (2 * 2**20 + 1))},
        413,
        "limit is 1 MB",
    ),
]


@pytest.fixture
def world(imported, viewer, merchandiser, data_scientist, settings):
    settings.CURATION_MAX_UPLOAD_MB = 1
    image = imported.images.order_by("id").first()
    run = start_training_run(
        dataset=imported,
        attribute=imported.attributes.get(name="neckline"),
        options={"epochs": 1},
        actor=data_scientist,
    )
    users = {"viewer": viewer, "merchandiser": merchandiser, "data_scientist": data_scientist}
    return {"image": image.pk, "run": run.pk, "users": users}


def _state() -> tuple:
    counts = tuple(m.objects.count() for m in apps.get_app_config("curation").get_models())
    versions = Annotation.objects.aggregate(v=Sum("version"))["v"]
    order = tuple(Label.objects.order_by("id").values_list("position", flat=True))
    return counts, versions, order


def _send(client, method: str, url: str, options: dict):
    options = dict(options)
    headers = {k: options.pop(k) for k in list(options) if k.startswith("HTTP_")}
    if "data" in options:
        return getattr(client, method)(url, options["data"], format="json", **headers)
    if "raw" in options:
        content_type = options.get("content_type", "application/json")
        return getattr(client, method)(url, options["raw"], content_type=content_type, **headers)
    if "urlencoded" in options:
        return client.post(
            url, urlencode(options["urlencoded"]), content_type="application/x-www-form-urlencoded"
        )
    if "form" in options:
        return client.post(url, options["form"], format="multipart", **headers)
    if "upload" in options or "zip" in options:
        if "zip" in options:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for name, payload in options["zip"].items():
                    archive.writestr(name, payload)
            name, payload = "catalog.zip", buffer.getvalue()
        else:
            name, payload = options["upload"]
        upload = io.BytesIO(payload)
        upload.name = name
        return client.post(url, {"dataset": "up", "create": "on", "upload": upload})
    return getattr(client, method)(url, **headers)


@pytest.mark.parametrize(
    ("role", "method", "url", "options", "status", "words"),
    [case[1:] for case in REQUESTS],
    ids=[case[0] for case in REQUESTS],
)
def test_a_bad_request_gets_a_clear_4xx_and_changes_nothing(
    world, role, method, url, options, status, words
):
    client = APIClient()
    client.force_login(world["users"][role])
    before = _state()
    response = _send(client, method, url.format(**world), options)
    body = response.content.decode(errors="replace")
    assert response.status_code == status, body[:1500]
    assert words.lower() in body.lower(), body[:1500]
    assert _state() == before


def test_the_zoo_is_big_enough():
    assert len(REQUESTS) + len(MANIFEST_ROWS) >= 30


# (id, manifest row after the header `path,product,split,neckline`, words in the row's error)
MANIFEST_ROWS = [
    ("label with NUL", ["img/b.png", "p2", "", "ro\x00und"], "NUL"),
    ("product with NUL", ["img/b.png", "p\x002", "", "round"], "NUL"),
    ("label too long", ["img/b.png", "p2", "", "x" * 121], "longer than 120"),
    ("product too long", ["img/b.png", "p" * 256, "", "round"], "longer than 255"),
    ("path too long", ["img/" + "b" * 1100 + ".png", "p2", "", "round"], "longer than 1024"),
    ("path escaping", ["../b.png", "p2", "", "round"], "escapes"),
    ("absolute path", ["/etc/passwd", "p2", "", "round"], "absolute"),
    ("bad split", ["img/b.png", "p2", "validation", "round"], "'train' or 'test'"),
    ("too few cells", ["img/b.png", "p2"], "malformed"),
    ("missing file", ["img/none.png", "p2", "", "round"], "not found"),
]


@pytest.mark.parametrize(
    ("row", "words"), [c[1:] for c in MANIFEST_ROWS], ids=[c[0] for c in MANIFEST_ROWS]
)
def test_a_bad_manifest_row_is_reported_and_the_good_rows_still_land(tmp_path, db, row, words):
    root = tmp_path / "cat"
    write_png(root / "img" / "a.png", colour=(1, 2, 3))
    write_png(root / "img" / "b.png", colour=(4, 5, 6))
    lines = ["path,product,split,neckline", "img/a.png,p1,train,round", ",".join(row)]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_catalog(str(root), dataset_name="zoo", create=True).to_dict()
    assert report["created"] == 1, json.dumps(report)[:2000]
    problems = report["errors"] + report["quarantined"]
    assert len(problems) == 1 and problems[0]["line"] == 3, problems
    assert words.lower() in problems[0]["reason"].lower(), problems
    from curation.models import Image, LabelEvent

    assert list(Image.objects.values_list("source_path", flat=True)) == ["img/a.png"]
    assert LabelEvent.objects.count() == 1  # the good row's label, nothing of the bad one


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"\xff\xfepath\n", "not UTF-8"),
        (b"file,neckline\nimg/a.png,round\n", "no 'path' column"),
        (b"path,Neck Line\nimg/a.png,round\n", "not a valid attribute name"),
        (b"path,neckline,neckline\n", "repeats the column"),
        (b"", "empty"),
    ],
)
def test_an_unusable_manifest_is_refused_whole(tmp_path, db, payload, words):
    from curation.models import Dataset
    from curation.services.sources import SourceError

    root = tmp_path / "cat"
    write_png(root / "img" / "a.png")
    (root / "labels.csv").write_bytes(payload)
    with pytest.raises(SourceError, match=words):
        import_catalog(str(root), dataset_name="zoo", create=True)
    assert not Dataset.objects.exists()
