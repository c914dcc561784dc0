"""`manage.py check --deploy` with the production environment of docker/.env.example."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="labels.example.com",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_HSTS_SECONDS="31536000",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="true",
        DJANGO_HSTS_PRELOAD="true",
    )
    env.update(overrides)
    env = {k: v for k, v in env.items() if v is not None}  # None: leave the variable unset
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_settings_pass_the_deploy_check_without_warnings(tmp_path):
    out = _check_deploy(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues (0 silenced)" in out.stdout


def test_the_local_default_key_and_debug_are_refused(tmp_path):
    out = _check_deploy(tmp_path, DJANGO_DEBUG="true")
    assert out.returncode != 0 and "security.W018" in out.stderr  # DEBUG on
    out = _check_deploy(tmp_path, DJANGO_SECRET_KEY=None)
    assert out.returncode != 0 and "security.W009" in out.stderr  # the insecure default key
