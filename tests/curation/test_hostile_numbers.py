"""Every route in the URLconf (the pages, the API and the admin) gets hostile values for
every numeric parameter it reads, as every role: none answers a server error, and a
parameter read through curation.params answers a 400 that names it.

A view's numeric parameters are found by watching curation.params while the view answers a
plain request; a fixed set of common names is thrown at every route as well, for reads that
don't go through the helper. Path parameters with an int converter can only be digits; the
slug, str and path ones get hostile text too.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLResolver, get_resolver

from curation import params
from curation.models import Attribute, Image, LabelEvent, ReviewItem, TrainingRun
from curation.roles import ensure_role_groups
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db

# Text that is not a plain ASCII integer: each must be refused by the helper (400).
MALFORMED = [
    "١٢",  # Arabic-Indic digits: str.isdigit() and int() take them
    "１２",  # fullwidth digits
    "²",  # superscript two: isdigit() is true, int() raises
    "1e3",
    "0x10",
    "+1",
    "-1",
    " 12",
    "12 ",
    "12\n",
    "1.5",
    "1,2",
    "1_000",  # int() takes underscores
    "NaN",
    "Infinity",
    "abc",
    "9" * 30,  # overlong: overflows a 64-bit column
    "9223372036854775808",  # one past the largest 64-bit integer
    "9" * 5000,  # past int()'s 4300-digit limit (ValueError, not a number)
]
# A few of them, for the roles and routes that don't get all (the walk stays under minutes).
SAMPLE = ["١٢", "²", "1e3", "-1", "9" * 30, "9" * 5000]
# Text a number parameter may take, at the edges: never a 5xx either.
EDGES = ["", "0", "007", "9223372036854775807"]
# JSON values for a number field of a body.
JSON_VALUES = [1e3, 1.5, -1, 10**30, True, None, [], {}, "١٢", "1e3", " 12"]
# Names thrown at every route whether or not it reads them.
COMMON = [
    "page",
    "per_page",
    "page_size",
    "limit",
    "offset",
    "k",
    "cursor",
    "after",
    "run",
    "label",
    "min",
    "max",
    "confidence",
    "threshold",
    "radius",
    "qpage",
    "cpage",
    "iq_page",
    "given",
    "predicted",
    "fp",
    "fn",
    "a",
    "b",
    "version",
    "image",
    "reference",
    "train",
    "test",
    "choice",
    "flagged_by_run",
    "epochs",
    "image_size",
    "cv_folds",
    "dim",
    "id",
    "p",
    "n",
    "top",
    "rank",
    "score",
    "seed",
]  # fmt: skip  (a list of names reads better packed)
# Hostile text for slug, str and path parameters of the path.
PATH_TEXT = ["9" * 30, "0", "-1", "1e3", "0x10", "x" * 300, "١٢", " 12", "1.5"]
SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # what a <slug:> path converter matches
ROLES = ("anonymous", "outsider", "viewer", "merchandiser", "data_scientist", "admin", "superuser")


def routes() -> list[tuple[str, dict[str, str]]]:
    """(URL template with {name} holes, {name: converter class}) for every route."""
    found = []

    def walk(patterns, prefix: str, converters: dict[str, str]) -> None:
        for entry in patterns:
            known = {**converters}
            for name, conv in getattr(entry.pattern, "converters", {}).items():
                known[name] = type(conv).__name__
            text = prefix + _template(str(entry.pattern))
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, text, known)
            else:
                found.append(("/" + text, known))

    walk(get_resolver().url_patterns, "", {})
    return found


def _template(pattern: str) -> str:
    """A route or regex pattern as a template: <int:x> and (?P<x>...) become {x}."""
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    return text.replace("^", "").replace("$", "")


@pytest.fixture
def world(imported, viewer, merchandiser, data_scientist, outsider, monkeypatch):
    neckline = Attribute.objects.get(dataset=imported, name="neckline")
    ids = sorted(Image.objects.filter(dataset=imported).values_list("pk", flat=True))
    run = finished_run(neckline, wrong={ids[0], ids[-1]}, actor=data_scientist)
    # The options a real run stores (the run page shows them).
    config = {"arch": "resnet18", "epochs": 1, "image_size": 16, "cv_folds": 2, "cv_epochs": 1}
    TrainingRun.objects.filter(pk=run.pk).update(config=config)
    # Nothing runs behind a request here: a scan, index build or training run is only queued.
    monkeypatch.setattr("curation.services.queue.publish", lambda *a, **k: None)
    event = LabelEvent.objects.order_by("id").first()
    assert event is not None
    holes = {
        "name": imported.name,
        "attribute": neckline.name,
        "image_id": str(ids[0]),
        "run_id": str(run.pk),
        "item_id": str(ReviewItem.objects.filter(run=run).values_list("pk", flat=True)[0]),
        "gold_id": "1",
        "token": "not-a-link",
        "event_id": str(event.pk),
        "label_id": str(neckline.labels.values_list("pk", flat=True)[0]),
        "batch": str(event.batch or uuid.uuid4()),
        "job_id": "1",
        "view_id": "1",
        "map_id": "1",
        "selection_id": "1",
        "object_id": "1",
        "content_type_id": "1",
        "id": "1",
        "app_label": "curation",
        "url": "nowhere/",
    }
    superuser = User.objects.create_superuser("sam_super", password="sam_super-password")
    admin = User.objects.create_user("ada_admin", password="ada_admin-password")
    admin.groups.add(ensure_role_groups()["admin"])
    users = {
        "anonymous": None,
        "outsider": outsider,
        "viewer": viewer,
        "merchandiser": merchandiser,
        "data_scientist": data_scientist,
        "admin": admin,
        "superuser": superuser,
    }
    return {"holes": holes, "users": users}


class Reads:
    """The names a view reads through curation.params, while watched."""

    def __init__(self, monkeypatch):
        self.names: set[str] = set()
        for fn in ("int_param", "int_list"):  # the two that read a request's parameters
            original = getattr(params, fn)
            monkeypatch.setattr(params, fn, self._watch(original))

    def _watch(self, original):
        def watched(*args, **kwargs):
            name = args[1] if len(args) > 1 else kwargs.get("name", "")
            self.names.add(str(name))
            return original(*args, **kwargs)

        return watched

    def take(self) -> set[str]:
        names, self.names = self.names, set()
        return names


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


# An HTMX request takes other branches of some views (a gallery's next page, a panel).
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "more"}


def _send(client: Client, method: str, url: str, data: dict, headers: dict | None = None):
    headers = headers or {}
    if method == "get":
        return client.get(url, data, **headers)
    if url.startswith("/api/") and method in ("post", "patch"):
        body = json.dumps(data)
        return getattr(client, method)(url, body, content_type="application/json", **headers)
    return client.post(url, data, **headers)


def _methods(url: str) -> tuple[str, ...]:
    if url.startswith("/admin/"):
        return ("get",)  # the admin's forms are Django's own; its pages are read here
    if url.startswith("/api/"):
        return ("get", "post", "patch")
    return ("get", "post")


def _check(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if what.split()[1].startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), what


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_a_hostile_number_with_a_server_error(world, role, monkeypatch):
    reads = Reads(monkeypatch)
    user = world["users"][role]
    admin_ok = role in ("anonymous", "superuser")
    tried, discovered = 0, set()
    for template, _ in routes():
        url = template.format(**world["holes"])
        if url.startswith("/admin/") and not admin_ok:
            continue
        for method in _methods(url):
            if role == "superuser" and url == "/logout/":
                continue
            client = _client(user)
            reads.take()
            _check(_send(client, method, url, {}), f"{method} {url}")
            read = reads.take()
            discovered |= read
            full = role == "superuser" and not url.startswith("/admin/")
            values = MALFORMED + EDGES if full else SAMPLE
            for value in values:
                others = {name: value for name in COMMON if name not in read}
                _check(_send(client, method, url, others), f"{method} {url} common={value!r}")
                tried += 1
            for value in SAMPLE if role == "superuser" else ():
                every = dict.fromkeys({*COMMON, *read}, value)
                _check(_send(client, method, url, every, HTMX), f"htmx {url} {value!r}")
                tried += 1
            for name in sorted(read) if role == "superuser" else ():
                for value in MALFORMED:
                    response = _send(client, method, url, {name: value})
                    what = f"{method} {url} {name}={value!r}"
                    assert response.status_code == 400, f"{what}: {response.status_code}"
                    assert name in response.content.decode(errors="replace"), what
                    tried += 1
            if url.startswith("/api/") and method != "get":
                for value in JSON_VALUES:
                    body = dict.fromkeys({*COMMON, *read}, value)
                    _check(_send(client, method, url, body), f"{method} {url} json={value!r}")
                    tried += 1
    assert tried > 300
    if role == "superuser":  # the watch sees the views' reads (else the singles test nothing)
        assert {"page_size", "after", "qpage", "iq_page", "radius", "k", "run"} <= discovered


def test_hostile_text_in_path_parameters_is_never_a_server_error(world):
    clients = {role: _client(world["users"][role]) for role in ("viewer", "superuser")}
    tried = 0
    for template, converters in routes():
        text_holes = [n for n, c in converters.items() if c != "IntConverter"]
        for hole in text_holes:
            for value in PATH_TEXT:
                if converters[hole] == "SlugConverter" and not SLUG.fullmatch(value):
                    continue  # a slug route can't be reached with it: the resolver's 404
                if converters[hole] == "UUIDConverter":
                    continue
                holes = {**world["holes"], hole: quote(value, safe="")}
                url = template.format(**holes)
                for role, client in clients.items():
                    if url.startswith("/admin/") and role != "superuser":
                        continue
                    _check(client.get(url), f"get {url} as {role}")
                    tried += 1
    assert tried > 50


def test_the_walk_covers_the_pages_the_api_and_the_admin():
    urls = [template for template, _ in routes()]
    assert any(u.startswith("/api/images/") for u in urls)
    assert any(u.startswith("/datasets/{name}/attributes/{attribute}/") for u in urls)
    assert any(u.startswith("/admin/") for u in urls)
    assert len(urls) > 80
