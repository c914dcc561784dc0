"""Typed settings helpers: clear errors for bad values, secrets from *_FILE."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str


def test_typed_values_and_defaults(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_FLOAT", "0.25")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True and env_bool("X_UNSET", True) is True
    assert env_int("X_INT", 1) == 42 and env_int("X_UNSET", 7) == 7
    assert env_float("X_FLOAT", 1.0) == 0.25
    assert env_list("X_LIST", []) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("helper", "raw", "kind"),
    [
        (env_bool, "maybe", "a boolean"),
        (env_int, "4x", "an integer"),
        (env_float, "one", "a number"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, helper, raw, kind):
    monkeypatch.setenv("X_BAD", raw)
    with pytest.raises(ImproperlyConfigured, match=f"X_BAD={raw!r} is not {kind}"):
        helper("X_BAD", 1) if helper is not env_bool else helper("X_BAD")


def test_a_secret_file_wins_over_the_variable(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("X_SECRET", "from-env")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "from-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        env_str("X_SECRET")


def test_env_example_lists_every_variable_the_settings_read():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read = set(
        re.findall(
            r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"',
            (root / "config/settings.py").read_text(),
        )
    )
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (root / "docker/.env.example").read_text(), re.M))
    assert read, "no settings found"
    assert read <= listed, f"missing from docker/.env.example: {sorted(read - listed)}"


def test_typed_values_can_come_from_files_too(monkeypatch, tmp_path):
    (tmp_path / "n").write_text("12\n")
    (tmp_path / "b").write_text("true\n")
    monkeypatch.setenv("X_N", "1")
    monkeypatch.setenv("X_N_FILE", str(tmp_path / "n"))
    monkeypatch.setenv("X_B_FILE", str(tmp_path / "b"))
    assert env_int("X_N", 0) == 12 and env_bool("X_B") is True


def test_settings_read_secrets_from_files(tmp_path):
    """The deployment secrets (key, database URL, S3 keys) come from *_FILE in production."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    secrets = {
        "DJANGO_SECRET_KEY": "k" * 60,
        "DATABASE_URL": "postgres://app:s3cret@db.internal:5432/labels",
        "AWS_ACCESS_KEY_ID": "AKIAFROMFILE",
        "AWS_SECRET_ACCESS_KEY": "secret-from-file",
    }
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    for name, value in secrets.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
        env[name] = "from-the-environment"  # the file wins
    env["VAR_DIR"] = str(tmp_path / "var")
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "db = settings.DATABASES['default'];"
        "print(json.dumps([settings.SECRET_KEY, db['USER'], db['PASSWORD'], db['HOST'],"
        " settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "k" * 60,
        "app",
        "s3cret",
        "db.internal",
        "AKIAFROMFILE",
        "secret-from-file",
    ]


@pytest.mark.parametrize(
    ("cache_url", "engine"),
    [("", "db"), ("redis://127.0.0.1:6379/9", "cached_db")],
)
def test_sessions_go_through_the_cache_only_when_every_process_shares_it(cache_url, engine):
    """A per-process cache would keep a logged-out session alive in the other processes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "CACHE_URL": cache_url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SESSION_ENGINE)"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"django.contrib.sessions.backends.{engine}"
