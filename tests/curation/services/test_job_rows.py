"""A build job's row (an index, a map) ends ready with what the build made, or failed with
why, never left building."""

from __future__ import annotations

import pytest

from curation.models import SimilarityIndex
from curation.services.job_rows import run_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(imported) -> SimilarityIndex:
    return SimilarityIndex.objects.create(
        dataset=imported, embedder="pretrained", status=SimilarityIndex.Status.BUILDING
    )


def test_a_build_that_returns_makes_its_row_ready_with_those_fields(building):
    assert run_build(building, lambda: {"count": 3, "artifact": "indexes/x.faiss"}) == "ready"

    building.refresh_from_db()
    assert (building.status, building.count, building.artifact) == ("ready", 3, "indexes/x.faiss")
    assert building.finished_at is not None and building.error == ""


def test_a_build_that_raises_fails_its_row_with_the_reason(building):
    def build():
        raise OSError("disk full")

    assert run_build(building, build) == "failed"

    building.refresh_from_db()
    assert building.status == "failed" and building.error == "OSError: disk full"
    assert building.finished_at is not None and building.artifact == ""
