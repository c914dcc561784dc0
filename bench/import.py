"""Import throughput: import_catalog vs a plain Pillow open + verify + thumbnail loop.

Both run over the same Fashion-MNIST PNG files in the same run; the ratio is
import_catalog's images/s over the plain loop's. import_catalog also hashes, checks formats,
stores the original and a thumbnail, computes a perceptual hash and writes the rows, label
and history in the database (SQLite by default, or DATABASE_URL).

    python bench/import.py                      # 10,000 images (5,000 per split)
    python bench/import.py --per-split 60000    # all 70,000 (with the Debian data set)
    python bench/import.py --photos 500         # 1,500 photo-sized JPEGs (1000 px)

On 28 px Fashion-MNIST files the plain loop reads headers only (thumbnail() returns at once
for an image smaller than the thumbnail), so the ratio there compares a header read with a
decode; on photo-sized JPEGs both sides decode, as for a real catalog.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plain_pillow_loop(
    folder: Path, paths: list[str], thumb_px: int, *, decode: bool = False
) -> float:
    """The baseline. Note: for images already smaller than thumb_px, thumbnail() returns
    without decoding, so the plain loop then only reads headers; decode=True adds load()."""
    from PIL import Image

    start = time.perf_counter()
    for rel in paths:
        with Image.open(folder / rel) as im:
            im.verify()
        with Image.open(folder / rel) as im:
            if decode:
                im.load()
            im.thumbnail((thumb_px, thumb_px))
    return time.perf_counter() - start


def write_photos(folder: Path, n_products: int, size: int = 1000) -> Path:
    """Product-photo-like JPEGs: synthetic dresses drawn at `size` px, with sensor-like noise
    so each file holds as many bytes as a real photo (~150-300 KB), 3 photos a product.
    Kept in `folder` between runs. Returns labels.csv."""
    import csv
    import io
    import random

    import numpy as np
    from PIL import Image

    from mlcore.datasets import synthetic_dresses

    manifest = folder / "labels.csv"
    if manifest.exists():
        return manifest
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng, noise = random.Random(0), np.random.default_rng(0)
    rows = []
    for product in range(n_products):
        spec = synthetic_dresses.random_spec(rng)
        for k in range(3):
            image, _ = synthetic_dresses.render(spec, size=size, rng=rng)
            pixels = np.asarray(image, dtype=np.int16) + noise.normal(0, 6, (size, size, 3))
            out = io.BytesIO()
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
            rel = f"images/p{product:05d}-{k}.jpg"
            (folder / rel).write_bytes(out.getvalue())
            rows.append([rel, f"p{product:05d}", *spec.labels.values()])
    with open(manifest.with_suffix(".tmp"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "product", *synthetic_dresses.ATTRIBUTES])
        writer.writerows(rows)
    manifest.with_suffix(".tmp").rename(manifest)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--per-split", type=int, default=5000, help="Fashion-MNIST images per split"
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        metavar="PRODUCTS",
        help="use N synthetic-dress products (128 px, 3 photos each) instead",
    )
    parser.add_argument(
        "--photos",
        type=int,
        metavar="PRODUCTS",
        help="use N products of 3 photo-sized JPEGs (1000 px, ~200 KB, kept in bench/out/)",
    )
    parser.add_argument("--workdir", help="keep files here (default: a temp folder)")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-import-"))
    os.environ.setdefault("VAR_DIR", str(work / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DJANGO_DEBUG"] = "false"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from curation.services import imports
    from curation.services.datasets import create_dataset
    from curation.services.imports import import_catalog
    from mlcore.datasets import fashion_mnist, synthetic_dresses

    call_command("migrate", verbosity=0)
    catalog = work / "catalog"
    if args.photos:
        catalog = ROOT / "bench" / "out" / f"photos-{args.photos}"
        print(f"photo-sized JPEGs in {catalog} (written once) …", flush=True)
        manifest = write_photos(catalog, args.photos)
        create_dataset(
            name="bench", attributes={k: list(v) for k, v in synthetic_dresses.ATTRIBUTES.items()}
        )
        what = f"synthetic dresses as 1000 px JPEG photos, {args.photos * 3} images"
    elif args.synthetic:
        print(f"writing synthetic dresses to {work / 'catalog'} …", flush=True)
        manifest = synthetic_dresses.generate(work / "catalog", n_products=args.synthetic)
        create_dataset(
            name="bench", attributes={k: list(v) for k, v in synthetic_dresses.ATTRIBUTES.items()}
        )
        what = f"synthetic dresses, 128 px PNG, {args.synthetic * 3} images"
    else:
        print(f"writing Fashion-MNIST PNGs to {work / 'catalog'} …", flush=True)
        manifest = fashion_mnist.write_image_folder(
            work / "catalog", limit_per_split=args.per_split
        )
        create_dataset(name="bench", attributes={"category": list(fashion_mnist.CLASSES)})
        what = "Fashion-MNIST, 28 px grey PNG"
    paths = [line.split(",", 1)[0] for line in manifest.read_text().splitlines()[1:]]

    for rel in paths:  # warm the page cache for both sides alike
        (catalog / rel).read_bytes()
    baseline = plain_pillow_loop(catalog, paths, settings.CURATION_THUMBNAIL_PX)
    decoding = plain_pillow_loop(catalog, paths, settings.CURATION_THUMBNAIL_PX, decode=True)
    start = time.perf_counter()
    report = import_catalog(str(manifest), dataset_name="bench")
    ours = time.perf_counter() - start
    assert report.created == len(paths), report.to_dict()
    rerun_start = time.perf_counter()
    again = import_catalog(str(manifest), dataset_name="bench")
    rerun = time.perf_counter() - rerun_start
    assert (again.created, again.updated) == (0, 0)

    n = len(paths)
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"\n{what}")
    print(f"{'':34}{'images':>8}{'seconds':>10}{'images/s':>11}")
    print(f"{'plain Pillow open+verify+thumbnail':34}{n:>8}{baseline:>10.2f}{n / baseline:>11.0f}")
    print(f"{'  same + load() (full decode)':34}{n:>8}{decoding:>10.2f}{n / decoding:>11.0f}")
    print(f"{'import_catalog (' + db + ')':34}{n:>8}{ours:>10.2f}{n / ours:>11.0f}")
    print(f"{'import_catalog rerun (no changes)':34}{n:>8}{rerun:>10.2f}{n / rerun:>11.0f}")
    print(f"\nratio import_catalog / plain loop: {baseline / ours:.2f}x  (goal >= 0.8x)")
    print(f"ratio import_catalog / plain loop with decode: {decoding / ours:.2f}x")
    mode = "processes" if n >= imports.PROCESS_POOL_MIN_ROWS else "threads"
    print(f"import workers: {settings.CURATION_IMPORT_WORKERS} {mode}; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
