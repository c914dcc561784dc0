"""manage.py ensure_storage: creates a missing bucket on a real S3 server, says why it fails."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.support.services import use_s3_storage


def _s3(settings, s3_server, bucket: str) -> None:
    use_s3_storage(settings, s3_server, bucket)


@pytest.mark.s3
def test_it_creates_a_missing_bucket_once(settings, s3_server):
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    _s3(settings, s3_server, bucket)
    out = StringIO()
    call_command("ensure_storage", stdout=out)
    assert f"created bucket '{bucket}'" in out.getvalue()
    assert s3_server.client().head_bucket(Bucket=bucket)
    out = StringIO()
    call_command("ensure_storage", stdout=out)
    assert "created" not in out.getvalue() and f"storage ok: s3://{bucket}" in out.getvalue()
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_an_unreachable_endpoint_is_a_clear_error(settings):
    from tests.support.services import free_port

    settings.AWS_STORAGE_BUCKET_NAME = "labels"
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="cannot reach the S3 endpoint"):
        call_command("ensure_storage")


def test_local_storage_is_checked_too():
    out = StringIO()
    call_command("ensure_storage", stdout=out)
    assert out.getvalue().startswith("storage ok: ")
