"""Retrain overhead: the wall time from the retrain request to metrics visible, against bare
mlcore doing the same work with the same config on the same files, in the same run.

App side: a data scientist's `POST /api/runs/` (through Django's full request stack), a real
`celery worker -Q train` process on its own broker (Redis when it answers, else the embedded
filesystem broker), and `GET /api/runs/{id}/` every 0.2 s until the run has succeeded and its
metrics are there. That includes queueing, the frozen label snapshot, the worker's claim and
heartbeat, progress writes, storing the model and every prediction, the suspects and the
aggregates the QA pages read.

Bare side: the calls the worker makes, with the run's own config and item list, and nothing
else: `fit()` with test evaluation, `out_of_sample_probs()`, `rank_label_issues()`,
`save_model()`. The sides alternate over rounds (the first app round includes the worker's
first torch import, as a freshly started worker's first run does). Goal: overhead <= 10% + 5 s.

    .venv/bin/python bench/retrain_overhead.py                      # ~5 min on 2 cores
    .venv/bin/python bench/retrain_overhead.py --per-split 10000 --rounds 1 \
--workdir bench/out/retrain10k
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scratch_app import scratch_environment, start_worker, wait_ready  # noqa: E402

GOAL_FRACTION, GOAL_SECONDS = 0.10, 5.0


def app_round(client, options: dict, timeout: float) -> tuple[float, dict]:
    """Seconds from the POST to a GET that shows the finished run's metrics; the run's JSON."""
    start = time.perf_counter()
    answer = client.post(
        "/api/runs/",
        {"dataset": "bench", "attribute": "category", "options": options},
        content_type="application/json",
    )
    if answer.status_code != 202:
        raise SystemExit(f"POST /api/runs/ answered {answer.status_code}: {answer.content[:500]!r}")
    url = f"/api/runs/{answer.json()['id']}/"
    deadline = start + timeout
    while time.perf_counter() < deadline:
        run = client.get(url).json()
        if run["status"] == "succeeded" and run["metrics"]:
            return time.perf_counter() - start, run
        if run["status"] in {"failed", "cancelled"}:
            raise SystemExit(f"run {run['id']} {run['status']}: {run['error']}")
        time.sleep(0.2)
    raise SystemExit(f"run did not finish in {timeout:.0f} s")


def bare_round(config_dict: dict, train_items, test_items, names, out: Path) -> tuple[float, float]:
    """The worker's mlcore calls on the same items; (seconds, test accuracy)."""
    import numpy as np

    from mlcore.config import TrainConfig
    from mlcore.eval.crossval import out_of_sample_probs
    from mlcore.eval.issues import rank_label_issues
    from mlcore.store import save_model
    from mlcore.train.fit import fit

    config = TrainConfig.from_dict(config_dict)
    start = time.perf_counter()
    result = fit(config, train_items, names, out_dir=out / "model", eval_items=test_items)
    assert result.evaluation is not None and result.metrics is not None
    oos = out_of_sample_probs(config, train_items, names, work_dir=out / "cv")
    test_probs = np.full((len(test_items), len(names)), np.nan, dtype=np.float32)
    test_probs[result.evaluation.indices] = result.evaluation.probs
    given = np.array([y for _, y in train_items + test_items], dtype=np.int64)
    rank_label_issues(given, np.concatenate([oos.probs, test_probs]))
    save_model(
        out / "models",
        name="bench",
        model=result.model,
        label_names=names,
        config=config,
        metrics=result.metrics.to_dict(),
    )
    return time.perf_counter() - start, float(result.metrics.accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--per-split", type=int, default=3000, help="Fashion-MNIST images per split"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cv-folds", type=int, default=2)
    parser.add_argument("--cv-epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="app and bare runs, alternating")
    parser.add_argument(
        "--broker",
        help="Celery broker URL (default: Redis on 6379 when it "
        "answers, else the embedded filesystem broker)",
    )
    parser.add_argument("--workdir", help="keep files here (default: a temp folder)")
    args = parser.parse_args()

    work, broker = scratch_environment(
        args.workdir, prefix="bench-retrain-", broker=args.broker, redis_db=13
    )
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from curation.models import Image, TrainingRun
    from curation.roles import ensure_role_groups
    from curation.services.datasets import create_dataset
    from curation.services.imports import import_catalog
    from curation.services.runs.classifier_worker import run_items
    from mlcore.datasets import fashion_mnist

    call_command("migrate", verbosity=0)
    names = list(fashion_mnist.CLASSES)
    if not Image.objects.filter(dataset__name="bench").exists():
        print(f"writing and importing {2 * args.per_split} Fashion-MNIST images …", flush=True)
        manifest = fashion_mnist.write_image_folder(
            work / "catalog", limit_per_split=args.per_split
        )
        create_dataset(name="bench", attributes={"category": names})
        import_catalog(str(manifest), dataset_name="bench")
    user = User.objects.filter(username="bench-ds").first() or User.objects.create_user("bench-ds")
    user.groups.add(ensure_role_groups()["data_scientist"])
    client = Client()
    client.force_login(user)

    options = {"epochs": args.epochs, "cv_folds": args.cv_folds, "cv_epochs": args.cv_epochs}

    worker = start_worker(work)
    results = []
    try:
        wait_ready(work, worker)
        for r in range(args.rounds):
            app_s, run = app_round(client, options, timeout=3600)
            items = run_items(TrainingRun.objects.get(pk=run["id"]))  # exactly the worker's lists
            train_items, test_items = items.train_items, items.test_items
            bare_s, bare_acc = bare_round(
                run["config"], train_items, test_items, run["label_names"], work / f"bare-{r}"
            )
            results.append(
                (r + 1, app_s, bare_s, run["metrics"]["accuracy"], bare_acc, run["config"])
            )
            print(f"round {r + 1}: app {app_s:.1f} s, bare {bare_s:.1f} s", flush=True)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    config = results[0][5]
    print(
        f"\n{2 * args.per_split} Fashion-MNIST images "
        f"({len(train_items)} train / {len(test_items)} test), "
        f"{config['arch']} width {config['width']} {config['image_size']} px, "
        f"{config['epochs']} epochs, "
        f"{config['cv_folds']}-fold {config['cv_method']} x {config['cv_epochs']} epochs; broker "
        f"{broker.split(':')[0]}; database {django.db.connection.vendor}; cpus {os.cpu_count()}"
    )
    print(
        "| round | app: request -> metrics | bare mlcore | overhead | allowed (10% + 5 s) | "
        "app test acc | bare test acc |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r, app_s, bare_s, app_acc, bare_acc, _ in results:
        allowed = GOAL_FRACTION * bare_s + GOAL_SECONDS
        verdict = "met" if app_s - bare_s <= allowed else "NOT met"
        print(
            f"| {r} | {app_s:.1f} s | {bare_s:.1f} s | "
            f"{app_s - bare_s:+.1f} s ({(app_s / bare_s - 1):+.0%}) "
            f"| {allowed:.1f} s, {verdict} | {app_acc:.4f} | {bare_acc:.4f} |"
        )
    print(
        json.dumps(
            {"rounds": [{"app_s": round(a, 2), "bare_s": round(b, 2)} for _, a, b, *_ in results]}
        )
    )


if __name__ == "__main__":
    main()
