"""The app's storage as mlcore sees it (URIs, S3 options) and content-addressed writes.

mlcore reads images and models by URI: a local path when the default storage is local
files, s3://bucket/key otherwise, with the S3Options to reach the bucket. A blob key names
its bytes (sha256), so a key that exists already holds exactly these bytes and is never
rewritten. Local storage takes a fast path (temp file + hard link: atomic, never
overwrites, no half-written file under the final name); other storages go through the
Storage API.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages

from curation.probe import put_local_blob


def local_storage_location() -> str | None:
    """The folder of the default storage when it is local files, else None."""
    storage = storages["default"]
    return str(storage.location) if isinstance(storage, FileSystemStorage) else None


def put_blob(key: str, data: bytes) -> bool:
    """Store `data` under `key` unless it is there already. Returns True if it wrote."""
    location = local_storage_location()
    if location is not None:
        return put_local_blob(location, key, data)
    if default_storage.exists(key):
        return False
    default_storage.save(key, ContentFile(data))
    return True


def delete_blob(key: str) -> None:
    default_storage.delete(key)


def item_uri(key: str) -> str:
    """The URI mlcore reads the stored file `key` at."""
    location = local_storage_location()
    if location is not None:
        return str(Path(location) / key)
    return f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/{key}"


def s3_options():
    """mlcore's S3Options for the app's bucket, or None when storage is local files."""
    from mlcore.storage import S3Options

    if local_storage_location() is not None:
        return None
    return S3Options(
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        region=settings.AWS_S3_REGION_NAME,
    )


def remove_tree(uri: str) -> None:
    """Delete a stored folder (a local path under storage, or an s3:// prefix) and what is in
    it; a missing one is not an error."""
    import shutil

    from mlcore.storage import is_s3, s3_client, split_s3

    if not uri:
        return
    if not is_s3(uri):
        location = local_storage_location()
        path = Path(uri)
        if location is not None and path.resolve().is_relative_to(Path(location).resolve()):
            shutil.rmtree(path, ignore_errors=True)
        return
    bucket, prefix = split_s3(uri.rstrip("/") + "/")
    client = s3_client(s3_options())
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
