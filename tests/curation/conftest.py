"""Fixtures for the Django side: standing users per role, isolated storage, catalog folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from curation.roles import ensure_role_groups
from tests.support.browser import browser, open_as  # noqa: F401  (fixtures for the browser tests)
from tests.support.catalogs import write_manifest, write_png
from tests.support.services import port_open, require

ROLES = ("viewer", "merchandiser", "data_scientist", "admin")


@pytest.fixture(autouse=True)
def _empty_cache():
    """The per-process cache (login counters, rendered dashboard boards) starts empty: ids
    are reused between tests on SQLite, so an entry could otherwise outlive its test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Every test gets its own media folder, so stored files never leak between tests."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
        },
    }
    settings.VAR_DIR = tmp_path / "var"
    settings.CURATION_IMPORT_ROOTS = [
        str(tmp_path)
    ]  # the web import page may read the test's files
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _user(name: str, role: str | None) -> User:
    user = User.objects.create_user(username=name, password=f"{name}-password")
    if role:
        user.groups.add(ensure_role_groups()[role])
    return user


@pytest.fixture
def viewer(db):
    return _user("vera_viewer", "viewer")


@pytest.fixture
def merchandiser(db):
    return _user("max_merch", "merchandiser")


@pytest.fixture
def data_scientist(db):
    return _user("dana_ds", "data_scientist")


@pytest.fixture
def outsider(db):
    return _user("olga_outsider", None)


@pytest.fixture
def small_catalog(tmp_path) -> Path:
    """Six distinct images of three products with a neckline and a sleeve attribute."""
    root = tmp_path / "catalog"
    rows = []
    for i in range(6):
        write_png(root / "img" / f"{i}.png", colour=(40 * i, 100, 255 - 30 * i))
        rows.append(
            [
                f"img/{i}.png",
                f"sku-{i // 2}",
                "test" if i // 2 == 2 else "train",
                ["round", "v-neck", "boat"][i % 3],
                ["short", "long"][i % 2],
            ]
        )
    write_manifest(root, ["path", "product", "split", "neckline", "sleeve"], rows)
    return root


@pytest.fixture
def imported(small_catalog, db):
    from curation.services.imports import import_catalog

    report = import_catalog(str(small_catalog), dataset_name="dresses", create=True)
    assert report.created == 6, report.to_dict()
    from curation.models import Dataset

    return Dataset.objects.get(name="dresses")


@pytest.fixture
def redis_url() -> str:
    """A real Redis (database 15, flushed) for broker tests. CURATION_TEST_REDIS_DB picks
    another database, so two checkouts can run their suites side by side."""
    require("Redis", port_open("127.0.0.1", 6379), "nothing listens on 127.0.0.1:6379")
    import redis

    url = f"redis://127.0.0.1:6379/{os.environ.get('CURATION_TEST_REDIS_DB', '15')}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url
