"""How many wrong labels are left after a review round: the app's three answers side by side,
on a real audit with planted noise.

    .venv/bin/python bench/review_order.py --recipes default     # writes the audit (once)
    .venv/bin/python bench/spot_checks.py                         # then, in seconds

From the audit bench/review_order.py saved (out-of-sample probabilities, label qualities and
the review order of a noisy Fashion-MNIST catalog, with the true labels), a reviewer answers
the first --budget of the review order and then --spots spot checks (a uniform random
sample of all scored images, as curation.queries.review_answers draws them). Against the
number of wrong labels truly left it prints:

- the run's own estimate, what the queue said before spot checks: the confident joint at
  the run (mlcore.eval.issues.estimate_wrong_labels) less the labels fixed;
- the curve alone: P(wrong | quality) fitted on every answer, summed over the rest;
- the spot-check count the app shows (mlcore.eval.review_estimate.spot_check_count, five
  bands of the review order), with its 95% interval;

each over --draws different spot-check samples: the median ratio to the truth, how often it
falls within a factor of 2, and how often the interval holds the truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import OUT  # noqa: E402
from mlcore.eval.issues import estimate_wrong_labels  # noqa: E402
from mlcore.eval.review_estimate import fit_review_outcomes, spot_check_count  # noqa: E402

BANDS = 5  # as curation.queries.review_answers.STRATA


def one_round(audit, *, budget: float, spots: int, seed: int) -> dict[str, float]:
    quality, order, wrong = audit["quality"], audit["order"], audit["given"] != audit["truth"]
    n = len(order)  # scored rows, lowest quality first
    band = np.empty(len(quality), dtype=np.int64)
    band[order] = np.arange(n) * BANDS // n
    top = order[: int(budget * len(quality))]
    sample = np.random.default_rng(seed).choice(order, min(spots, n), replace=False)
    answered = np.union1d(top, sample)
    open_rows = np.setdiff1d(order, answered)
    truth = int(wrong[open_rows].sum())
    fit = fit_review_outcomes(quality[answered], wrong[answered])
    p = fit.p_wrong(quality) if fit is not None else np.zeros(len(quality))
    count = spot_check_count(p[open_rows], band[open_rows], p[sample], wrong[sample], band[sample])
    at_run = estimate_wrong_labels(audit["given"], audit["probs"]).sum()
    return {
        "truth": truth,
        "run's own estimate": max(0.0, at_run - wrong[answered].sum()),
        "curve alone": float(p[open_rows].sum()),
        "spot-check count": count.expected,
        "low": count.low,
        "high": count.high,
        "looks": len(answered),
        "fixed": int(wrong[answered].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audit", type=Path, default=OUT / "review-order/default/audit.npz")
    parser.add_argument("--budget", type=float, default=0.10, help="share of the order answered")
    parser.add_argument("--spots", type=int, default=400)
    parser.add_argument("--draws", type=int, default=20, help="spot-check samples tried")
    args = parser.parse_args()
    if not args.audit.exists():
        raise SystemExit(f"{args.audit} is missing: run bench/review_order.py first")
    audit = dict(np.load(args.audit))
    rounds = [
        one_round(audit, budget=args.budget, spots=args.spots, seed=s) for s in range(args.draws)
    ]
    first = rounds[0]
    print(
        f"\nWrong labels left after answering the first {args.budget:.0%} of the review order "
        f"and {args.spots} spot checks ({first['looks']} looks, {first['fixed']} fixed), "
        f"{len(audit['quality'])} images, {args.draws} spot-check samples"
    )
    print(f"{'':<22} {'median':>8} {'truth':>7} {'ratio':>7} {'within x2':>10} {'in 95%':>7}")
    for key in ("run's own estimate", "curve alone", "spot-check count"):
        ratios = np.array([r[key] / r["truth"] for r in rounds])
        within = np.mean((ratios >= 0.5) & (ratios <= 2))
        covered = (
            f"{np.mean([r['low'] <= r['truth'] <= r['high'] for r in rounds]):>7.0%}"
            if key == "spot-check count"
            else f"{'':>7}"
        )
        print(
            f"{key:<22} {np.median([r[key] for r in rounds]):>8.0f} "
            f"{np.median([r['truth'] for r in rounds]):>7.0f} {np.median(ratios):>7.2f} "
            f"{within:>10.0%} {covered}"
        )
    widths = [r["high"] - r["low"] for r in rounds]
    print(f"spot-check interval width: median {np.median(widths):.0f} labels")


if __name__ == "__main__":
    main()
