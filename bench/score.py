"""Bulk scoring throughput: the app's scoring job, from the request to every row stored,
against a bare `model(x)` loop over the same decoded batches, same model, same run.

App side: a data scientist's POST to the attribute card's **Score images** (Django's full
request stack), a real `celery worker -Q train` process on its own broker (Redis when it
answers, else the embedded filesystem broker), and the job's row read every 0.2 s until it
has succeeded and every ImageScore row is there. That includes queueing, the worker's
claim, reading the pending images off the database, decoding the PNG files, the model's
forward passes, calibration, heartbeats, progress and the chunked bulk writes.

Bare side: the same saved model (mlcore.store.load_model of the run's artifact), the same
images decoded once beforehand by mlcore's eval loader into the same batches (same batch
size, BatchPrep, channels_last), then only `model(x)` under inference_mode, timed.

The images are Fashion-MNIST PNGs imported without labels (new arrivals); the model is the
CPU recipe of bench/common.py (ResNet-18, small stem, width 32, 28 px) with random weights
(throughput does not depend on them), on a run written straight into the database with a
fitted temperature. Rounds alternate bare, app, bare, app ...; the app's first round
includes the worker's first torch import and model load, as a fresh worker's first job
does, and is reported apart. Goal: app / bare >= 0.9 on CPU.

    .venv/bin/python bench/score.py                      # 4,000 images, ~2 min on 2 cores
    .venv/bin/python bench/score.py --images 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scratch_app import scratch_environment, start_worker, wait_ready  # noqa: E402

GOAL = 0.9


def write_arrivals(work: Path, n: int) -> Path:
    """n Fashion-MNIST PNGs (both splits) with an empty category: unlabelled arrivals."""
    from mlcore.datasets import fashion_mnist

    folder = work / "arrivals"
    manifest = fashion_mnist.write_image_folder(folder, limit_per_split=(n + 1) // 2)
    with open(manifest, newline="") as f:
        rows = list(csv.reader(f))[1 : n + 1]
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "product", "category"])
        writer.writerows([[path, product, ""] for path, product, _, _ in rows])
    return manifest


def promoted_run(names: list[str], *, width: int, seed: int = 0):
    """A succeeded run of the bench recipe with a saved model and a fitted temperature,
    promoted for `category` (written straight into the database: no training)."""
    import numpy as np
    import torch
    from django.utils import timezone

    from bench.common import RESNET18_CPU
    from curation.artifacts import models_destination
    from curation.models import Attribute, PromotedModel, TrainingRun
    from mlcore.eval.calibration import calibrate
    from mlcore.models import build_model
    from mlcore.store import save_model

    attribute = Attribute.objects.get(dataset__name="bench", name="category")
    config = replace(RESNET18_CPU, width=width)
    torch.manual_seed(seed)
    model = build_model(config, len(names), load_weights=False)
    dest = models_destination()
    uri = save_model(dest, name="bench-score", model=model, label_names=names, config=config)
    rng = np.random.default_rng(seed)
    held_out = rng.dirichlet(np.full(len(names), 0.3), size=2000)  # (2000, K)
    labels = rng.integers(0, len(names), 2000)
    fitted = calibrate(
        fit_probs=held_out[:1000],
        fit_labels=labels[:1000],
        test_probs=held_out[1000:],
        test_labels=labels[1000:],
    )
    run = TrainingRun.objects.create(
        dataset_id=attribute.dataset_id,
        attribute=attribute,
        config=config.to_dict(),
        label_names=names,
        status=TrainingRun.Status.SUCCEEDED,
        artifact_uri=uri,
        metrics={"calibration": fitted.to_dict()},
        finished_at=timezone.now(),
    )
    PromotedModel.objects.update_or_create(attribute=attribute, defaults={"run": run})
    return run


def decoded_batches(run, image_files: list[str]):
    """The model and the images as the worker's first step makes them: (model, [x])."""
    import torch
    from django.conf import settings

    from curation.storage import item_uri
    from mlcore.data.loaders import eval_loader
    from mlcore.data.transforms import BatchPrep
    from mlcore.models import channels_last_ok, input_stats
    from mlcore.store import load_model

    saved = load_model(run.artifact_uri, device="cpu")
    config = saved.config
    mean, std = input_stats(config.arch)
    prep = BatchPrep(
        mean=mean,
        std=std,
        channels_last=config.channels_last and channels_last_ok(saved.model, torch.device("cpu")),
    )
    loader = eval_loader(
        [(item_uri(key), -1) for key in image_files],
        config=config,
        batch_size=settings.CURATION_SCORE_BATCH_SIZE,
        num_workers=settings.CURATION_SCORE_WORKERS,
    )
    return saved.model, [prep(batch.images) for batch in loader]


