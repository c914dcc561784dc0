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
    ("helper", "raw"), [(env_bool, "maybe"), (env_int, "4x"), (env_float, "one")]
)
def test_bad_values_name_the_variable(monkeypatch, helper, raw):
    monkeypatch.setenv("X_BAD", raw)
    with pytest.raises(ImproperlyConfigured, match="X_BAD"):
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
