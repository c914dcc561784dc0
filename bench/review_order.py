"""The ranking half of the curation loop: how well a run's review order finds planted label
noise on Fashion-MNIST, for the one-click default and the previous one, side by side.

    .venv/bin/python bench/review_order.py                       # 12,000 / 3,000, 10% noise
    .venv/bin/python bench/review_order.py --train 3000 --test 750   # a quick look

Each recipe goes through mlcore.audit.audit(), the computation a classifier run does on the
worker (fit, test evaluation, cross-fitting, ranking, wrong-label estimate), on the same
noisy labels: 10% of train and test labels corrupted, 70% as realistic confusions (shirt <->
T-shirt, pullover <-> coat ...) and 30% to any other class. It prints, per recipe: wall
time; the fold models' accuracy on the images they held out (against the true labels); the
run's test accuracy as the app reports it (noisy labels) and the true one; precision at k
(k = the number of corrupted labels) and AUROC of the review order; the share of corrupted
labels in the first 5 / 10 / 15% of it; cleanlab's flagged set; and the run's estimate of
wrong labels against the truth. A last column gives the default's figure over the previous
one's. It does not retrain after a review: bench/curation.py runs the whole loop through the
HTTP API and a worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.common import OUT, fashion_mnist_labels, print_side_by_side  # noqa: E402
from curation.services.runs.classifier_start import recipe  # noqa: E402
from mlcore.audit import audit  # noqa: E402
from mlcore.config import TrainConfig  # noqa: E402

# Fashion-MNIST classes a person (or a weak tagger) confuses: T-shirt, trouser, pullover,
# dress, coat, sandal, shirt, sneaker, bag, ankle boot.
CONFUSED = {0: [6, 3], 1: [3], 2: [4, 6], 3: [0, 4], 4: [2, 6], 5: [7], 6: [0, 2, 4]}
CONFUSED |= {7: [5, 9], 8: [], 9: [7, 5]}
PREVIOUS = {"arch": "resnet18"}  # the small-image ResNet-18 recipe: 8 epochs, 3 folds x 2


def corrupt(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    noisy = labels.copy()
    chosen = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    for i in chosen:
        options = CONFUSED[int(labels[i])]
        if options and rng.random() < 0.7:
            noisy[i] = rng.choice(options)
        else:
            noisy[i] = (labels[i] + rng.integers(1, 10)) % 10
    return noisy


def subsample(items: list, n: int, rng: np.random.Generator) -> list:
    keep = np.sort(rng.choice(len(items), min(n, len(items)), replace=False))
    return [items[i] for i in keep]


def measure(name: str, options: dict, train, test, truth, noisy, names, out: Path) -> dict:
    config = TrainConfig.from_dict({**recipe(28, options.get("arch")), **options})
    work = out / name
    shutil.rmtree(work, ignore_errors=True)
    n_train = len(train)
    noisy_items = [(p, int(y)) for (p, _), y in zip(train + test, noisy, strict=True)]
    print(f"{name}: {config.arch}, {config.cv_folds} folds x {config.cv_epochs}", file=sys.stderr)
    start = time.perf_counter()
    found = audit(config, noisy_items[:n_train], noisy_items[n_train:], names, work_dir=work)
    wall = time.perf_counter() - start
    wrong = truth != noisy
    order, quality = found.issues.order, found.issues.quality
    # What the review-outcome estimate is measured on, without training again.
    np.savez(
        work / "audit.npz",
        probs=found.probs,
        given=noisy,
        truth=truth,
        quality=quality,
        order=order,
        is_issue=found.issues.is_issue,
        n_train=n_train,
    )
    k = int(wrong.sum())
    from sklearn.metrics import roc_auc_score

    scored = ~np.isnan(quality)
    predicted = found.probs.argmax(1)
    test_rows = np.arange(n_train, len(truth))
    row = {
        "wall (min)": wall / 60,
        "fold models' accuracy, held-out train": float(
            (predicted[:n_train] == truth[:n_train]).mean()
        ),
        "test accuracy reported (noisy labels)": float(
            (predicted[test_rows] == noisy[test_rows]).mean()
        ),
        "test accuracy true": float((predicted[test_rows] == truth[test_rows]).mean()),
        "precision@k of the review order": float(wrong[order[:k]].mean()),
        "AUROC of the review order": float(roc_auc_score(wrong[scored], -quality[scored])),
        "cleanlab flagged": int(len(found.issues.ranked)),
        "flagged precision": float(wrong[found.issues.ranked].mean()),
        "flagged recall": float(wrong[found.issues.ranked].sum() / k),
        "estimated wrong labels / true": float(
            sum(v.sum() for v in found.wrong_labels.values()) / k
        ),
    }
    for share in (0.05, 0.10, 0.15):
        top = order[: int(share * len(truth))]
        row[f"corrupted found in top {share:.0%}"] = float(wrong[top].sum() / k)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=12_000)
    parser.add_argument("--test", type=int, default=3_000)
    parser.add_argument("--noise", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--recipes", default="previous,default", help="which to run: previous, default or both"
    )
    args = parser.parse_args()
    data = fashion_mnist_labels(args.out)
    rng = np.random.default_rng(args.seed)
    train, test = subsample(data.train, args.train, rng), subsample(data.test, args.test, rng)
    truth = np.array([y for _, y in train + test], dtype=np.int64)
    noisy = corrupt(truth, args.noise, rng)
    names = list(data.label_names)
    recipes = {"previous": PREVIOUS, "default": {}}
    chosen = args.recipes.split(",")
    rows = {
        name: measure(
            name, recipes[name], train, test, truth, noisy, names, args.out / "review-order"
        )
        for name in chosen
    }
    before, after = (rows.get("previous") or rows[chosen[0]]), rows[chosen[-1]]
    print(
        f"\nReview order on Fashion-MNIST, {len(train)} train / {len(test)} test, "
        f"{int((truth != noisy).sum())} labels corrupted ({args.noise:.0%}), seed {args.seed}"
    )
    if len(rows) == 1:  # one recipe: its column alone
        print(f"{'':<42} {chosen[0]:>10}")
        for key, value in after.items():
            print(f"{key:<42} {value:>10.3f}")
        return
    print_side_by_side(before, after, ("previous", "default"))


if __name__ == "__main__":
    main()
