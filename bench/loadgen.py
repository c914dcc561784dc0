"""Shared by bench/pages.py and bench/load.py: a seeded PostgreSQL catalog, gunicorn on
loopback, N client threads with their own sessions, and the lost-update audit.

Each client relabels only its own images and keeps their versions, so a 409 or a missing
history row would be the server's fault, not a race between clients.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/labelqa_scale"
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/3")
# Sessions made here must verify in the server: both sides sign with this key.
SECRET = "bench-" + secrets.token_hex(24)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SECRET_KEY"] = SECRET
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    _ensure_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def _ensure_database(url: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.startswith("postgres"):
        import psycopg

        name = parsed.path.lstrip("/")
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')


def ensure_catalog(images: int, dataset: str):
    from curation.models import Dataset, Image
    from curation.services.scale import seed_scale_catalog

    found = Dataset.objects.filter(name=dataset).first()
    if found is not None:
        have = Image.objects.filter(dataset=found).count()
        if have != images:
            sys.exit(
                f"dataset '{dataset}' holds {have:,} images, not {images:,}: "
                "pass --dataset NAME for a new one"
            )
        return found
    start = time.monotonic()
    print(
        f"seeding {images:,} images into '{dataset}' (one time; about 30 s per 100k here)…",
        flush=True,
    )
    created = seed_scale_catalog(
        images=images, name=dataset, progress=lambda m: print("  ", m, flush=True)
    )
    print(f"seeded in {time.monotonic() - start:.0f} s", flush=True)
    return created


@dataclass
class Client:
    cookie: str
    csrf: str
    username: str
    images: dict[int, list[int]]  # image id -> [annotation version, current label id]
    accepted: list[tuple[int, int]] = field(default_factory=list)  # (image id, new label id)


def make_clients(n: int, dataset, per_client: int) -> list[Client]:
    """n users with merchandiser role and a session each; disjoint images to relabel."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from curation.models import Annotation
    from curation.roles import ensure_role_groups

    group = ensure_role_groups()["merchandiser"]
    attr = dataset.attributes.get(name="neckline")
    run_id = attr.promoted.run_id
    # Images from the run's test split mistakes: the ones people would fix from a gallery.
    from curation.models import RunImage

    ids = list(
        RunImage.objects.filter(run_id=run_id)
        .order_by("-is_error", "id")
        .values_list("image_id", flat=True)[: n * per_client]
    )
    if len(ids) < n * per_client:
        raise SystemExit(f"the catalog has too few images for {n} clients × {per_client}")
    state = {
        a.image_id: [a.version, a.label_id]
        for a in Annotation.objects.filter(image_id__in=ids, attribute=attr)
    }
    clients = []
    for c in range(n):
        user, _ = User.objects.get_or_create(username=f"bench_{c:02d}")
        user.groups.add(group)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        mine = ids[c * per_client : (c + 1) * per_client]
        clients.append(
            Client(
                cookie=session.session_key,
                csrf=secrets.token_hex(16),
                username=user.username,
                images={i: list(state[i]) for i in mine},
            )
        )
    return clients


class Server:
    """gunicorn serving config.wsgi on loopback, production-like settings."""

    def __init__(self, database_url: str, port: int, workers: int, threads: int):
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": SECRET,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_COOKIES": "false",
            "DATABASE_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
            "CACHE_URL": CACHE_URL,  # shared by the workers, as in production (docker/.env.example)
        }
        self.port = port
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz/")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not answer /healthz/ within 60 s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None, *, timed: bool = True) -> None:
        """timed=False (warm-up): the latency is left out, an error still counts."""
        with self.lock:
            if timed:
                self.latencies[kind].append(seconds)
            if error:
                self.errors[kind].append(error)


NEXT = re.compile(r'href="\?([^"]*after=[^"#]+)')


