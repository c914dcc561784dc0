"""The curation loop end to end, as a client drives it: does reviewing what a run ranks
recover the accuracy that label noise costs?

    .venv/bin/python bench/curation.py                               # 12,000 / 3,000, 10% noise
    .venv/bin/python bench/curation.py --train 2000 --test 500 --budget 0.15   # a quick look

Set-up (not timed as part of the loop): a Fashion-MNIST catalog from the Debian package,
imported twice: once with label noise injected on both splits (10% of labels by default, 70%
of them as realistic confusions such as shirt <-> T-shirt and pullover <-> coat, the rest to
any other class; your --seed), once as its uncorrupted twin. Then, through the app's own
HTTP API (a gunicorn process, token authentication) and a real Celery worker process:

1. the one-click retrain on the noisy catalog (`POST /api/runs/` with no options);
2. a simulated reviewer who walks the run's review order (`GET /api/runs/{id}/suspects/`)
   for a budget of --budget of the catalog and fixes each label that is wrong with one
   `PATCH /api/images/{id}/labels/` (If-Match: the row's label version; flagged_by_run) and
   keeps each right one with one vote (`POST /api/runs/{id}/suspects/{image}/vote/`); then
   answers the run's spot checks (`?spot_check=true`, 400 random images) the same way, and
   reads the app's count of the wrong labels left (`GET /api/runs/{id}/wrong-labels/`);
3. one more click on the curated catalog;
4. the same click on the clean twin: the ceiling.

It prints precision@k (k = the number of corrupted labels), the share of corrupted labels in
the first 5 / 10 / 15% of the review order, its AUROC, true test accuracy (against the
uncorrupted labels) before / after / clean, the share of the accuracy lost to noise that the
review recovered, the gap between the accuracy the app reports and the true one, the app's
count of the wrong labels left after the review (from the spot checks) and run 2's
confident-joint estimate, each against the truth, and each step's wall time; then the
figures against the issue's goals, each marked met or NOT met.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scratch_app import scratch_environment, start, wait_for, wait_ready  # noqa: E402

# Fashion-MNIST classes a person (or a weak tagger) confuses, by class index: T-shirt,
# trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot.
CONFUSED = {0: [6, 3], 1: [3], 2: [4, 6], 3: [0, 4], 4: [2, 6], 5: [7], 6: [0, 2, 4]}
CONFUSED |= {7: [5, 9], 8: [], 9: [7, 5]}
REALISTIC_SHARE = 0.7  # of the corrupted labels; the rest go to any other class
ATTRIBUTE = "category"


def corrupt(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """labels: (N,) int class indices; returns a copy with round(rate * N) of them changed."""
    noisy = labels.copy()
    chosen = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    for i in chosen:
        options = CONFUSED[int(labels[i])]
        if options and rng.random() < REALISTIC_SHARE:
            noisy[i] = rng.choice(options)
        else:
            noisy[i] = (labels[i] + rng.integers(1, 10)) % 10
    return noisy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Api:
    """The app's HTTP API, as a client script calls it."""

    base: str
    token: str

    def call(self, method: str, path: str, body: dict | None = None, headers=None) -> dict:
        request = urllib.request.Request(
            path if path.startswith("http") else self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{method} {path} answered {exc.code}: {exc.read()[:500]!r}") from None

    def pages(self, path: str) -> list[dict]:
        """Every row of a cursor-paginated list, in its order."""
        rows, url = [], path
        while url:
            page = self.call("GET", url)
            rows += page["results"]
            url = page["next"]
        return rows

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.base + "/healthz/", timeout=2).close()
            return True
        except OSError:
            return False


