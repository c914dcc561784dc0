"""import_catalog, demo_catalog and setup_demo_users from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from curation.models import Dataset, Image
from curation.services.datasets import create_dataset
from tests.support.catalogs import write_bad_catalog

pytestmark = pytest.mark.django_db


def test_import_catalog_json_has_the_documented_shape(tmp_path):
    root, quarantined, errors = write_bad_catalog(tmp_path / "zoo")
    create_dataset(name="zoo", attributes={"neckline": ["round", "v-neck"]})
    out = StringIO()
    call_command("import_catalog", str(root), dataset="zoo", json=True, stdout=out)
    report = json.loads(out.getvalue())
    assert {"created", "updated", "unchanged", "conflicts", "quarantined", "errors"} <= set(report)
    assert report["created"] == 5
    assert {q["path"] for q in report["quarantined"]} == set(quarantined)
    assert {e["line"] for e in report["errors"]} == set(errors)
    assert all({"path", "reason"} <= set(q) for q in report["quarantined"])
    assert all({"line", "reason"} <= set(e) for e in report["errors"])


def test_import_catalog_prints_a_summary_table(small_catalog):
    out = StringIO()
    call_command("import_catalog", str(small_catalog), dataset="d", create=True, stdout=out)
    assert "created            6" in out.getvalue()


def test_an_unusable_source_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_catalog", str(tmp_path / "nope"), dataset="d", create=True)


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_only_for_an_unusable_source(tmp_path, settings):
    """Run the real CLI in a subprocess against the test database."""
    from django.db import connection

    root, _, _ = write_bad_catalog(tmp_path / "zoo")
    env = _env_for_subprocess(connection, settings)
    ok = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_catalog",
            str(root),
            "--dataset",
            "zoo",
            "--create",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["created"] == 6  # with --create the unknown label is added
    bad = subprocess.run(
        [sys.executable, "manage.py", "import_catalog", str(tmp_path / "nope"), "--dataset", "zoo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode != 0 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def _env_for_subprocess(connection, settings) -> dict[str, str]:
    import os

    env = dict(os.environ)
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env["VAR_DIR"] = str(settings.VAR_DIR)
    return env


def test_demo_fashion_mnist_imports_the_official_split(tmp_path):
    out = StringIO()
    call_command(
        "demo_catalog",
        "fashion-mnist",
        out=str(tmp_path / "fm"),
        limit_per_split=30,
        json=True,
        stdout=out,
    )
    assert json.loads(out.getvalue())["created"] == 60
    dataset = Dataset.objects.get(name="fashion-mnist")
    labels = list(dataset.attributes.get(name="category").labels.values_list("name", flat=True))
    assert labels[:4] == ["T-shirt/top", "Trouser", "Pullover", "Dress"] and len(labels) == 10
    assert Image.objects.filter(dataset=dataset, split="test").count() == 30
    assert Image.objects.get(source_path="train/00000.png").width == 28


def test_demo_synthetic_dresses_is_marked_synthetic(tmp_path):
    call_command(
        "demo_catalog", "synthetic-dresses", out=str(tmp_path / "sd"), products=5, stdout=StringIO()
    )
    dataset = Dataset.objects.get(name="synthetic-dresses")
    assert dataset.is_synthetic and "SYNTHETIC" in dataset.description
    assert [a.name for a in dataset.attributes.all()] == [
        "silhouette",
        "neckline",
        "sleeve",
        "occasion",
    ]
    assert Image.objects.filter(dataset=dataset).count() == 15
    # Three photos of one product share its split.
    for product in dataset.products.all():
        assert set(product.images.values_list("split", flat=True)) == {product.split}


def test_setup_demo_users_creates_one_user_per_role():
    out = StringIO()
    call_command("setup_demo_users", password="pw-for-tests-1", stdout=out)
    from django.contrib.auth.models import User

    assert User.objects.get(username="merchandiser").has_perm("curation.relabel_image")
    assert not User.objects.get(username="viewer").has_perm("curation.relabel_image")
    assert User.objects.get(username="data_scientist").has_perm("curation.start_training")
    assert "pw-for-tests-1" in out.getvalue()