def drive(
    *,
    port: int,
    clients: list[Client],
    dataset,
    duration: float,
    weights: dict[str, float],
    seed: int = 0,
    think: float = 0.0,
    warmup: float = 0.0,
) -> tuple[Results, float]:
    """Run the clients for `warmup` + `duration` seconds and time the last `duration`.
    weights: dashboard / gallery / relabel. think: mean pause (uniform 0..2×think seconds)
    between one client's requests; 0 sends the next request as soon as the last answer
    arrives (closed loop, the hardest case). warmup: fresh server processes connect to the
    database and compile templates on their first requests; those latencies are left out
    (their errors and relabels still count)."""
    attr = dataset.attributes.get(name="neckline")
    run_id = attr.promoted.run_id
    labels = list(attr.labels.values_list("pk", flat=True))
    base = f"/datasets/{dataset.name}/attributes/{attr.name}"
    galleries = (
        [f"{base}/gallery/?run={run_id}&fp={lab}" for lab in labels]
        + [f"{base}/gallery/?run={run_id}&fn={lab}&split=train" for lab in labels]
        + [f"{base}/gallery/?run={run_id}&given={a}&predicted={b}" for a in labels for b in labels]
    )
    results = Results()
    timed_from = time.monotonic() + warmup
    stop_at = timed_from + duration
    kinds, probs = zip(*weights.items(), strict=True)

    def worker(index: int, client: Client) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        cookies = f"sessionid={client.cookie}; csrftoken={client.csrf}"
        cursors: dict[str, str] = {}
        while time.monotonic() < stop_at:
            kind = rng.choices(kinds, probs)[0]
            headers = {"Cookie": cookies, "Host": "127.0.0.1"}
            body = None
            method = "GET"
            if kind == "dashboard":
                url = f"{base}/quality/"
            elif kind == "gallery":
                url = rng.choice(galleries)
                if url in cursors and rng.random() < 0.5:  # the next page of one seen before
                    url = "?".join([url.split("?")[0], cursors[url]])
            else:
                image = rng.choice(list(client.images))
                version, current = client.images[image]
                label = rng.choice([lab for lab in labels if lab != current])
                url = f"/images/{image}/gallery-relabel/"
                method = "POST"
                body = urllib.parse.urlencode(
                    {"attribute": attr.name, "run": run_id, "label": label, "version": version}
                )
                headers.update(
                    {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-CSRFToken": client.csrf,
                        "HX-Request": "true",
                        "Referer": f"http://127.0.0.1:{port}{base}/gallery/",
                    }
                )
            began, start = time.monotonic(), time.perf_counter()
            error = None
            try:
                conn.request(method, url, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200:
                    error = f"{response.status} {method} {url}: {payload[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__} {method} {url}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - start
            if kind == "relabel" and error is None:
                client.images[image] = [version + 1, label]
                client.accepted.append((image, label))
            if kind == "gallery" and error is None:
                found = NEXT.search(payload.decode("utf-8", "replace"))
                key = (
                    url
                    if "after=" not in url
                    else next((k for k in cursors if k.split("?")[0] == url.split("?")[0]), url)
                )
                if found:
                    cursors[key] = found.group(1).replace("&amp;", "&")
            results.add(kind, elapsed, error, timed=began >= timed_from)
            if think:
                time.sleep(rng.uniform(0, 2 * think))

    threads = [
        threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - timed_from


def audit(clients: list[Client], dataset, since) -> tuple[int, int, list[str]]:
    """Every accepted relabel must be in history, and each image's final label must be the
    last one accepted. Returns (accepted, events found, problems)."""
    from collections import Counter

    from curation.models import Annotation, LabelEvent

    attr = dataset.attributes.get(name="neckline")
    problems = []
    accepted = sum(len(c.accepted) for c in clients)
    users = [c.username for c in clients]
    events = Counter(
        LabelEvent.objects.filter(
            actor__username__in=users, created_at__gte=since, attribute=attr
        ).values_list("image_id", "new_label_id")
    )
    wanted = Counter(pair for c in clients for pair in c.accepted)
    missing = wanted - events
    extra = events - wanted
    if missing:
        problems.append(f"{sum(missing.values())} accepted relabels have no history row")
    if extra:
        problems.append(f"{sum(extra.values())} history rows were never acknowledged to a client")
    final = {}
    for c in clients:
        for image, label in c.accepted:
            final[image] = label
    now = dict(
        Annotation.objects.filter(image_id__in=list(final), attribute=attr).values_list(
            "image_id", "label_id"
        )
    )
    lost = [i for i, lab in final.items() if now.get(i) != lab]
    if lost:
        problems.append(f"{len(lost)} images do not hold their last accepted label (lost updates)")
    return accepted, sum(events.values()), problems


def table(results: Results, elapsed: float, goals: dict[str, float]) -> str:
    lines = [
        f"{'request':<10} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>6}  goal p95",
        "-" * 84,
    ]
    for kind in sorted(results.latencies):
        lat = np.array(results.latencies[kind]) * 1000
        goal = goals.get(kind)
        verdict = (
            ""
            if goal is None
            else f"< {goal:.0f} ms {'met' if np.percentile(lat, 95) < goal else 'NOT met'}"
        )
        lines.append(
            f"{kind:<10} {len(lat):>7} {len(lat) / elapsed:>7.1f} {np.percentile(lat, 50):>8.1f} "
            f"{np.percentile(lat, 95):>8.1f} {np.percentile(lat, 99):>8.1f} {lat.max():>8.1f} "
            f"{len(results.errors[kind]):>6}  {verdict}"
        )
    total = sum(len(v) for v in results.latencies.values())
    lines.append(f"{'all':<10} {total:>7} {total / elapsed:>7.1f}")
    return "\n".join(lines)


def bench_main(
    *, description: str, clients: int, weights: dict[str, float], goals: dict[str, float]
) -> None:
    """The shared command line: seed (once), serve, drive, audit, print the table, for the
    big catalog and, in the same run, a small baseline catalog (pages that never scan the
    catalog take about as long at both sizes)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--baseline-images", type=int, default=10_000, help="0 skips the baseline")
    parser.add_argument("--clients", type=int, default=clients)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    # 8×2 gave the lowest p95 here on 2 cores (16 clients, think 1 s, 1M images: relabel p95
    # 52 ms against 59 ms with 4×4 and 63 ms with 16×1); more threads per process wait on the GIL.
    parser.add_argument("--workers", type=int, default=8, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn process")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean pause between a client's requests (s)"
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of load before timing starts"
    )
    args = parser.parse_args()
    setup_django(args.database_url)
    from django.utils import timezone

    sizes = [args.images] + ([args.baseline_images] if args.baseline_images else [])
    datasets = {n: ensure_catalog(n, f"scale-{n}") for n in sizes}
    print(
        f"{args.clients} clients (think {args.think:.2f} s), {args.duration:.0f} s per catalog "
        f"after {args.warmup:.0f} s warm-up, gunicorn {args.workers}×{args.threads}, "
        f"PostgreSQL; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    summary = {}
    failed = False
    for n, dataset in datasets.items():
        people = make_clients(args.clients, dataset, per_client=50)
        server = Server(args.database_url, args.port, args.workers, args.threads)
        since = timezone.now()
        try:
            results, elapsed = drive(
                port=args.port,
                clients=people,
                dataset=dataset,
                duration=args.duration,
                weights=weights,
                think=args.think,
                warmup=args.warmup,
            )
        finally:
            server.stop()
        accepted, found, problems = audit(people, dataset, since)
        print(f"\n== {n:,} images ==\n{table(results, elapsed, goals)}")
        print(
            f"relabels accepted {accepted}, history rows {found}, "
            f"lost updates: {'none' if not problems else '; '.join(problems)}"
        )
        for kind, errors in results.errors.items():
            for line in errors[:5]:
                print(f"  error ({kind}): {line}")
        failed |= bool(problems) or any(results.errors.values())
        summary[n] = {
            k: float(np.percentile(np.array(v) * 1000, 95)) for k, v in results.latencies.items()
        }
    if len(summary) == 2:
        big, small = sizes
        print(f"\np95 side by side: {big:,} images vs {small:,} images (baseline, same run)")
        for kind in sorted(summary[big]):
            b, s = summary[big][kind], summary[small].get(kind, float("nan"))
            print(f"  {kind:<10} {b:8.1f} ms vs {s:8.1f} ms   ratio {b / s:5.2f}")
    sys.exit(1 if failed else 0)
