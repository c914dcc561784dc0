"""Similar dresses, write side: ground-truth boxes, people's triplet judgements, and FAISS
index builds (full, and incremental after an import). Builds run on the cpu queue; the
index file lives in storage, so web processes on other machines load the same one."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from curation.models import (
    Dataset,
    Image,
    ImageBox,
    ImageStatus,
    SimilarityIndex,
    TrainingRun,
    Triplet,
)

log = logging.getLogger(__name__)
EMBED_CHUNK = 256  # images per progress update


class SimilarityError(Exception):
    """A request about boxes, triplets or indexes that can't be done; the message says why."""


# ---- boxes ---------------------------------------------------------------------------------


def save_box(*, image: Image, box: tuple[float, float, float, float], actor) -> ImageBox:
    """Set the image's ground-truth box, (x0, y0, x1, y1) as fractions of width and height."""
    if actor is None or not actor.has_perm("curation.relabel_image"):
        raise PermissionDenied("your role cannot edit boxes (merchandiser or above needed)")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise SimilarityError(
            "a box needs 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1 (fractions of the image); "
            f"got ({x0:.3f}, {y0:.3f}, {x1:.3f}, {y1:.3f})"
        )
    if (x1 - x0) * (image.width or 1) < 2 or (y1 - y0) * (image.height or 1) < 2:
        raise SimilarityError("the box is smaller than 2 pixels; draw it around the whole dress")
    found, _ = ImageBox.objects.update_or_create(
        image=image,
        defaults={
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
            "source": ImageBox.Source.MANUAL,
            "updated_by": actor,
        },
    )
    return found


