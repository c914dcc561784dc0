"""Image-quality scans: CleanVision over a dataset's usable images, on the cpu queue.

A scan streams: image ids and storage keys are read CHUNK at a time (keyset on id), each
chunk is decoded small and scored by Imagelab (mlcore.eval.image_quality), and only what a
chunk flags is kept, with every image's id and size (24 bytes an image) for the odd-size
check, which compares each image with the whole catalog. The findings are written in one
transaction at the end, replacing the dataset's previous ones: a scan that fails leaves the
last good findings as they were and nothing of its own.

Grayscale is an issue only in a colour catalog: when fewer than half of the readable images
are grey (QualityScan.colour_catalog). In a grey catalog (Fashion-MNIST) every image is
grey by design and none is flagged for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from curation import roles
from curation.models import Dataset, Image, ImageStatus, QualityFinding, QualityScan
from curation.services import queue
from curation.services.job_rows import error_text, mark_unqueued
from curation.storage import item_uri, s3_options

log = logging.getLogger(__name__)
SCAN = "curation.scan_image_quality"
CHUNK = 256  # images per Imagelab call and per progress update
MAX_SIDE = 256  # decode size: CleanVision's blur check runs at 64 px anyway
STALE_AFTER = timedelta(minutes=10)  # a running scan with no progress this long is dead
GREY_CATALOG_SHARE = 0.5  # from this share of grey images on, grayscale is no issue
WRITE_BATCH = 2000


def start_quality_scan(*, dataset: Dataset, actor) -> QualityScan:
    """Queue a scan of `dataset` (data scientists). A scan already queued or running is
    returned instead of a second one, unless its worker has stopped making progress."""
    roles.check(actor, "scan_images")
    with transaction.atomic():
        active = (
            QualityScan.objects.select_for_update()
            .filter(dataset=dataset, status__in=QualityScan.ACTIVE)
            .order_by("-id")
            .first()
        )
        if active is not None and not _stale(active):
            return active
        if active is not None:
            _fail(active.pk, "the worker stopped making progress; this scan was given up")
        scan = QualityScan.objects.create(dataset=dataset, created_by=actor)
        queue.enqueue(SCAN, scan.pk, queue=queue.CPU, on_broker_error=fail_unqueued)
    return scan


def _stale(scan: QualityScan) -> bool:
    return (
        scan.status == QualityScan.Status.RUNNING
        and scan.heartbeat_at is not None
        and timezone.now() - scan.heartbeat_at > STALE_AFTER
    )


def fail_unqueued(scan_id: int, exc: Exception) -> None:
    """The broker was down: the scan fails at once with a reason (cheap to start again)."""
    queued = QualityScan.objects.filter(pk=scan_id, status=QualityScan.Status.QUEUED)
    mark_unqueued(queued, QualityScan.Status.FAILED, exc, again="start the scan again")


def _fail(scan_id: int, error: str) -> None:
    QualityScan.objects.filter(pk=scan_id).update(
        status=QualityScan.Status.FAILED, error=error, finished_at=timezone.now()
    )


@dataclass
class Collected:
    """What a scan keeps while it streams: flagged images only, and every image's size."""

    flagged: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    ids: list[np.ndarray] = field(default_factory=list)  # readable images, (n,) int64 each
    sizes: list[np.ndarray] = field(default_factory=list)  # (n, 2) int64 each
    grey: int = 0
    readable: int = 0
    skipped: list[dict] = field(default_factory=list)
    skipped_count: int = 0

    def add(self, ids: np.ndarray, found) -> None:
        from mlcore.eval.image_quality import PER_IMAGE_ISSUES

        readable = np.ones(len(ids), dtype=bool)
        for pos, reason in found.skipped:
            readable[pos] = False
            if len(self.skipped) < 200:
                self.skipped.append({"image": int(ids[pos]), "reason": reason})
        self.skipped_count += len(found.skipped)
        self.readable += int(readable.sum())
        self.grey += int(found.flagged["grayscale"].sum())
        self.ids.append(ids[readable])
        self.sizes.append(found.sizes[readable])
        for issue in PER_IMAGE_ISSUES:
            hit = found.flagged[issue]
            if hit.any():
                self.flagged.setdefault(issue, []).append((ids[hit], found.scores[issue][hit]))


