"""Fashion-MNIST test accuracy and macro-F1 of mlcore's fit(), with wall time.

    .venv/bin/python bench/quality.py                      # both models, full data
    .venv/bin/python bench/quality.py --arch resnet18 --epochs 1 --limit 5000   # quick look
    .venv/bin/python bench/quality.py --issues 6000        # label-issue methods instead

Goal: >= 93% test accuracy. The images go through the real path: PNG files written once to
bench/out/fashion-mnist by mlcore.datasets.fashion_mnist, a labels CSV, the decoded uint8
cache, fit(), evaluation on the official 10,000 test images.

--issues N: flips 10% of N training labels and compares the two out-of-sample methods,
cv_method="kfold" (fresh model per fold) and "linear_probe" (frozen pretrained Lite0
features + k-fold logistic regression): recall and precision of the flagged sets against
the flips, the agreement (Jaccard) of the two flagged sets, and the wall time of each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import FASHION_MNIST_CPU, OUT, RESNET18_CPU, fashion_mnist_labels  # noqa: E402
from mlcore.config import TrainConfig  # noqa: E402
from mlcore.train import fit  # noqa: E402

# What fits a 2-core CPU (bench.common): 28-px inputs, a ResNet-18 at half width with a small
# stem, and Lite0 at 32 px with a stride-1 stem (its feature maps then match a 64-px input).
PRESETS: dict[str, TrainConfig] = {
    "resnet18": replace(
        RESNET18_CPU,
        epochs=10,
        weight_decay=5e-4,
        warmup_epochs=0.5,
        label_smoothing=0.1,
        progress_every=50,
    ),
    "efficientnet_lite0": replace(
        FASHION_MNIST_CPU,
        arch="efficientnet_lite0",
        pretrained=True,
        image_size=32,
        small_stem=True,
        epochs=3,
        batch_size=128,
        optimizer="adamw",
        lr=2e-3,
        weight_decay=0.02,
        warmup_epochs=0.3,
        label_smoothing=0.1,
        progress_every=50,
    ),
}


def subsample(items: list, limit: int | None, seed: int = 0) -> list:
    if limit is None or limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
    return [items[i] for i in keep]


def report(p) -> None:  # TrainProgress
    if p.step == p.steps or p.step % 100 == 0:
        print(
            f"  epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {p.loss:.3f} "
            f"{p.images_per_s:.0f} img/s eta {p.eta_s / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )


def quality(args: argparse.Namespace) -> None:
    data = fashion_mnist_labels(args.out)
    train, test = subsample(data.train, args.limit), subsample(data.test, args.test_limit)
    rows = []
    for arch in args.arch:
        config = PRESETS[arch]
        if args.epochs:
            config = replace(config, epochs=args.epochs)
        print(f"{arch}: {len(train)} train / {len(test)} test images", file=sys.stderr)
        start = time.perf_counter()
        result = fit(
            config,
            train,
            data.label_names,
            out_dir=args.out / "quality" / arch,
            eval_items=test,
            progress=report,
            resume=False,
        )
        wall = time.perf_counter() - start
        assert result.metrics is not None
        train_s = sum(h.seconds for h in result.history)
        print(
            f"  {arch}: test accuracy {result.metrics.accuracy:.2%}, macro-F1 "
            f"{result.metrics.macro_f1:.4f}, {wall / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )
        rows.append(
            (
                arch,
                config,
                result.metrics.accuracy,
                result.metrics.macro_f1,
                wall,
                len(train) * config.epochs / train_s,
            )
        )
    print(
        f"\nFashion-MNIST, {len(train)} train / {len(test)} test images, "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    )
    print(f"{'model':<48} {'epochs':>6} {'test acc':>9} {'macro-F1':>9} {'wall':>9} {'img/s':>7}")
    for arch, config, acc, f1, wall, speed in rows:
        what = (
            f"{arch} {config.image_size}px"
            + (f" width {config.width}" if arch.startswith("resnet") else " pretrained")
            + (" small-stem" if config.small_stem else "")
        )
        print(
            f"{what:<48} {config.epochs:>6} {acc:>9.2%} {f1:>9.4f} {wall / 60:>7.1f} m "
            f"{speed:>7.0f}"
        )


def issues(args: argparse.Namespace) -> None:
    from mlcore.eval.crossval import out_of_sample_probs
    from mlcore.eval.issues import rank_label_issues

    data = fashion_mnist_labels(args.out)
    items = subsample(data.train, args.issues)
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(items), len(items) // 10, replace=False)
    noisy = list(items)
    for i in flipped:
        path, label = items[i]
        noisy[i] = (path, int((label + rng.integers(1, 10)) % 10))
    labels = np.array([y for _, y in noisy])
    truth = set(flipped.tolist())
    methods = {
        "kfold resnet18": replace(PRESETS["resnet18"], epochs=args.epochs or 4),
        "linear_probe lite0": replace(PRESETS["efficientnet_lite0"], cv_method="linear_probe"),
    }
    flagged, rows = {}, []
    for name, config in methods.items():
        config = replace(config, cv_folds=5)
        work = args.out / "issues" / name.replace(" ", "-")
        shutil.rmtree(work, ignore_errors=True)  # fold checkpoints of an earlier run
        start = time.perf_counter()
        oos = out_of_sample_probs(
            config,
            noisy,
            data.label_names,
            work_dir=work,
            progress=lambda f, n, p: report(p),
        )
        wall = time.perf_counter() - start
        found = set(rank_label_issues(labels, oos.probs).ranked.tolist())
        flagged[name] = found
        hits = len(found & truth)
        oos_acc = (oos.probs.argmax(1) == np.array([y for _, y in items])).mean()
        rows.append((name, len(found), hits / len(truth), hits / max(len(found), 1), oos_acc, wall))
    a, b = flagged.values()
    print(
        f"\nLabel issues on {len(items)} Fashion-MNIST train images, {len(truth)} flipped, 5 folds"
    )
    print(
        f"{'method':<22} {'flagged':>8} {'recall':>7} {'precision':>9} {'oos acc':>8} {'wall':>8}"
    )
    for name, n, recall, precision, acc, wall in rows:
        print(f"{name:<22} {n:>8} {recall:>7.1%} {precision:>9.1%} {acc:>8.1%} {wall / 60:>6.1f} m")
    print(f"agreement of the flagged sets (Jaccard): {len(a & b) / max(len(a | b), 1):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--epochs", type=int, help="override each preset's epochs")
    parser.add_argument("--limit", type=int, help="train images (default: all 60,000)")
    parser.add_argument("--test-limit", type=int, help="test images (default: all 10,000)")
    parser.add_argument("--issues", type=int, metavar="N", help="compare label-issue methods")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.issues:
        issues(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