def one_click(api: Api, dataset: str, timeout: float) -> tuple[float, dict]:
    """The retrain button with its defaults: (seconds to metrics visible, the run's JSON)."""
    begun = time.perf_counter()
    run_id = api.call("POST", "/api/runs/", {"dataset": dataset, "attribute": ATTRIBUTE})["id"]
    last = ""
    while time.perf_counter() - begun < timeout:
        run = api.call("GET", f"/api/runs/{run_id}/")
        if run["status"] == "succeeded" and run["metrics"]:
            return time.perf_counter() - begun, run
        if run["status"] in {"failed", "cancelled"}:
            raise SystemExit(f"run {run_id} {run['status']}: {run['error']}")
        progress = run.get("progress") or {}
        stage = " ".join(
            f"{key} {progress[key]}" for key in ("phase", "epoch", "fold") if key in progress
        )
        if stage != last:
            print(f"  run {run_id} ({dataset}): {stage}", file=sys.stderr, flush=True)
            last = stage
        time.sleep(2)
    raise SystemExit(f"run {run_id} did not finish in {timeout:.0f} s")


@dataclass
class Outcome:
    """One run, judged against the uncorrupted labels."""

    run: dict
    wall: float
    reported: float  # test accuracy the app shows (against the catalog's labels)
    true: float  # the same predictions against the uncorrupted labels
    wrong_left: int  # catalog labels still wrong when the run began
    estimated_left: float  # the run's estimate of that number
    rows: list[dict] = field(repr=False, default_factory=list)


def judge(api: Api, wall: float, run: dict, truth: dict[str, str]) -> Outcome:
    rows = api.pages(f"/api/runs/{run['id']}/predictions/?page_size=500")
    test = [r for r in rows if r["split"] == "test" and r["predicted_label"] is not None]
    true = np.mean([r["predicted_label"] == truth[r["source_path"]] for r in test])
    estimate = run["metrics"].get("wrong_labels") or {}
    return Outcome(
        run=run,
        wall=wall,
        reported=float(run["metrics"]["accuracy"]),
        true=float(true),
        wrong_left=sum(r["given_label"] != truth[r["source_path"]] for r in rows),
        estimated_left=float(sum(sum(per.values()) for per in estimate.values())),
        rows=rows,
    )