def run_quality_scan(scan_id: int) -> str:
    """The task's body: collect → decide → persist. A redelivered task for a finished scan
    does nothing; one for a scan whose worker died starts it again from the first image."""
    scan = QualityScan.objects.select_related("dataset").get(pk=scan_id)
    if scan.status not in QualityScan.ACTIVE:
        return "already finished"
    images = Image.objects.filter(dataset_id=scan.dataset_id, status=ImageStatus.OK).exclude(
        file=""
    )
    now = timezone.now()
    QualityScan.objects.filter(pk=scan.pk).update(
        status=QualityScan.Status.RUNNING,
        total=images.count(),
        done=0,
        started_at=now,
        heartbeat_at=now,
    )
    try:
        collected = collect(scan, images)
        findings, counts, grey_share = decide(collected)
        persist(scan, findings, counts, grey_share, collected)
    except Exception as exc:  # the row must say why; the worker log has the traceback
        log.exception("quality scan %s failed", scan_id)
        _fail(scan.pk, error_text(exc))
        return "failed"
    return "succeeded"


def collect(scan: QualityScan, images) -> Collected:
    """Score the images CHUNK at a time, in id order, with progress on the row."""
    from mlcore.eval.image_quality import score_images

    collected, done, after = Collected(), 0, 0
    s3 = s3_options()
    while True:
        rows = list(images.filter(pk__gt=after).order_by("pk").values_list("pk", "file")[:CHUNK])
        if not rows:
            return collected
        ids = np.array([pk for pk, _ in rows], dtype=np.int64)
        found = score_images([item_uri(key) for _, key in rows], s3=s3, max_side=MAX_SIDE)
        collected.add(ids, found)
        done, after = done + len(rows), rows[-1][0]
        QualityScan.objects.filter(pk=scan.pk).update(done=done, heartbeat_at=timezone.now())


def decide(collected: Collected) -> tuple[list[tuple[int, str, float]], dict[str, int], float]:
    """The findings (image id, issue type, score) and counts per issue type: the chunks'
    flags, odd size over the whole catalog, grayscale only in a colour catalog."""
    from mlcore.eval.image_quality import ISSUE_TYPES, ODD_SIZE, score_sizes

    grey_share = collected.grey / collected.readable if collected.readable else 0.0
    flagged = dict(collected.flagged)
    if grey_share >= GREY_CATALOG_SHARE:
        flagged.pop("grayscale", None)
    if collected.ids:
        ids, sizes = np.concatenate(collected.ids), np.concatenate(collected.sizes)
        scores, hit = score_sizes(sizes)
        if hit.any():
            flagged[ODD_SIZE] = [(ids[hit], scores[hit])]
    findings = [
        (int(pk), issue, float(score))
        for issue, parts in flagged.items()
        for ids_part, scores_part in parts
        for pk, score in zip(ids_part.tolist(), scores_part.tolist(), strict=True)
    ]
    counts = dict.fromkeys(ISSUE_TYPES, 0)
    for _, issue, _ in findings:
        counts[issue] += 1
    return findings, counts, grey_share


def persist(
    scan: QualityScan,
    findings: list[tuple[int, str, float]],
    counts: dict[str, int],
    grey_share: float,
    collected: Collected,
) -> None:
    """One transaction: the dataset's previous findings go, this scan's arrive, the row says
    succeeded. Any failure rolls all of it back."""
    with transaction.atomic():
        QualityFinding.objects.filter(scan__dataset_id=scan.dataset_id).delete()
        for start in range(0, len(findings), WRITE_BATCH):  # a batch of objects at a time
            QualityFinding.objects.bulk_create(
                QualityFinding(scan_id=scan.pk, image_id=pk, issue=issue, score=score)
                for pk, issue, score in findings[start : start + WRITE_BATCH]
            )
        QualityScan.objects.filter(pk=scan.pk).update(
            status=QualityScan.Status.SUCCEEDED,
            counts=counts,
            grayscale_share=grey_share,
            skipped=collected.skipped,
            skipped_count=collected.skipped_count,
            finished_at=timezone.now(),
        )
