"""manage.py ensure_storage: make sure the configured storage can be written, creating the
S3 bucket when it is missing. Run once per deployment (docker/compose.yaml's `migrate`), so a
wrong endpoint or key fails there, with its reason, rather than in the first import."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the S3 bucket if missing and check that storage accepts a write."

    def handle(self, *args, **options):
        bucket = settings.AWS_STORAGE_BUCKET_NAME
        if bucket:
            self._ensure_bucket(bucket)
        key = f"healthcheck/{uuid.uuid4().hex}.txt"
        try:
            default_storage.save(key, ContentFile(b"ok"))
            default_storage.delete(key)
        except Exception as exc:
            raise CommandError(f"storage refused a test write: {exc}") from exc
        where = f"s3://{bucket}" if bucket else str(settings.MEDIA_ROOT)
        self.stdout.write(f"storage ok: {where}")

    def _ensure_bucket(self, bucket: str) -> None:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3",
            endpoint_url=settings.AWS_S3_ENDPOINT_URL,
            region_name=settings.AWS_S3_REGION_NAME,
            aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
            aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        )
        try:
            client.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise CommandError(f"cannot reach bucket '{bucket}': {exc}") from exc
        except BotoCoreError as exc:
            raise CommandError(f"cannot reach the S3 endpoint: {exc}") from exc
        try:
            client.create_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"cannot create bucket '{bucket}': {exc}") from exc
        self.stdout.write(f"created bucket '{bucket}'")
