"""Fixtures for the Django side: standing users per role, isolated storage, catalog folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import browser, open_as  # noqa: F401  (fixtures for the browser tests)
from tests.support.catalogs import write_manifest, write_png
from tests.support.services import port_open, require
from tests.support.users import (  # noqa: F401  (the standing users, one per role)
    data_scientist,
    merchandiser,
    outsider,
    viewer,
)

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
def empty_classify_cache():
    """The classify page's and API's model cache, empty before and after the test: run ids
    are reused between tests on SQLite, so a cached model could answer for another run."""
    from curation.queries.classify import CACHE

    CACHE.clear()
    yield
    CACHE.clear()


@pytest.fixture
def neckline(imported):
    """The small catalog's neckline attribute (round, v-neck, boat)."""
    return imported.attributes.get(name="neckline")


@pytest.fixture
def arrivals(neckline, tmp_path):
    """(run, images): three new arrivals scored by a promoted neckline run."""
    from tests.support.arrivals import three_scored_arrivals

    return three_scored_arrivals(neckline, tmp_path / "arrivals")


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
