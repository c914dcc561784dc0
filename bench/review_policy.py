"""What a review round buys under two review orders, side by side, on a real audit with
planted noise: every image by label quality (the order before), and the flagged test images
first, then the rest by label quality (the order a run writes now).

    .venv/bin/python bench/review_order.py --recipes default     # writes the audit (once)
    .venv/bin/python bench/review_policy.py                       # then, in seconds

From the audit bench/review_order.py saved (the run's test predictions, the out-of-sample
label qualities, cleanlab's flagged rows and the true labels of a noisy Fashion-MNIST
catalog), a reviewer fixes every wrong label in the first 5 / 10 / 15% of each order. Per
budget and order it prints the share of the corrupted labels fixed (train and test), the
wrong test labels left, and the run's test accuracy as the app would then report it (against
the labels after the fixes) minus the true one (against the uncorrupted labels): the gap
people decide on. The last column is the new order's figure over the old one's.

It does not retrain: the model is the run's, so the gap is what the fixes to the test labels
alone close (bench/curation.py runs the whole loop through the app).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import OUT, print_side_by_side  # noqa: E402

BUDGETS = (0.05, 0.10, 0.15)


def orders(audit) -> dict[str, np.ndarray]:
    """The two review orders over the scored rows: (V,) int64 each."""
    quality, is_issue = audit["quality"], audit["is_issue"]
    rows = np.flatnonzero(~np.isnan(quality))
    by_quality = rows[np.lexsort((rows, quality[rows]))]
    lead = (by_quality >= int(audit["n_train"])) & is_issue[by_quality]
    return {
        "by quality": by_quality,
        "test flagged first": np.concatenate([by_quality[lead], by_quality[~lead]]),
    }


def after_review(audit, order: np.ndarray, budget: float) -> dict[str, float]:
    given, truth, n_train = audit["given"], audit["truth"], int(audit["n_train"])
    wrong = given != truth
    fixed = given.copy()
    top = order[: int(budget * len(given))]
    fixed[top] = truth[top]  # the reviewer fixes every wrong label it looks at
    test = np.arange(n_train, len(given))
    predicted = audit["probs"][test].argmax(1)
    left = fixed != truth
    return {
        "corrupted fixed, all": float(1 - left.sum() / wrong.sum()),
        "corrupted fixed, train": float(1 - left[:n_train].sum() / wrong[:n_train].sum()),
        "corrupted fixed, test": float(1 - left[test].sum() / wrong[test].sum()),
        "wrong test labels left": float(left[test].sum()),
        "reported - true test accuracy (pts)": float(
            100 * ((predicted == fixed[test]).mean() - (predicted == truth[test]).mean())
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--audit", type=Path, default=OUT / "review-order" / "default" / "audit.npz"
    )
    args = parser.parse_args()
    if not args.audit.exists():
        sys.exit(f"no audit at {args.audit}: run bench/review_order.py --recipes default first")
    audit = np.load(args.audit)
    if "is_issue" not in audit:
        sys.exit(f"{args.audit} has no flagged rows (is_issue): run bench/review_order.py again")
    given, truth, n_train = audit["given"], audit["truth"], int(audit["n_train"])
    wrong = given != truth
    print(
        f"Review orders on {args.audit}: {n_train} train / {len(given) - n_train} test, "
        f"{int(wrong.sum())} labels corrupted ({int(wrong[n_train:].sum())} on test), "
        f"{int(audit['is_issue'][n_train:].sum())} test images flagged"
    )
    before, after = orders(audit).values()
    for budget in BUDGETS:
        old, new = after_review(audit, before, budget), after_review(audit, after, budget)
        print(f"\nafter the first {budget:.0%} ({int(budget * len(given))} looks)")
        print_side_by_side(old, new, ("by quality", "test first"))


if __name__ == "__main__":
    main()
