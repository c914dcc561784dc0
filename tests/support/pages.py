"""The app's main pages over one small catalog with a finished run, for the tests that look at
every page at once (the Content-Security-Policy ones)."""

from __future__ import annotations

import re
from dataclasses import asdict

from curation.models import Dataset, Image, ImportJob
from mlcore.config import TrainConfig
from tests.support.runs import finished_run

# What the policy (style-src/script-src 'self') refuses in markup. A <script> with a src, or a
# data block (type="application/json", never run), is allowed.
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=""", re.IGNORECASE)
HANDLER_ATTRIBUTE = re.compile(r"""<[^>]*\son[a-z]+\s*=""", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
DATA_BLOCK = re.compile(r"""\btype\s*=\s*["']application/(ld\+)?json["']""", re.IGNORECASE)


def inline_scripts(html: str) -> list[str]:
    """The <script> tags of html that would run inline code: no src, not a data block."""
    return [
        m.group(0)
        for m in SCRIPT_TAG.finditer(html)
        if not re.search(r"\bsrc\s*=", m.group(1)) and not DATA_BLOCK.search(m.group(1))
    ]


def refused_markup(html: str) -> list[str]:
    """Each piece of html the page's policy refuses: style attributes, on...= handlers,
    inline scripts (a few characters around each, to find it)."""
    found = [html[max(0, m.start() - 60) : m.end() + 40] for m in STYLE_ATTRIBUTE.finditer(html)]
    found += [m.group(0)[-120:] for m in HANDLER_ATTRIBUTE.finditer(html)]
    return found + inline_scripts(html)


def catalog_zip_job(dataset: Dataset, *, actor, status: str, done: int) -> ImportJob:
    """An import job of a 6-image catalog.zip into dataset, by actor: `done` images so far."""
    return ImportJob.objects.create(
        dataset_name=dataset.name,
        source="catalog.zip",
        status=status,
        done=done,
        total=6,
        created_by=actor,
    )


def main_pages(dataset: Dataset, *, actor) -> dict[str, str]:
    """{name: path} of the main pages of dataset (the `imported` fixture's "dresses"), after
    giving its neckline attribute a finished run with two mistakes and an ended import job."""
    neckline = dataset.attributes.get(name="neckline")
    ids = list(Image.objects.filter(dataset=dataset).order_by("id").values_list("id", flat=True))
    run = finished_run(neckline, wrong={ids[0], ids[-1]}, actor=actor)
    run.config = asdict(TrainConfig())  # what the run page shows of a real run
    run.save(update_fields=["config"])
    job = catalog_zip_job(dataset, actor=actor, status=ImportJob.Status.SUCCEEDED, done=6)
    d = f"/datasets/{dataset.name}"
    a = f"{d}/attributes/{neckline.name}"
    return {
        "dataset list": "/",
        "dataset page": f"{d}/",
        "gallery": f"{a}/gallery/",
        "image page": f"/images/{ids[0]}/",
        "quality dashboard": f"{a}/quality/",
        "compare": f"{a}/compare/",
        "run list": "/runs/",
        "run page": f"/runs/{run.pk}/",
        "retrain": f"{a}/retrain/",
        "review queue": f"{a}/review/",
        "guide": f"{a}/guide/",
        "arrivals": f"{a}/arrivals/",
        "similarity": f"{d}/similarity/",
        "similar images": f"/images/{ids[0]}/similar/",
        "triplets": f"{d}/triplets/",
        "boxes missing": f"{d}/boxes/",
        "box editor": f"/images/{ids[0]}/box/",
        "history": f"{d}/history/",
        "import": "/import/",
        "import job": f"/import/{job.pk}/",
        "classify": f"{d}/classify/",
        "auto-accept": f"{a}/auto-accept/",
        "data health": f"{d}/health/",
    }