def auroc(wrong: np.ndarray) -> float:
    """wrong: (N,) bool, in review order; the AUROC of 'earlier means wrong'."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(wrong, -np.arange(len(wrong))))


def answer(api: Api, run: dict, row: dict, truth: dict[str, str]) -> bool:
    """One look: a wrong label fixed with one PATCH that names the run, a right one kept
    with one vote (both are answers the run's count of wrong labels left learns from).
    Returns whether the label was wrong."""
    right = truth[row["source_path"]]
    if row["given_label"] == right:
        api.call(
            "POST", f"/api/runs/{run['id']}/suspects/{row['image_id']}/vote/", {"label": right}
        )
        return False
    api.call(
        "PATCH",
        f"/api/images/{row['image_id']}/labels/",
        {
            "attribute": ATTRIBUTE,
            "label": right,
            "flagged_by_run": run["id"],
            "note": "bench/curation.py reviewer",
        },
        headers={"If-Match": f'"{row["label_version"]}"'},
    )
    return True


def review(api: Api, run: dict, order: list[dict], truth: dict[str, str], budget: int):
    """Work through the first `budget` rows of the review order, then the run's spot checks
    not among them. Returns (looks, fixes, spot-check looks, seconds)."""
    begun = time.perf_counter()
    fixes = sum(answer(api, run, row, truth) for row in order[:budget])
    seen = {row["image_id"] for row in order[:budget]}
    spots = api.pages(f"/api/runs/{run['id']}/suspects/?spot_check=true&page_size=500")
    later = [row for row in spots if row["image_id"] not in seen]
    fixes += sum(answer(api, run, row, truth) for row in later)
    return min(budget, len(order)), fixes, len(later), time.perf_counter() - begun


def write_catalog(work: Path, n_train: int, n_test: int, noise: float, seed: int):
    """Both manifests over one image folder; returns (noisy csv, clean csv, truth by path)."""
    from mlcore.datasets import fashion_mnist

    folder = work / "catalog"
    full = folder / "labels.csv"
    if not full.exists():
        print("exporting Fashion-MNIST …", file=sys.stderr, flush=True)
        fashion_mnist.write_image_folder(folder, limit_per_split=max(n_train, n_test))
    with full.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(seed)
    chosen = []
    for split, n in (("train", n_train), ("test", n_test)):
        pool = [r for r in rows if r["split"] == split]
        chosen += [pool[i] for i in np.sort(rng.choice(len(pool), n, replace=False))]
    names = list(fashion_mnist.CLASSES)
    true = np.array([names.index(r[ATTRIBUTE]) for r in chosen])
    noisy = corrupt(true, noise, rng)
    paths = {}
    for kind, labels in (("noisy", noisy), ("clean", true)):
        paths[kind] = folder / f"labels-{kind}-{seed}.csv"
        with paths[kind].open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("path", "product", "split", ATTRIBUTE))
            for row, label in zip(chosen, labels, strict=True):
                writer.writerow((row["path"], row["product"], row["split"], names[label]))
    truth = {r["path"]: r[ATTRIBUTE] for r in chosen}
    return paths["noisy"], paths["clean"], truth


def setup_app(work: Path, manifests: dict[str, Path]) -> str:
    """Migrate, import both catalogs, make a reviewer who may relabel and retrain; its token."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from curation.models import Dataset
    from curation.roles import ensure_role_groups
    from curation.services.datasets import create_dataset
    from curation.services.imports import import_catalog
    from mlcore.datasets import fashion_mnist

    call_command("migrate", verbosity=0)
    for name, manifest in manifests.items():
        if Dataset.objects.filter(name=name).exists():
            continue
        begun = time.perf_counter()
        create_dataset(name=name, attributes={ATTRIBUTE: list(fashion_mnist.CLASSES)})
        report = import_catalog(str(manifest), dataset_name=name)
        took = time.perf_counter() - begun
        print(f"imported {name}: {report.to_dict()} in {took:.0f} s", file=sys.stderr)
    user, _ = User.objects.get_or_create(username="bench-reviewer")
    groups = ensure_role_groups()
    user.groups.add(groups["data_scientist"], groups["merchandiser"])
    return Token.objects.get_or_create(user=user)[0].key


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=12_000)
    parser.add_argument("--test", type=int, default=3_000)
    parser.add_argument("--noise", type=float, default=0.10, help="share of labels corrupted")
    parser.add_argument("--budget", type=float, default=0.10, help="share of catalog reviewed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="keep files here (default: a temp folder)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds a run may take")
    args = parser.parse_args()

    work, broker = scratch_environment(
        args.workdir, prefix="bench-curation-", broker=None, redis_db=12
    )
    noisy_csv, clean_csv, truth = write_catalog(work, args.train, args.test, args.noise, args.seed)
    tag = f"{args.train}-{args.test}-{args.noise}-{args.seed}"
    noisy_name, clean_name = f"noisy-{tag}".replace(".", "p"), f"clean-{tag}".replace(".", "p")
    token = setup_app(work, {noisy_name: noisy_csv, clean_name: clean_csv})

    port = free_port()
    web_log, worker_log = work / "web.log", work / "worker.log"
    web = start(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--threads", "4", "--timeout", "300"],
        web_log,
    )
    worker = start(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "train,cpu"]
        + ["--pool", "solo", "-n", f"bench-curation-{port}@%h", "--loglevel", "INFO"],
        worker_log,
    )
    api = Api(base=f"http://127.0.0.1:{port}", token=token)
    try:
        wait_for("gunicorn", api.answers, web, web_log, timeout=120)
        wait_ready(work, worker, timeout=300)

        print("1. one click on the noisy catalog", file=sys.stderr, flush=True)
        before = judge(api, *one_click(api, noisy_name, args.timeout), truth)
        order = api.pages(f"/api/runs/{before.run['id']}/suspects/?page_size=500")
        wrong = np.array([r["given_label"] != truth[r["source_path"]] for r in order])
        k = int(sum(r["given_label"] != truth[r["source_path"]] for r in before.rows))

        budget = int(round(args.budget * len(before.rows)))
        print(f"2. reviewing the first {budget} of the order", file=sys.stderr, flush=True)
        looks, fixes, spot_looks, review_s = review(api, before.run, order, truth, budget)
        counted = api.call("GET", f"/api/runs/{before.run['id']}/wrong-labels/")
        still_wrong = k - fixes  # every fix set a wrong label to the truth

        print("3. one more click", file=sys.stderr, flush=True)
        after = judge(api, *one_click(api, noisy_name, args.timeout), truth)
        print("4. the clean twin", file=sys.stderr, flush=True)
        clean = judge(api, *one_click(api, clean_name, args.timeout), truth)
    finally:
        for process in (worker, web):
            process.terminate()
            process.wait(timeout=60)

    n = len(before.rows)
    config = before.run["config"]
    lost = clean.true - before.true
    recovered = (after.true - before.true) / lost if lost > 0 else float("nan")
    recall = {s: float(wrong[: int(s * n)].sum() / k) for s in (0.05, 0.10, 0.15)}
    top10_recall = recall[0.10]
    figures = {
        "catalog images (train / test)": f"{args.train} / {args.test}",
        "corrupted labels (k)": f"{k} ({k / n:.1%})",
        "one-click recipe": (
            f"{config['arch']} {config['image_size']} px, {config['epochs']} epochs, "
            f"{config['cv_folds']}-fold {config['cv_method']} x {config['cv_epochs']}"
        ),
        "review order covers": f"{len(order)} of {n} images",
        "precision@k of the review order": f"{wrong[:k].mean():.3f}",
        "recall@k": f"{wrong[:k].sum() / k:.3f}",
        "corrupted in the first 5 / 10 / 15%": " / ".join(f"{v:.3f}" for v in recall.values()),
        "AUROC of the review order": f"{auroc(wrong):.3f}",
        "cleanlab flagged (share corrupted)": (
            f"{before.run['metrics'].get('suspects')} "
            f"({np.mean([w for w, r in zip(wrong, order, strict=True) if r['flagged']]):.3f})"
        ),
        f"reviewer: looks + spot checks / fixes (budget {args.budget:.0%})": (
            f"{looks} + {spot_looks} / {fixes}"
        ),
        "wrong labels left after the review: the app's count [95%] / true": (
            f"{counted['left']:.0f} [{counted['learned']['low']:.0f}-"
            f"{counted['learned']['high']:.0f}] / {still_wrong}"
            if counted["learned"]
            else f"{counted['left']:.0f} (no spot-check count) / {still_wrong}"
        ),
        "true test accuracy before / after / clean": (
            f"{before.true:.4f} / {after.true:.4f} / {clean.true:.4f}"
        ),
        "accuracy lost to noise that the review recovered": f"{recovered:.1%}",
        "reported minus true accuracy, before / after": (
            f"{before.reported - before.true:+.4f} / {after.reported - after.true:+.4f}"
        ),
        "wrong labels at run 2: its confident-joint estimate / true": (
            f"{after.estimated_left:.0f} / {after.wrong_left}"
        ),
        "wall: run 1 / review / run 2 / clean run (min)": (
            f"{before.wall / 60:.1f} / {review_s / 60:.1f} / {after.wall / 60:.1f} / "
            f"{clean.wall / 60:.1f}"
        ),
    }
    ratio = counted["left"] / still_wrong if still_wrong else float("nan")
    goals = [
        ("precision@k >= 0.9", wrong[:k].mean() >= 0.9),
        ("recall@k >= 0.8", wrong[:k].sum() / k >= 0.8),
        ("top 10% of the order holds >= 80% of the corrupted", top10_recall >= 0.8),
        (">= 90% of the lost accuracy recovered", recovered >= 0.9),
        ("reported within 1 point of true, after", abs(after.reported - after.true) <= 0.01),
        ("estimate of wrong labels left within x2", 0.5 <= ratio <= 2),
        ("one-click run <= 20 min", before.wall <= 20 * 60),
    ]
    print(
        f"\nThe curation loop on Fashion-MNIST, {args.noise:.0%} noise, seed {args.seed}; "
        f"database {os.environ['DATABASE_URL'].split(':')[0]}, broker {broker.split(':')[0]}, "
        f"cpus {os.cpu_count()}"
    )
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print("\nagainst the goals:")
    for goal, met in goals:
        print(f"  {'met    ' if met else 'NOT met'}  {goal}")


if __name__ == "__main__":
    main()
