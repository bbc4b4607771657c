"""Delivery of finished archives to a user's own storage (S3-compatible: AWS, MinIO, Backblaze
B2, Wasabi…).

The archive is streamed from our storage to theirs — never a second copy on local disk — with
its bytes counted as they go, and checked afterwards: the SHA-256 of what was sent must be the
archive's, and the object read back from the destination must hash the same. A destination that
refuses (bad credentials, a bucket that is gone) fails the delivery with the reason; the archive
stays available for download either way.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.tokens import decrypt, encrypt
from api.addresses import AddressError, public_url
from api.models import ArchiveDelivery, Destination
from exports.archive import IterReader, media_chunks
from exports.models import ExportJob

log = logging.getLogger(__name__)
DELIVER_TASK = "api.tasks.deliver_archive"
Status = ArchiveDelivery.Status
# Errors the destination answers that no retry will fix.
REFUSALS = {
    "AccessDenied": "The destination refused the credentials (access denied).",
    "InvalidAccessKeyId": "The destination does not know this access key.",
    "SignatureDoesNotMatch": "The destination refused the secret key.",
    "NoSuchBucket": "The bucket does not exist (any more).",
    "QuotaExceeded": "The destination is full.",
    "EntityTooLarge": "The destination does not take files this large.",
}


class DestinationError(ValueError):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


class DeliveryRefused(Exception):
    """The destination said no in a way that retrying will not change."""


def _conf(name: str):
    return settings.STAREXPORT[name]


def endpoint_check(url: str) -> str:
    if not url:
        return ""
    try:
        return public_url(url, allowed_origins=set(_conf("DELIVERY_PRIVATE_ORIGINS")))
    except AddressError as exc:
        raise DestinationError(str(exc), field="endpoint_url") from None


def destination_create(
    *, owner, name: str, bucket: str, access_key: str, secret_key: str, endpoint_url: str = "", region: str = "",
    prefix: str = "",
) -> Destination:  # fmt: skip
    if not bucket.strip():
        raise DestinationError("Name the bucket.", field="bucket")
    return Destination.objects.create(
        owner=owner,
        name=name.strip() or bucket,
        endpoint_url=endpoint_check(endpoint_url.strip()),
        region=region.strip(),
        bucket=bucket.strip(),
        prefix=prefix.strip().strip("/"),
        access_key=access_key.strip(),
        secret_key=encrypt(secret_key),
    )


def destination_delete(*, owner, destination_id: int) -> bool:
    deleted, _ = Destination.objects.filter(owner=owner, pk=destination_id).delete()
    return bool(deleted)


def deliveries_queue(job: ExportJob) -> int:
    """Queue the copy of a job's new archive to each of the owner's destinations (once per archive)."""
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        return 0
    queued = 0
    for destination in Destination.objects.filter(owner_id=job.owner_id):
        try:
            with transaction.atomic():
                delivery = ArchiveDelivery.objects.create(
                    job=job, destination=destination, archive_sha256=job.archive_sha256
                )
                _send_after_commit(delivery.id)
        except IntegrityError:
            continue
        queued += 1
    return queued


def _send_after_commit(delivery_id: int, countdown: float = 0) -> None:
    from celery import current_app

    transaction.on_commit(
        lambda: current_app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown), robust=True
    )


def object_key(destination: Destination, job: ExportJob) -> str:
    name = job.archive_name.rsplit("/", 1)[-1]
    return f"{destination.prefix}/{name}" if destination.prefix else name


def s3_client(destination: Destination):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=destination.endpoint_url or None,
        region_name=destination.region or None,
        aws_access_key_id=destination.access_key,
        aws_secret_access_key=decrypt(destination.secret_key),
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            signature_version="s3v4",
        ),
    )


def delivery_run(delivery_id: int) -> float | None:
    """Upload one archive to one destination. Returns seconds to wait before trying again, or None
    when the delivery is over (delivered, refused, out of attempts, or not ours to make)."""
    # An upload left half-done by a worker that died is taken over by the redelivered task; sending
    # the same bytes to the same key twice is harmless.
    claimed = ArchiveDelivery.objects.filter(
        id=delivery_id, status__in=[Status.PENDING, Status.UPLOADING], attempts__lt=_conf("DELIVERY_ATTEMPTS")
    ).update(status=Status.UPLOADING, attempts=F("attempts") + 1, error="")
    if not claimed:
        return None
    delivery = ArchiveDelivery.objects.select_related("destination", "job").get(id=delivery_id)
    try:
        location = _upload_and_check(delivery)
    except DeliveryRefused as exc:
        _finish(delivery, Status.FAILED, error=str(exc))
        return None
    except (BotoCoreError, ClientError, OSError) as exc:
        reason = f"Could not reach the destination ({type(exc).__name__})."
        if delivery.attempts >= _conf("DELIVERY_ATTEMPTS"):
            _finish(delivery, Status.FAILED, error=reason)
            return None
        ArchiveDelivery.objects.filter(id=delivery.id).update(status=Status.PENDING, error=reason)
        return 30.0 * 2 ** (delivery.attempts - 1)
    _finish(delivery, Status.DELIVERED, location=location)
    return None


def _finish(delivery: ArchiveDelivery, status: str, *, error: str = "", location: str = "") -> None:
    ArchiveDelivery.objects.filter(id=delivery.id).update(
        status=status, error=error, location=location or delivery.location, finished_at=timezone.now()
    )


def _refusal(exc: ClientError) -> DeliveryRefused | None:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in REFUSALS:
        return DeliveryRefused(REFUSALS[code])
    return None


def _upload_and_check(delivery: ArchiveDelivery) -> str:
    job, destination = delivery.job, delivery.destination
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        raise DeliveryRefused("The archive is no longer available (the export expired or was rebuilt).")
    if destination.endpoint_url:
        try:
            endpoint_check(destination.endpoint_url)  # again: what it resolves to may have changed
        except DestinationError as exc:
            raise DeliveryRefused(exc.message) from None
    client = s3_client(destination)
    key = object_key(destination, job)
    reader = IterReader(media_chunks(default_storage, job.archive_name))
    sent = {"bytes": 0, "saved_at": 0.0}

    def progress(n: int) -> None:
        sent["bytes"] += n
        if time.monotonic() - sent["saved_at"] > 1:
            sent["saved_at"] = time.monotonic()
            ArchiveDelivery.objects.filter(id=delivery.id).update(bytes_sent=sent["bytes"])

    try:
        client.upload_fileobj(
            io.BufferedReader(reader, buffer_size=8 * 1024 * 1024),
            destination.bucket,
            key,
            Callback=progress,
            # One thread: the body is a stream read in order, never a file to seek in.
            Config=TransferConfig(use_threads=False, multipart_chunksize=16 * 1024 * 1024),
        )
    except ClientError as exc:
        raise _refusal(exc) or exc from None
    except boto3.exceptions.S3UploadFailedError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError) and _refusal(cause):
            raise _refusal(cause) from None
        for code, text in REFUSALS.items():
            if code in str(exc):
                raise DeliveryRefused(text) from None
        raise OSError(str(exc)) from exc
    ArchiveDelivery.objects.filter(id=delivery.id).update(bytes_sent=reader.total)
    if reader.digest.hexdigest() != job.archive_sha256:
        raise DeliveryRefused("The archive changed while it was being sent; it will be sent again when rebuilt.")
    # Read it back: what the destination keeps must be byte for byte what we have.
    digest = hashlib.sha256()
    body = client.get_object(Bucket=destination.bucket, Key=key)["Body"]
    try:
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
    finally:
        body.close()
    if digest.hexdigest() != job.archive_sha256:
        raise OSError("The copy at the destination does not match the archive's checksum.")
    return f"{destination.name}:{destination.bucket}/{key}"


def delivery_schedule_retry(delivery_id: int, delay: float) -> None:
    _send_after_commit(delivery_id, countdown=delay)