def bare_round(model, batches) -> float:
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            model(x)  # (B, K) logits
    return time.perf_counter() - start


def app_round(client, n: int, timeout: float) -> float:
    """Seconds from the POST to the job's row saying succeeded with all n rows stored."""
    from curation.models import ImageScore, ScoringJob

    ImageScore.objects.all().delete()  # each round scores every image again
    start = time.perf_counter()
    answer = client.post(
        "/datasets/bench/attributes/category/scoring/start/", HTTP_HX_REQUEST="true"
    )
    if answer.status_code != 200:
        raise SystemExit(f"Score images answered {answer.status_code}: {answer.content[:500]!r}")
    job = ScoringJob.objects.order_by("-id").first()
    assert job is not None
    while time.perf_counter() - start < timeout:
        job.refresh_from_db()
        if job.status == "succeeded" and ImageScore.objects.count() == n:
            return time.perf_counter() - start
        if job.status in {"failed", "cancelled"}:
            raise SystemExit(f"scoring job {job.pk} {job.status}: {job.error}")
        time.sleep(0.2)
    raise SystemExit(f"the scoring job did not finish in {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per side")
    parser.add_argument(
        "--width", type=int, default=32, help="ResNet base channels (8: the overhead shows)"
    )
    parser.add_argument("--broker", help="Celery broker URL (default: Redis when it answers)")
    parser.add_argument("--workdir", help="keep files here (default: a temp folder)")
    args = parser.parse_args()

    work, broker = scratch_environment(
        args.workdir,
        prefix="bench-score-",
        broker=args.broker,
        redis_db=12,
        CURATION_SCORE_QUEUE="train",
    )
    if broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker).flushdb()  # no job left over from an earlier run
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from curation.models import Image
    from curation.roles import ensure_role_groups
    from curation.services.datasets import create_dataset
    from curation.services.imports import import_catalog
    from mlcore.datasets import fashion_mnist

    call_command("migrate", verbosity=0)
    names = list(fashion_mnist.CLASSES)
    if not Image.objects.filter(dataset__name="bench").exists():
        print(f"writing and importing {args.images} unlabelled Fashion-MNIST images …", flush=True)
        create_dataset(name="bench", attributes={"category": names})
        import_catalog(str(write_arrivals(work, args.images)), dataset_name="bench")
    files = list(Image.objects.filter(dataset__name="bench").order_by("id").values_list("file"))
    n = len(files)
    run = promoted_run(names, width=args.width)
    model, batches = decoded_batches(run, [f for (f,) in files])
    user = User.objects.filter(username="bench-ds").first() or User.objects.create_user("bench-ds")
    user.groups.add(ensure_role_groups()["data_scientist"])
    client = Client()
    client.force_login(user)

    worker = start_worker(work)
    bare, app = [], []
    try:
        wait_ready(work, worker)
        first = app_round(client, n, timeout=1800)  # the worker's first job: imports, load
        for _ in range(args.rounds):
            bare.append(bare_round(model, batches))
            app.append(app_round(client, n, timeout=1800))
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    best_bare, best_app = min(bare), min(app)
    print(f"\nscoring {n} Fashion-MNIST PNGs (28 px), ResNet-18 small stem width {args.width}, CPU")
    print(f"{'':44}{'seconds (best)':>15}{'images/s':>10}")
    print(f"{'bare model(x) over decoded batches':44}{best_bare:>15.2f}{n / best_bare:>10.0f}")
    print(f"{'app: POST Score images -> all rows stored':44}{best_app:>15.2f}{n / best_app:>10.0f}")
    print(f"{'  its first job on a fresh worker':44}{first:>15.2f}{n / first:>10.0f}")
    print(f"\nratio app / bare: {best_bare / best_app:.2f}x  (goal >= {GOAL}x)")
    print(f"rounds: bare {[round(s, 2) for s in bare]}  app {[round(s, 2) for s in app]}")
    print(f"broker {broker.split(':')[0]}; cpus {os.cpu_count()}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
