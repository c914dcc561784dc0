"""Similar-item search: HNSW latency and recall at catalog scale, and embedding quality.

    nice -n 10 .venv/bin/python bench/similarity.py                    # 1,000,000 x 128-d
    nice -n 10 .venv/bin/python bench/similarity.py --n 100000         # a quick look
    nice -n 10 .venv/bin/python bench/similarity.py --quality          # embeddings instead

Index: n seeded float32 vectors in `--clusters` Gaussian clusters on the unit sphere (the
shape of real embeddings: many tight groups of look-alikes), indexed by the product's
mlcore.similarity.VectorIndex: HNSW (inner product), built with every core, and an exact
IndexFlatIP for comparison. --queries fresh vectors from the same clusters are searched one
at a time with one FAISS thread, as each gunicorn worker would (omp_set_num_threads(1)),
for every --ef-search; recall@10 is against the exact top 10. A last row times the whole
differs_search path (label mask, loose-filter over-fetch, re-rank) with a 4-valued label.
Goal: p95 < 5 ms at recall@10 >= 0.95.

--quality: trains the localizer and a triplet net (both on pretrained EfficientNet-Lite0)
on synthetic look-alike dresses (mlcore.similarity.evaluate.render_lookalikes) and compares
unsupervised and triplet embeddings on held-out products: triplet accuracy, recall@1/10,
"differs in X" precision@10 and how often the product's own X-variant is found.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlcore.similarity import (  # noqa: E402
    IndexConfig,
    LabelTable,
    LocalizeConfig,
    TripletConfig,
    VectorIndex,
    differs_search,
    embed_images,
    evaluate_boxes,
    fit_localizer,
    fit_triplets,
    locate,
    pretrained_embedder,
)
from mlcore.similarity.evaluate import evaluate_lookalikes, render_lookalikes  # noqa: E402
from mlcore.similarity.triplets import (  # noqa: E402
    attribute_triplets,
    flip_triplets,
    group_triplets,
)


def clustered(rng: np.random.Generator, centres: np.ndarray, n: int, spread: float) -> np.ndarray:
    """(n, D) float32 unit vectors: a random centre plus Gaussian noise, normalised."""
    out = np.empty((n, centres.shape[1]), np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        x = centres[rng.integers(0, centres.shape[0], hi - lo)]
        x += spread * rng.standard_normal(x.shape, dtype=np.float32)
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(
    search: Callable[[Any], np.ndarray], queries: Sequence[Any]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(latencies in ms (Q,), results) of search(q) for each query row, one at a time."""
    times, found = np.empty(len(queries)), []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        found.append(search(q))
        times[i] = (time.perf_counter() - t0) * 1e3
    return times, found


def recall10(found: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    return float(
        np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth, strict=True)])
    )


