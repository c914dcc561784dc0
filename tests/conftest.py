"""Fixtures shared by every test package. Keep this file free of Django imports:
tests/mlcore runs with torch alone."""

from __future__ import annotations

import uuid

import pytest

from tests.support.services import seaweedfs_session


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (SeaweedFS) on loopback, one per test session."""
    yield from seaweedfs_session()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket name on the session's S3 server."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name
