"""Demo catalogs, written as files + labels.csv and imported through the normal import path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from curation.models import Dataset
from curation.services.datasets import create_dataset
from curation.services.imports import ImportReport, import_catalog

DEMOS = ("fashion-mnist", "synthetic-dresses")


def load_demo_catalog(
    kind: str,
    *,
    out_dir: Path,
    dataset_name: str | None = None,
    limit_per_split: int | None = None,
    n_products: int = 300,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    if kind == "fashion-mnist":
        from mlcore.datasets import fashion_mnist

        root = fashion_mnist.find_root()
        manifest = fashion_mnist.write_image_folder(out_dir, limit_per_split=limit_per_split)
        name = dataset_name or "fashion-mnist"
        if not Dataset.objects.filter(name=name).exists():
            subset = (
                ""
                if root == fashion_mnist.SYSTEM_ROOT
                else " (the subset shipped in the repository)"
            )
            create_dataset(
                name=name,
                title="Fashion-MNIST",
                description=(
                    "Zalando product photos, 28×28 grey, official train/test split"
                    f"{subset}. MIT licence, © 2017 Zalando SE."
                ),
                attributes={"category": list(fashion_mnist.CLASSES)},
            )
    elif kind == "synthetic-dresses":
        from mlcore.datasets import synthetic_dresses

        manifest = synthetic_dresses.generate(out_dir, n_products=n_products, photos_per_product=3)
        name = dataset_name or "synthetic-dresses"
        if not Dataset.objects.filter(name=name).exists():
            create_dataset(
                name=name,
                title="Synthetic dresses",
                description=(
                    "Procedurally drawn dresses (SYNTHETIC, not photos) with known silhouette, "
                    "neckline, sleeve and occasion labels and known bounding boxes; three photos "
                    "per product."
                ),
                is_synthetic=True,
                attributes={k: list(v) for k, v in synthetic_dresses.ATTRIBUTES.items()},
            )
    else:
        raise ValueError(f"unknown demo '{kind}'; choose one of {', '.join(DEMOS)}")
    report = import_catalog(str(manifest), dataset_name=name, progress=progress)
    if kind == "synthetic-dresses":
        from curation.services.boxes import import_boxes

        import_boxes(dataset=Dataset.objects.get(name=name), meta_csv=manifest.parent / "meta.csv")
    return report
