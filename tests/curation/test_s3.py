"""Import from an s3:// prefix and keep images in S3 storage, against a real S3 server."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from curation.models import Image
from curation.services.imports import import_catalog
from curation.services.sources import SourceError
from tests.support.catalogs import png_bytes
from tests.support.services import use_s3_storage

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


@pytest.fixture
def s3_settings(settings, s3_server):
    settings.CURATION_SOURCE_S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.AWS_ACCESS_KEY_ID = s3_server.access_key
    settings.AWS_SECRET_ACCESS_KEY = s3_server.secret_key
    return settings


def _upload_catalog(client, bucket: str, prefix: str) -> None:
    rows = ["path,product,neckline"]
    for i in range(5):
        client.put_object(Bucket=bucket, Key=f"{prefix}img/{i}.png", Body=png_bytes((i * 40, 9, 9)))
        rows.append(f"img/{i}.png,p{i},{['round', 'boat'][i % 2]}")
    rows.append("img/missing.png,p9,round")
    client.put_object(Bucket=bucket, Key=f"{prefix}img/empty.png", Body=b"")
    rows.append("img/empty.png,p8,round")
    client.put_object(Bucket=bucket, Key=f"{prefix}labels.csv", Body="\n".join(rows).encode())


def test_it_imports_from_an_s3_prefix(s3_settings, s3_server, s3_bucket):
    client = s3_server.client()
    _upload_catalog(client, s3_bucket, "spring/")
    report = import_catalog(f"s3://{s3_bucket}/spring/", dataset_name="s3-dresses", create=True)
    assert report.created == 5
    assert [(e["path"], "not found" in e["reason"]) for e in report.errors] == [
        ("img/missing.png", True)
    ]
    assert [q["path"] for q in report.quarantined] == ["img/empty.png"]
    # The files were copied: deleting the bucket's objects does not lose them.
    for obj in client.list_objects_v2(Bucket=s3_bucket)["Contents"]:
        client.delete_object(Bucket=s3_bucket, Key=obj["Key"])
    image = Image.objects.get(source_path="img/3.png")
    with default_storage.open(image.file) as f:
        assert f.read() == png_bytes((120, 9, 9))


def test_a_missing_s3_manifest_or_bucket_is_a_clear_error(s3_settings, s3_bucket):
    with pytest.raises(SourceError, match="no labels.csv"):
        import_catalog(f"s3://{s3_bucket}/nothing-here/", dataset_name="x", create=True)
    with pytest.raises(SourceError, match="does not exist"):
        import_catalog("s3://no-such-bucket-here/", dataset_name="x", create=True)


def test_originals_and_thumbnails_can_live_in_s3(
    settings, s3_server, s3_bucket, small_catalog, client, viewer
):
    use_s3_storage(settings, s3_server, s3_bucket)
    report = import_catalog(str(small_catalog), dataset_name="dresses", create=True)
    assert report.created == 6
    keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]}
    image = Image.objects.get(source_path="img/2.png")
    assert {image.file, image.thumbnail} <= keys and len(keys) == 6  # small: own thumbnail
    client.force_login(viewer)
    response = client.get(f"/images/{image.pk}/file/")
    assert b"".join(response.streaming_content) == (small_catalog / "img" / "2.png").read_bytes()
