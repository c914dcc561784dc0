"""docker/compose.yaml and the Dockerfile against the project (no Docker engine needed): each
service's command names a real management command, Celery app, queue and port, and every
variable the stack passes is one the code reads and docker/.env.example lists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
APP_IMAGE = "label-qa:latest"
APP_SERVICES = sorted(n for n, s in SERVICES.items() if s.get("image") == APP_IMAGE)
# Variables read by the postgres and Flower containers, not by the app.
OTHER_SERVICES_READ = {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"}


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / "docker/.env.example").read_text().splitlines():
        match = re.match(r"^([A-Z0-9_]+)=(\S*)", line)
        if match:
            values[match[1]] = match[2]
    return values


def _read_by_code() -> set[str]:
    """Variables the settings read through config/env.py, and those read with os.environ."""
    names = set(
        re.findall(
            r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"',
            (ROOT / "config/settings.py").read_text(),
        )
    )
    for folder in ("config", "curation", "mlcore"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z0-9_]+)"', path.read_text()))
    return names


def _commands(service: dict) -> list[list[str]]:
    """The command lines a service runs: `sh -c "a && b"` is two."""
    command = service.get("command")
    argv = shlex.split(command) if isinstance(command, str) else list(command or [])
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def _container_ports(service: dict) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _queues() -> set[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return routed | {settings.CELERY_TASK_DEFAULT_QUEUE}


def test_the_app_services_run_the_image_the_dockerfile_builds():
    assert {"web", "worker-cpu", "worker-train", "flower", "migrate"} <= set(APP_SERVICES)
    for name in APP_SERVICES:
        build = SERVICES[name]["build"]
        assert (
            build["dockerfile"] == "docker/Dockerfile"
            and (ROOT / "docker" / build["context"]).resolve() == ROOT
        )
        assert SERVICES[name]["env_file"] == ".env"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_command_names_what_the_project_has(name):
    service = SERVICES[name]
    for argv in _commands(service):
        program = argv[0]
        if program == "python":
            assert argv[1] == "manage.py" and argv[2] in get_commands(), argv
        elif program == "gunicorn":
            module, _, attr = argv[1].partition(":")
            assert module == "config.wsgi" and attr == "application"
            assert (ROOT / "config/wsgi.py").read_text().count("application =") == 1
            port = int(_option(argv, "--bind").rsplit(":", 1)[1])
            assert port in _container_ports(service), (
                f"{name} listens on {port}, publishes {service.get('ports')}"
            )
        elif program == "celery":
            assert _option(argv, "-A") == "config"
            from config.celery import app

            assert app.main == "curation"
            if argv[3] == "worker":
                queues = set(_option(argv, "-Q").split(","))
                assert queues <= _queues(), f"{name} consumes unknown queues {queues - _queues()}"
                assert _option(argv, "--pool") == "solo"  # one task in the worker's own process
            elif argv[3] == "beat":
                # Its schedule file on the shared var volume; every scheduled task exists.
                assert _option(argv, "-s").startswith("/srv/var/")
                app.loader.import_default_modules()
                scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
                assert scheduled and scheduled <= set(app.tasks), scheduled - set(app.tasks)
            else:
                assert argv[3] == "flower"
                assert int(_option(argv, "--port")) in _container_ports(service)
        else:
            pytest.fail(f"{name} runs {program}, which this test does not know")


def test_every_queue_has_a_worker():
    consumed = set()
    for name in APP_SERVICES:
        for argv in _commands(SERVICES[name]):
            if argv[:4] == ["celery", "-A", "config", "worker"]:
                consumed |= set(_option(argv, "-Q").split(","))
    assert _queues() == consumed == {"cpu", "train"}


def test_the_train_worker_gets_a_gpu():
    devices = SERVICES["worker-train"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["count"] == 1


def test_programs_the_image_runs_are_pinned_requirements():
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    )
    for package in ("gunicorn", "celery", "flower", "whitenoise", "psycopg[binary]", "redis"):
        assert package in pins, f"{package} is run or used by docker/compose.yaml: pin it"


def test_every_variable_the_stack_passes_is_read_and_listed():
    listed = set(_env_example())
    read = _read_by_code()
    text = (ROOT / "docker/compose.yaml").read_text()
    passed = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    for service in SERVICES.values():
        env = service.get("environment", {})
        passed |= set(env if isinstance(env, dict) else (e.split("=")[0] for e in env))
    passed -= {"POSTGRES_USER", "POSTGRES_DB"}  # literal values in the file itself
    assert passed <= listed, f"not in docker/.env.example: {sorted(passed - listed)}"
    assert passed <= read | OTHER_SERVICES_READ, f"read by nothing: {sorted(passed - read)}"
    stale = listed - read - OTHER_SERVICES_READ
    assert not stale, f"docker/.env.example lists variables nothing reads: {sorted(stale)}"


def test_env_example_urls_point_at_the_compose_services():
    env = _env_example()
    db = urlsplit(env["DATABASE_URL"])
    postgres = SERVICES[db.hostname]
    assert postgres["image"].startswith("postgres:") and db.port == 5432
    assert postgres["environment"]["POSTGRES_USER"] == db.username
    assert postgres["environment"]["POSTGRES_DB"] == db.path.lstrip("/")
    assert env["POSTGRES_PASSWORD"] == db.password
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        url = urlsplit(env[name])
        assert url.scheme == "redis" and SERVICES[url.hostname]["image"].startswith("redis:")
        assert url.port == 6379
    s3 = urlsplit(env["AWS_S3_ENDPOINT_URL"])
    assert f"-s3.port={s3.port}" in SERVICES[s3.hostname]["command"]
    assert env["CURATION_IMPORT_ROOTS"] in {v.split(":")[1] for v in SERVICES["web"]["volumes"]}
    assert env["VAR_DIR"] in {v.split(":")[1] for v in SERVICES["worker-cpu"]["volumes"]}


def test_dependencies_exist_and_the_database_is_migrated_first():
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert set(depends) <= set(SERVICES), name
    for name in ("web", "worker-cpu", "worker-train", "flower"):
        assert (
            SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--appendonly yes" in SERVICES["redis"]["command"]  # queued tasks survive a restart


def test_the_dockerfile_builds_a_python_311_image_run_as_a_user():
    text = (ROOT / "docker/Dockerfile").read_text()
    assert "ARG BASE=python:3.11-" in text and "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text and re.search(r"^USER app$", text, re.M)
    cmd = re.search(r'^CMD \["gunicorn", "config\.wsgi:application"', text, re.M)
    assert cmd, "the image's default command should be the web process"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "docker/.env"} <= set(ignored)


def test_the_weights_folder_is_on_the_volume_web_and_workers_share():
    env = _env_example()
    assert env["CURATION_WEIGHTS_DIR"].startswith(env["VAR_DIR"] + "/")
