"""FAISS index builds, full and incremental after an import. Builds run on the cpu queue;
the index file lives in storage, so web processes on other machines load the same one."""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from curation import roles
from curation.artifacts import index_embedder, run_localizer, uris_and_boxes
from curation.models import Dataset, Image, ImageStatus, SimilarityIndex, TrainingRun
from curation.services import queue
from curation.services.job_rows import mark_unqueued, run_build
from curation.storage import s3_options

EMBED_CHUNK = 256  # images per progress update
BUILD = "curation.build_similarity_index"
EXTEND = "curation.extend_similarity_index"


class SimilarityError(Exception):
    """A request about boxes, triplets or indexes that can't be done; the message says why."""


def start_index_build(
    *, dataset: Dataset, actor, run: TrainingRun | None = None
) -> SimilarityIndex:
    roles.check(actor, "build_index")
    if run is not None and (
        run.kind != TrainingRun.Kind.SIMILARITY
        or run.status != TrainingRun.Status.SUCCEEDED
        or run.dataset_id != dataset.pk
    ):
        raise SimilarityError(f"run {run.pk} is not a finished similarity run of {dataset.name}")
    row = SimilarityIndex.objects.create(
        dataset=dataset, run=run, embedder="triplet" if run else "pretrained", created_by=actor
    )
    enqueue_index_task(BUILD, row.pk)
    return row


def fail_unqueued(index_id: int, exc: Exception) -> None:
    """The broker was down: the build fails at once with a reason (cheap to start again)."""
    queued = SimilarityIndex.objects.filter(pk=index_id, status=SimilarityIndex.Status.QUEUED)
    mark_unqueued(queued, SimilarityIndex.Status.FAILED, exc, again="build the index again")


def enqueue_index_task(task: str, index_id: int, image_ids: list[int] | None = None) -> None:
    """Queue curation.build_similarity_index or curation.extend_similarity_index on commit."""
    args = [] if task == BUILD else [image_ids]
    queue.enqueue(task, index_id, queue=queue.CPU, on_broker_error=fail_unqueued, args=args)


def _embed_into(row: SimilarityIndex, index, images: list[Image]) -> list[dict]:
    """Embed `images` in chunks (progress on the row) and add them to `index`."""
    import numpy as np

    from mlcore.similarity import embed_images

    embedder, localizer = index_embedder(row), run_localizer(row.run)
    skipped = []
    for start in range(0, len(images), EMBED_CHUNK):
        chunk = images[start : start + EMBED_CHUNK]
        ids, uris, boxes = uris_and_boxes(chunk, localizer)
        found = embed_images(embedder, uris, boxes=boxes, batch_size=64, s3=s3_options())
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
    row = SimilarityIndex.objects.select_related("dataset", "run").get(pk=index_id)
    if row.status in (SimilarityIndex.Status.READY, SimilarityIndex.Status.FAILED):
        return "already finished"
    images = _images(row.dataset_id)
    SimilarityIndex.objects.filter(pk=row.pk).update(
        status=SimilarityIndex.Status.BUILDING, total=len(images), done=0
    )
    return run_build(row, lambda: _build(row, images))


def _build(row: SimilarityIndex, images: list[Image]) -> dict[str, Any]:
    """A new index of the images' embeddings, stored; the fields its ready row gets."""
    from mlcore.similarity import VectorIndex

    index = VectorIndex(dim=index_embedder(row).dim)
    skipped = _embed_into(row, index, images)
    key = _store(row, index)
    return {
        "artifact": key,
        "count": len(index),
        "dim": index.dim,
        "kind": index.kind,
        "skipped": skipped[:200],
    }


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
        enqueue_index_task(EXTEND, row.pk, image_ids)