def index_bench(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.clusters, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    t0 = time.perf_counter()
    base = clustered(rng, centres, args.n, args.spread)
    queries = clustered(rng, centres, args.queries, args.spread)
    ids = np.arange(args.n, dtype=np.int64) * 3 + 1  # ids are not row numbers
    print(
        f"data: {args.n:,} x {args.dim} in {args.clusters} clusters "
        f"({time.perf_counter() - t0:.1f} s)"
    )

    cores = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(cores)
    config = IndexConfig(
        hnsw_threshold=min(50_000, args.n),
        hnsw_m=args.m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search[0],
    )
    t0 = time.perf_counter()
    hnsw = VectorIndex(args.dim, config)
    hnsw.add(ids, base)
    build_s = time.perf_counter() - t0
    print(f"HNSW built in {build_s:.1f} s with {cores} FAISS threads ({hnsw.kind})")
    t0 = time.perf_counter()
    flat = VectorIndex(args.dim, IndexConfig(hnsw_threshold=args.n + 1))
    flat.add(ids, base)
    flat_build_s = time.perf_counter() - t0
    truth, _ = flat.search_many(queries, 10)  # batched, all cores
    labels = rng.integers(0, 4, args.n)  # a 4-valued attribute for the differs-in row
    table = LabelTable(ids, labels[:, None], ("colour",))
    del base

    faiss.omp_set_num_threads(args.threads)  # a web worker: one query, one thread
    rows = []
    n_flat = min(args.queries, args.flat_queries)
    ms, found = timed(lambda q: flat.search(q, 10).ids, queries[:n_flat])
    rows.append(("flat (exact)", "-", flat_build_s, ms, recall10(found, truth[:n_flat])))
    for ef in args.ef_search:
        hnsw.config.ef_search = ef
        ms, found = timed(lambda q: hnsw.search(q, 10).ids, queries)
        rows.append(
            (
                "hnsw",
                f"M={args.m} efC={args.ef_construction} ef={ef}",
                build_s,
                ms,
                recall10(found, truth),
            )
        )

    # "Similar but another colour": the whole product path, against the same on flat.
    hnsw.config.ef_search = args.ef_search[0]
    q_labels = rng.integers(0, 4, n_flat)
    pairs = list(zip(queries[:n_flat], q_labels.tolist(), strict=True))
    exact = [differs_search(flat, q, [c], table, 0, k=10).ids for q, c in pairs]
    ms, found = timed(lambda qc: differs_search(hnsw, qc[0], [qc[1]], table, 0, k=10).ids, pairs)
    rows.append(
        (
            "hnsw differs_search",
            f"ef={args.ef_search[0]} pool=100, 3/4 allowed",
            build_s,
            ms,
            recall10(found, exact),
        )
    )

    print(
        f"\n{args.n:,} x {args.dim}-d, single queries, {args.threads} FAISS thread(s); "
        "recall@10 vs exact"
    )
    print(
        f"{'index':<22} {'parameters':<34} {'build s':>8} {'queries':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10}"
    )
    for name, params, build, ms, rec in rows:
        print(
            f"{name:<22} {params:<34} {build:>8.1f} {len(ms):>8} "
            f"{np.percentile(ms, 50):>8.3f} {np.percentile(ms, 95):>8.3f} {rec:>10.4f}"
        )


def quality_bench(args: argparse.Namespace) -> None:
    out = ROOT / "bench" / "out" / "similarity"
    t0 = time.perf_counter()
    train = render_lookalikes(out / "train", n_products=args.products, size=64, seed=1)
    test = render_lookalikes(out / "test", n_products=args.products // 2, size=64, seed=2)
    print(
        f"rendered {len(train.paths)} training and {len(test.paths)} held-out photos "
        f"({time.perf_counter() - t0:.0f} s)"
    )

    t0 = time.perf_counter()
    loc_config = LocalizeConfig(
        image_size=64, source_size=64, epochs=args.loc_epochs, lr=2e-3, progress_every=50
    )
    items = [(p, tuple(b)) for p, b in zip(train.paths, train.boxes, strict=True)]
    localizer = fit_localizer(loc_config, items, out_dir=out / "localizer", resume=False).model
    train_boxes = locate(localizer, train.paths).boxes
    found = locate(localizer, test.paths)
    whole = np.tile(np.array([0, 0, 64, 64], np.float32), (len(test.paths), 1))
    ours, base = evaluate_boxes(found.boxes, test.boxes), evaluate_boxes(whole, test.boxes)
    print(
        f"localizer ({time.perf_counter() - t0:.0f} s): mean IoU {ours.mean_iou:.3f} "
        f"(whole image {base.mean_iou:.3f}), "
        f"IoU>=0.5 {ours.share_iou50:.1%} ({base.share_iou50:.1%})"
    )
    test_boxes = [tuple(b) for b in found.boxes]

    rows = []
    unsupervised = pretrained_embedder(image_size=64)
    for name, boxes in (("whole image", None), ("localized crop", test_boxes)):
        t0 = time.perf_counter()
        v = embed_images(unsupervised, test.paths, boxes=boxes).vectors
        rows.append(
            (
                f"unsupervised Lite0, {name}",
                v.shape[1],
                evaluate_lookalikes(v, test),
                time.perf_counter() - t0,
            )
        )

    n = len(train.paths)
    sources = {
        "group": lambda: group_triplets(train.groups, per_item=2, seed=1),
        "attribute": lambda: attribute_triplets(train.labels, seed=2),
        "flip": lambda: flip_triplets(n, seed=3),
    }
    triplets = np.concatenate([sources[name]() for name in args.triplets])
    config = TripletConfig(image_size=64, epochs=args.epochs, lr=args.lr, progress_every=50)
    t0 = time.perf_counter()
    result = fit_triplets(
        config,
        train.paths,
        triplets,
        out_dir=out / "triplet",
        resume=False,
        boxes=[tuple(b) for b in train_boxes],
    )
    train_s = time.perf_counter() - t0
    v = embed_images(result.embedder, test.paths, boxes=test_boxes).vectors
    rows.append(
        (
            f"triplet net ({'+'.join(args.triplets)}), crop",
            v.shape[1],
            evaluate_lookalikes(v, test),
            train_s,
        )
    )
    print(
        f"triplet net: {len(triplets)} triplets ({'+'.join(args.triplets)}) "
        f"x {args.epochs} epochs, lr {args.lr:g}, "
        f"loss {' '.join(f'{h.loss:.3f}' for h in result.history)}"
    )

    print(f"\n{args.products // 2} held-out products x 6 photos; queries = base photos; k = 10")
    print(
        f"{'embedding':<44} {'dim':>5} {'triplet acc':>11} {'recall@1':>9} "
        f"{'recall@10':>10} {'differs P@10':>13} {'variant hit@10':>15} {'s':>6}"
    )
    for name, dim, s, secs in rows:
        print(
            f"{name:<44} {dim:>5} {s.triplet_accuracy:>11.3f} {s.recall_at_1:>9.3f} "
            f"{s.recall_at_10:>10.3f} {s.differs_precision:>13.3f} {s.variant_hit:>15.3f} "
            f"{secs:>6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="indexed vectors")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=0.06, help="noise std per dimension")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--flat-queries", type=int, default=200, help="exact search is slow")
    parser.add_argument("--m", type=int, default=IndexConfig.hnsw_m)
    parser.add_argument("--ef-construction", type=int, default=IndexConfig.ef_construction)
    parser.add_argument(
        "--ef-search", type=int, nargs="+", default=[IndexConfig.ef_search, 64, 256]
    )
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads while querying")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true", help="embedding quality instead")
    parser.add_argument("--products", type=int, default=150, help="--quality: training products")
    parser.add_argument("--epochs", type=int, default=3, help="--quality: triplet-net epochs")
    parser.add_argument("--lr", type=float, default=TripletConfig.lr, help="--quality: triplet net")
    parser.add_argument(
        "--triplets",
        nargs="+",
        default=["group", "flip"],
        choices=["group", "attribute", "flip"],
        help="--quality: triplet sources",
    )
    parser.add_argument("--loc-epochs", type=int, default=6, help="--quality: localizer epochs")
    # On a shared 2-core box one torch thread trains Lite0 ~6x faster than two: with other
    # processes running, OpenMP threads spend their time waiting on each other.
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    print(
        f"torch {torch.__version__}, faiss {faiss.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )
    if args.quality:
        quality_bench(args)
    else:
        index_bench(args)


if __name__ == "__main__":
    main()
