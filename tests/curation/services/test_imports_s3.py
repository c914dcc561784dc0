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


def test_a_prefix_with_more_objects_than_one_listing_page_imports_every_row(
    s3_settings, s3_server, s3_bucket
):
    """S3 answers a listing 1,000 keys at a time; the import reads the manifest's keys, so a
    prefix of 1,100 photos (and a neighbouring prefix) must give exactly its 1,100 rows."""
    from concurrent.futures import ThreadPoolExecutor

    client = s3_server.client()
    n = 1100
    rows = ["path,product,neckline"]

    def put(i: int) -> None:
        body = png_bytes((i % 256, i // 256, 7), size=(8, 8))
        client.put_object(Bucket=s3_bucket, Key=f"big/img/{i:04d}.png", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(n)))
    rows += [f"img/{i:04d}.png,p{i // 2},{['round', 'boat'][i % 2]}" for i in range(n)]
    client.put_object(Bucket=s3_bucket, Key="big/labels.csv", Body="\n".join(rows).encode())
    client.put_object(Bucket=s3_bucket, Key="big-neighbour/img/0000.png", Body=b"not a png")
    page = client.list_objects_v2(Bucket=s3_bucket, Prefix="big/")
    assert page["IsTruncated"]  # more than one listing page really is there

    report = import_catalog(f"s3://{s3_bucket}/big/", dataset_name="s3-many", create=True)
    assert (report.created, report.errors, report.quarantined) == (n, [], [])
    assert Image.objects.filter(dataset__name="s3-many").count() == n
    again = import_catalog(f"s3://{s3_bucket}/big/", dataset_name="s3-many")
    assert (again.created, again.updated, again.unchanged) == (0, 0, n)
