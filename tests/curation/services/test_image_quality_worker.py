"""A scan queued from the service runs on a real `celery worker -Q cpu` process (a private
redis-server as the broker): it finds the planted photos, and nothing on a clean catalog."""

from __future__ import annotations

import pytest

from curation.models import QualityFinding, QualityScan
from curation.services.image_quality import start_quality_scan
from tests.support.broker import real_broker
from tests.support.quality_images import PLANTED, findings_by_file, seed_catalog
from tests.support.redis_server import RedisServer
from tests.support.workers import wait_for, worker_pool

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(tmp_path, settings):
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        with real_broker(server.url):
            yield from worker_pool(server.url, tmp_path, settings)
    finally:
        server.stop()


def _finished(scan: QualityScan):
    def check():
        scan.refresh_from_db()
        return scan.status not in QualityScan.ACTIVE

    return check


def test_a_worker_scan_finds_planted_photos_and_nothing_on_a_clean_catalog(
    workers, tmp_path, data_scientist
):
    planted = seed_catalog(tmp_path / "planted", "planted", planted=True)
    clean = seed_catalog(tmp_path / "clean", "clean", planted=False)
    workers.start("cpu")
    scans = [start_quality_scan(dataset=d, actor=data_scientist) for d in (planted, clean)]
    for scan in scans:
        wait_for(_finished(scan), 180, f"scan {scan.pk} to finish", workers, watch=scan)
        assert scan.status == "succeeded", (scan.error, workers.logs())
    flagged = findings_by_file(scans[0])
    assert not {stem for stem in flagged if stem.startswith("clean")}, flagged
    assert all(issue in flagged.get(stem, set()) for stem, issue in PLANTED.items()), flagged
    assert scans[0].done == scans[0].total == 14
    assert not QualityFinding.objects.filter(scan=scans[1]).exists()
    assert scans[1].total == 10 and sum(scans[1].counts.values()) == 0
