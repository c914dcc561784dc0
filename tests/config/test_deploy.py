"""`manage.py check --deploy` with the production environment of docker/.env.example."""

from __future__ import annotations

import os
import re
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


def _env_example() -> dict[str, str]:
    """NAME=value pairs of docker/.env.example, comments and blank values dropped."""
    values = {}
    for line in (ROOT / "docker" / ".env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition("=")
        value = rest.split(" #", 1)[0].strip()
        if value:
            values[name.strip()] = value
    return values


def _check_env_example(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(_env_example(), VAR_DIR=str(tmp_path / "var"), **overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _warnings(out: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"\(([a-z_]+\.[WE]\d+)\)", out.stdout + out.stderr))


def test_the_env_example_passes_the_deploy_check_but_for_tls_left_to_a_proxy(tmp_path):
    """TLS at the proxy: HSTS and the HTTPS redirect are the proxy's (the example leaves them
    off); everything else is as check --deploy wants it, the lockout store included."""
    out = _check_env_example(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert out.returncode == 0, out.stdout + out.stderr
    assert _warnings(out) == {"security.W004", "security.W008"}, out.stdout + out.stderr


def test_the_env_example_placeholder_key_and_a_per_process_lockout_are_flagged(tmp_path):
    out = _check_env_example(tmp_path)  # the example's placeholder secret key, as written
    assert "security.W009" in _warnings(out)
    out = _check_env_example(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        CURATION_LOGIN_STORE="cache",
        CACHE_URL="",
    )
    assert "curation.W001" in _warnings(out), out.stdout + out.stderr