def import_boxes(*, dataset: Dataset, meta_csv: Path) -> int:
    """Exact boxes from the synthetic generator's meta.csv (pixels) for images already
    imported from the same folder. Returns how many were stored."""
    images = {
        im.source_path: im
        for im in Image.objects.filter(dataset=dataset, status=ImageStatus.OK).only(
            "id", "source_path", "width", "height"
        )
    }
    boxes = []
    with open(meta_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            image = images.get(row["path"])
            if image is None or not image.width or not image.height:
                continue
            w, h = image.width, image.height
            boxes.append(
                ImageBox(
                    image=image,
                    source=ImageBox.Source.SYNTHETIC,
                    x0=int(row["x0"]) / w,
                    y0=int(row["y0"]) / h,
                    x1=int(row["x1"]) / w,
                    y1=int(row["y1"]) / h,
                )
            )
    ImageBox.objects.bulk_create(
        boxes,
        update_conflicts=True,
        unique_fields=["image"],
        update_fields=["x0", "y0", "x1", "y1", "source"],
        batch_size=1000,
    )
    return len(boxes)


# ---- triplets ------------------------------------------------------------------------------


def record_triplet(*, reference: Image, closer: Image, farther: Image, actor) -> Triplet:
    """A person's answer on the triplet page: `closer` looks more like `reference`."""
    if actor is None or not actor.has_perm("curation.review_label"):
        raise PermissionDenied("your role cannot judge look-alikes (merchandiser or above needed)")
    ids = {reference.pk, closer.pk, farther.pk}
    if len(ids) != 3:
        raise SimilarityError("a triplet needs three different images")
    if {reference.dataset_id, closer.dataset_id, farther.dataset_id} != {reference.dataset_id}:
        raise SimilarityError("the three images must come from the same dataset")
    return Triplet.objects.create(
        dataset_id=reference.dataset_id,
        reference=reference,
        closer=closer,
        farther=farther,
        actor=actor,
    )


# ---- index builds --------------------------------------------------------------------------


def start_index_build(
    *, dataset: Dataset, actor, run: TrainingRun | None = None
) -> SimilarityIndex:
    if actor is None or not actor.has_perm("curation.start_training"):
        raise PermissionDenied("your role cannot build indexes (data scientist needed)")
    if run is not None and (
        run.kind != TrainingRun.Kind.SIMILARITY
        or run.status != TrainingRun.Status.SUCCEEDED
        or run.dataset_id != dataset.pk
    ):
        raise SimilarityError(f"run {run.pk} is not a finished similarity run of {dataset.name}")
    row = SimilarityIndex.objects.create(
        dataset=dataset, run=run, embedder="triplet" if run else "pretrained", created_by=actor
    )
    transaction.on_commit(lambda: _enqueue("build", row.pk))
    return row


def _enqueue(what: str, index_id: int, image_ids: list[int] | None = None) -> None:
    from curation import tasks
    from curation.services.training import BROKER_ERRORS

    try:
        if what == "build":
            tasks.build_similarity_index.delay(index_id)
        else:
            tasks.extend_similarity_index.delay(index_id, image_ids)
    except BROKER_ERRORS as exc:
        SimilarityIndex.objects.filter(pk=index_id, status=SimilarityIndex.Status.QUEUED).update(
            status=SimilarityIndex.Status.FAILED,
            finished_at=timezone.now(),
            error=f"the task queue could not be reached ({exc}); build the index again",
        )


def _embedder(row: SimilarityIndex):
    from curation.services.similarity_runs import run_embedder
    from mlcore.similarity import pretrained_embedder

    if row.run is not None:
        return run_embedder(row.run)
    return pretrained_embedder(image_size=settings.CURATION_EMBED_SIZE, device="cpu")


def uris_and_boxes(images: Iterable[Image], localizer=None) -> tuple[list[int], list[str], list]:
    """Ground-truth boxes in pixels; without one, the localizer's box when there is one."""
    from curation.services.training_exec import item_uri

    ids, uris, boxes = [], [], []
    for im in images:
        box = getattr(im, "box", None)
        ids.append(im.pk)
        uris.append(item_uri(im.file))
        boxes.append(box.pixels(im.width, im.height) if box is not None and im.width else None)
    return ids, uris, fill_boxes(localizer, uris, boxes)


def fill_boxes(localizer, uris: list[str], boxes: list) -> list:
    """boxes with each None replaced by the localizer's box of that image (pixels), where it
    finds one; unchanged without a localizer. The index build and the query side both crop
    this way, so a query is embedded like the images it is compared with."""
    from curation.services.training_exec import _s3_options

    missing = [i for i, b in enumerate(boxes) if b is None]
    if localizer is None or not missing:
        return boxes
    from mlcore.similarity import locate

    boxes = list(boxes)
    found = locate(localizer, [uris[i] for i in missing], s3=_s3_options())
    for r, pos in enumerate(found.indices.tolist()):
        boxes[missing[pos]] = tuple(float(v) for v in found.boxes[r])
    return boxes


def _embed_into(row: SimilarityIndex, index, images: list[Image]) -> list[dict]:
    """Embed `images` in chunks (progress on the row) and add them to `index`."""
    import numpy as np

    from curation.services.similarity_runs import run_localizer
    from curation.services.training_exec import _s3_options
    from mlcore.similarity import embed_images

    embedder, localizer = _embedder(row), run_localizer(row.run)
    skipped = []
    for start in range(0, len(images), EMBED_CHUNK):
        chunk = images[start : start + EMBED_CHUNK]
        ids, uris, boxes = uris_and_boxes(chunk, localizer)
        found = embed_images(embedder, uris, boxes=boxes, batch_size=64, s3=_s3_options())
        if len(found.indices):
            index.add(np.asarray(ids)[found.indices], found.vectors)
        skipped += [{"image": ids[pos], "reason": why} for pos, why in found.skipped]
        SimilarityIndex.objects.filter(pk=row.pk).update(done=start + len(chunk))
    return skipped


def _images(dataset_id: int, ids: list[int] | None = None) -> list[Image]:
    qs = Image.objects.filter(dataset_id=dataset_id, status=ImageStatus.OK).exclude(file="")
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return list(qs.select_related("box").order_by("id"))


def _store(row: SimilarityIndex, index) -> str:
    key = f"indexes/{row.dataset.name}/{row.pk}-{len(index)}.faiss"
    default_storage.save(key, ContentFile(index.to_bytes()))
    return key


def build_similarity_index(index_id: int) -> str:
    """The task's body: embed every usable image of the dataset and store the index."""
    from mlcore.similarity import VectorIndex

    row = SimilarityIndex.objects.select_related("dataset", "run").get(pk=index_id)
    if row.status in (SimilarityIndex.Status.READY, SimilarityIndex.Status.FAILED):
        return "already finished"
    images = _images(row.dataset_id)
    SimilarityIndex.objects.filter(pk=row.pk).update(
        status=SimilarityIndex.Status.BUILDING, total=len(images), done=0
    )
    try:
        index = VectorIndex(dim=_embedder(row).dim)
        skipped = _embed_into(row, index, images)
        key = _store(row, index)
    except Exception as exc:  # the row must say why; the worker log has the traceback
        log.exception("index %s failed", index_id)
        SimilarityIndex.objects.filter(pk=row.pk).update(
            status=SimilarityIndex.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        return "failed"
    SimilarityIndex.objects.filter(pk=row.pk).update(
        status=SimilarityIndex.Status.READY,
        artifact=key,
        count=len(index),
        dim=index.dim,
        kind=index.kind,
        skipped=skipped[:200],
        finished_at=timezone.now(),
    )
    return "ready"


def extend_similarity_index(index_id: int, image_ids: list[int] | None = None) -> int:
    """Add images that are not in the ready index yet (new imports). Returns how many."""
    from mlcore.similarity import VectorIndex

    with transaction.atomic():
        row = (
            SimilarityIndex.objects.select_for_update(of=("self",))
            .select_related("dataset", "run")
            .get(pk=index_id)
        )
        if row.status != SimilarityIndex.Status.READY:
            return 0
        with default_storage.open(row.artifact, "rb") as handle:
            index = VectorIndex.from_bytes(handle.read())
        images = [im for im in _images(row.dataset_id, image_ids) if im.pk not in index]
        if not images:
            return 0
        skipped = _embed_into(row, index, images)
        old = row.artifact
        row.artifact = _store(row, index)
        row.count, row.kind, row.skipped = len(index), index.kind, (row.skipped + skipped)[:200]
        row.finished_at = timezone.now()
        row.save(update_fields=["artifact", "count", "kind", "skipped", "finished_at"])
    default_storage.delete(old)
    return len(images)


def queue_index_extension(dataset_id: int, image_ids: list[int] | None = None) -> None:
    """After an import: add new images (default: all the index lacks) to the dataset's
    current index, if it has one."""
    row = (
        SimilarityIndex.objects.filter(dataset_id=dataset_id, status=SimilarityIndex.Status.READY)
        .order_by("-id")
        .first()
    )
    if row is not None:
        transaction.on_commit(lambda: _enqueue("extend", row.pk, image_ids))
