"""Delivery of finished archives to a user's own storage: S3-compatible (AWS, MinIO, Backblaze
B2, Wasabi), WebDAV (Nextcloud, ownCloud, any server) and any rclone remote (Dropbox, Google
Drive, OneDrive and 70 more, through Debian's `rclone` binary with the user's own config).

The archive is streamed from our storage to theirs — never a second copy on local disk — with its
bytes counted as they go, and checked afterwards: the SHA-256 of what was sent must be the
archive's, and the copy read back from the destination must hash the same. A destination that
refuses (bad credentials, a bucket or folder that is gone, a full account) fails the delivery
with the reason; one that does not answer is tried again. The archive stays available for
download either way.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from urllib.parse import quote

import boto3
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.tokens import decrypt, encrypt
from api.addresses import AddressError, guarded_session_allowing, public_url
from api.models import ArchiveDelivery, Destination
from exports import encryption
from exports.archive import IterReader, media_chunks
from exports.conf import setting
from exports.emails import email_send
from exports.links import download_link
from exports.models import ExportJob
from exports.progress import job_title

DELIVER_TASK = "api.tasks.deliver_archive"
Status = ArchiveDelivery.Status
Kind = Destination.Kind
CHUNK = 8 * 1024 * 1024
# rclone backends a user may name: cloud storage only. Not `local`, `alias`, `crypt`, `union`
# and friends (they reach this server's own files), nor sftp/ftp (any host of our network).
RCLONE_TYPES = {
    "s3", "b2", "drive", "dropbox", "onedrive", "box", "pcloud", "mega", "webdav", "swift", "azureblob", "azurefiles",
    "gcs", "sharefile", "koofr", "jottacloud", "yandex", "seafile", "protondrive", "opendrive", "putio",
    "storj", "sugarsync", "hidrive", "internetarchive", "zoho", "premiumizeme", "filefabric", "qingstor", "oos",
}  # fmt: skip
RCLONE_ADDRESS_KEYS = {"url", "endpoint", "auth_url", "server_url", "token_url", "api_url", "host"}


class DestinationError(ValueError):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


class DeliveryRefused(Exception):
    """The destination said no in a way that retrying will not change."""


def _conf(name: str):
    return settings.STAREXPORT[name]


def address_check(url: str, *, field: str) -> str:
    if not url:
        return ""
    try:
        return public_url(url, allowed_origins=set(_conf("DELIVERY_PRIVATE_ORIGINS")))
    except AddressError as exc:
        raise DestinationError(str(exc), field=field) from None


def rclone_config_check(config: str, target: str) -> None:
    """The remote the target names must be in the config, of a cloud storage type, and every
    address in the config must be a public server."""
    remote, sep, _ = target.partition(":")
    if not sep or not remote or "/" in remote:
        raise DestinationError('Name the remote and folder as in rclone, e.g. "dropbox:Backups".', field="prefix")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(config)
    except configparser.Error:
        raise DestinationError(
            "That is not an rclone config file (rclone config show prints it).", field="secret_key"
        ) from None
    if remote not in parser:
        raise DestinationError(f"The config has no remote called {remote!r}.", field="prefix")
    for name in parser.sections():
        kind = parser[name].get("type", "")
        if kind not in RCLONE_TYPES:
            raise DestinationError(f"Remotes of type {kind or 'none'!r} are not allowed here.", field="secret_key")
        for key, value in parser[name].items():
            if key in RCLONE_ADDRESS_KEYS and value:
                address_check(value if "://" in value else f"https://{value}", field="secret_key")


def destination_create(
    *, owner, name: str, kind: str = Kind.S3, endpoint_url: str = "", region: str = "", bucket: str = "",
    prefix: str = "", access_key: str = "", secret_key: str = "", mode: str = Destination.Mode.EVERY,
    age_recipient: str = "",
) -> Destination:  # fmt: skip
    endpoint_url, prefix = endpoint_url.strip(), prefix.strip()
    mode, age_recipient = destination_choice_check(mode, age_recipient)
    if kind == Kind.S3:
        if not bucket.strip():
            raise DestinationError("Name the bucket.", field="bucket")
        endpoint_url = address_check(endpoint_url, field="endpoint_url")
        prefix = prefix.strip("/")
    elif kind == Kind.WEBDAV:
        if not endpoint_url:
            raise DestinationError("Give the WebDAV folder's address.", field="endpoint_url")
        endpoint_url = address_check(endpoint_url, field="endpoint_url")
        prefix = prefix.strip("/")
    elif kind == Kind.RCLONE:
        rclone_config_check(secret_key, prefix)
    else:
        raise DestinationError(f"Unknown kind of storage {kind!r}.", field="kind")
    return Destination.objects.create(
        owner=owner,
        name=name.strip() or kind,
        kind=kind,
        endpoint_url=endpoint_url,
        region=region.strip(),
        bucket=bucket.strip(),
        prefix=prefix,
        access_key=access_key.strip(),
        secret_key=encrypt(secret_key),
        mode=mode,
        age_recipient=age_recipient,
    )


def destination_choice_check(mode: str, age_recipient: str) -> tuple[str, str]:
    mode = mode or Destination.Mode.EVERY
    if mode not in Destination.Mode.values:
        raise DestinationError(f"Unknown mode {mode!r}.", field="mode")
    age_recipient = (age_recipient or "").strip()
    if age_recipient:
        try:
            encryption.age_recipient(age_recipient)
        except encryption.RecipientError as exc:
            raise DestinationError(str(exc), field="age_recipient") from None
    return mode, age_recipient


def destination_update(*, owner, destination_id: int, mode: str, age_recipient: str) -> Destination | None:
    """Change when a destination is used and what its copies are encrypted to."""
    mode, age_recipient = destination_choice_check(mode, age_recipient)
    destination = Destination.objects.filter(owner=owner, pk=destination_id).first()
    if destination is not None:
        destination.mode, destination.age_recipient = mode, age_recipient
        destination.save(update_fields=["mode", "age_recipient"])
    return destination


def destination_delete(*, owner, destination_id: int) -> bool:
    deleted, _ = Destination.objects.filter(owner=owner, pk=destination_id).delete()
    return bool(deleted)


def destinations_for(job: ExportJob):
    """Where a job's archive goes: the destinations chosen for it, or — when nobody chose — every
    destination of its owner's that is set to "every export"."""
    mine = Destination.objects.filter(owner_id=job.owner_id)
    chosen = job.options.get("destinations")
    return mine.filter(id__in=chosen) if chosen is not None else mine.every_export()


def deliveries_queue(job: ExportJob) -> int:
    """Queue the copy of a job's new archive to each of its destinations (once per archive)."""
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        return 0
    queued = 0
    for destination in destinations_for(job):
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


def delivery_schedule_retry(delivery_id: int, delay: float) -> None:
    _send_after_commit(delivery_id, countdown=delay)


def lost_deliveries_resend(*, older_than: timedelta = timedelta(minutes=15)) -> int:
    """Send again the copies whose first task was lost (a broker restarted without its queue)."""
    ids = list(
        ArchiveDelivery.objects.filter(
            status=Status.PENDING, attempts=0, created_at__lt=timezone.now() - older_than
        ).values_list("id", flat=True)
    )
    for delivery_id in ids:
        _send_after_commit(delivery_id)
    return len(ids)


def delivery_run(delivery_id: int) -> float | None:
    """Copy one archive to one destination. Returns seconds to wait before trying again, or None
    when the delivery is over (delivered, refused, out of attempts, or not ours to make)."""
    # An upload left half-done by a worker that died is taken over by the redelivered task; sending
    # the same bytes to the same name twice is harmless.
    claimed = ArchiveDelivery.objects.filter(
        id=delivery_id, status__in=[Status.PENDING, Status.UPLOADING], attempts__lt=_conf("DELIVERY_ATTEMPTS")
    ).update(status=Status.UPLOADING, attempts=F("attempts") + 1, error="")
    if not claimed:
        return None
    delivery = ArchiveDelivery.objects.select_related("destination", "job").get(id=delivery_id)
    try:
        location = _deliver(delivery)
    except DeliveryRefused as exc:
        _finish(delivery, Status.FAILED, error=str(exc))
        return None
    except (BotoCoreError, ClientError, requests.RequestException, OSError) as exc:
        reason = f"Could not reach the destination ({type(exc).__name__})."
        if delivery.attempts >= _conf("DELIVERY_ATTEMPTS"):
            _finish(delivery, Status.FAILED, error=reason)
            return None
        ArchiveDelivery.objects.filter(id=delivery.id).update(status=Status.PENDING, error=reason)
        return 30.0 * 2 ** (delivery.attempts - 1)
    _finish(delivery, Status.DELIVERED, location=location)
    return None


def _finish(delivery: ArchiveDelivery, status: str, *, error: str = "", location: str = "") -> None:
    ended = ArchiveDelivery.objects.filter(id=delivery.id, status=Status.UPLOADING).update(
        status=status, error=error, location=location or delivery.location, finished_at=timezone.now()
    )
    if ended and status == Status.FAILED:
        delivery.refresh_from_db()
        delivery_failed_notify(delivery)


def delivery_failed_notify(delivery: ArchiveDelivery) -> None:
    """Tell the owner a copy finally failed: where, why, and the link to the archive, still here."""
    job = delivery.job
    if not job.owner.email:
        return
    downloadable = job.status == ExportJob.Status.SUCCEEDED and bool(job.archive_name)
    context = {
        "delivery": delivery,
        "destination": delivery.destination,
        "job": job,
        "title": job_title(job),
        "link": download_link(job, absolute=True) if downloadable else None,
        "link_days": setting("LINK_DAYS"),
        "job_url": f"{settings.SITE_URL}{job.get_absolute_url()}",
        "storage_url": f"{settings.SITE_URL}{reverse('destinations')}",
    }
    email_send("delivery-failed", context, to=job.owner.email)


class Sized(io.BufferedReader):
    """A buffered stream that tells requests its length, so it is sent with Content-Length
    rather than chunked (which some WebDAV servers refuse)."""


def _deliver(delivery: ArchiveDelivery) -> str:
    job, destination = delivery.job, delivery.destination
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        raise DeliveryRefused("The archive is no longer available (the export expired or was rebuilt).")
    backend = BACKENDS[destination.kind](destination)
    name = job.archive_name.rsplit("/", 1)[-1]
    reader = IterReader(media_chunks(default_storage, job.archive_name))
    sent = {"bytes": 0, "saved_at": 0.0}

    def progress(n: int) -> None:
        sent["bytes"] += n
        if time.monotonic() - sent["saved_at"] > 1:
            sent["saved_at"] = time.monotonic()
            ArchiveDelivery.objects.filter(id=delivery.id).update(bytes_sent=sent["bytes"])

    with ExitStack() as stack:
        # Encrypted to the destination's key as it is streamed, unless it already is (to the
        # export's or schedule's key): either way the destination never holds it in clear.
        body, length = reader, job.archive_size or 0
        if destination.age_recipient and not name.endswith(encryption.SUFFIX):
            name += encryption.SUFFIX
            body = stack.enter_context(
                encryption.encrypting_reader(reader, destination.age_recipient, size=length, chunk=CHUNK)
            )
            length = body.len
        stream = Sized(body, buffer_size=CHUNK)
        stream.len = length
        location = backend.upload(stream, name, progress)
    ArchiveDelivery.objects.filter(id=delivery.id).update(bytes_sent=body.total)
    if reader.digest.hexdigest() != job.archive_sha256:
        raise DeliveryRefused("The archive changed while it was being sent; it will be sent again when rebuilt.")
    # Read it back: what the destination keeps must be byte for byte what was sent.
    digest = hashlib.sha256()
    for chunk in backend.read_back(name):
        digest.update(chunk)
    if digest.hexdigest() != body.digest.hexdigest():
        raise OSError("The copy at the destination does not match the checksum of what was sent.")
    return location


# --- the kinds of storage ------------------------------------------------------------------------
class S3Backend:
    REFUSALS = {
        "AccessDenied": "The destination refused the credentials (access denied).",
        "InvalidAccessKeyId": "The destination does not know this access key.",
        "SignatureDoesNotMatch": "The destination refused the secret key.",
        "NoSuchBucket": "The bucket does not exist (any more).",
        "QuotaExceeded": "The destination is full.",
        "EntityTooLarge": "The destination does not take files this large.",
    }

    def __init__(self, destination: Destination):
        self.destination = destination
        if destination.endpoint_url:
            try:
                address_check(destination.endpoint_url, field="endpoint_url")  # what it resolves to may change
            except DestinationError as exc:
                raise DeliveryRefused(exc.message) from None
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=destination.endpoint_url or None,
            region_name=destination.region or None,
            aws_access_key_id=destination.access_key,
            aws_secret_access_key=decrypt(destination.secret_key),
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=120,
                signature_version="s3v4",
            ),
        )  # fmt: skip

    def key(self, name: str) -> str:
        return f"{self.destination.prefix}/{name}" if self.destination.prefix else name

    def refusal(self, exc: Exception) -> DeliveryRefused | None:
        for code, text in self.REFUSALS.items():
            if code in str(exc):
                return DeliveryRefused(text)
        return None

    def upload(self, stream, name: str, progress: Callable[[int], None]) -> str:
        try:
            self.client.upload_fileobj(
                stream,
                self.destination.bucket,
                self.key(name),
                Callback=progress,
                # One thread: the body is a stream read in order, never a file to seek in.
                Config=TransferConfig(use_threads=False, multipart_chunksize=16 * 1024 * 1024),
            )
        except (ClientError, boto3.exceptions.S3UploadFailedError) as exc:
            raise self.refusal(exc) or OSError(str(exc)) from None
        return f"{self.destination.name}:/{self.destination.bucket}/{self.key(name)}"

    def read_back(self, name: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.destination.bucket, Key=self.key(name))["Body"]
        try:
            yield from body.iter_chunks(1 << 20)
        finally:
            body.close()


class WebDAVBackend:
    REFUSALS = {
        401: "The server refused the user name or password.",
        403: "The server does not let this user write there.",
        404: "The folder does not exist (any more).",
        409: "The folder does not exist (any more).",
        413: "The server does not take files this large.",
        507: "The destination is full.",
    }

    def __init__(self, destination: Destination):
        self.destination = destination
        try:
            address_check(destination.endpoint_url, field="endpoint_url")
        except DestinationError as exc:
            raise DeliveryRefused(exc.message) from None
        self.session = guarded_session_allowing(_conf("DELIVERY_PRIVATE_ORIGINS"))
        self.session.auth = (destination.access_key, decrypt(destination.secret_key))
        self.folders = [quote(part) for part in destination.prefix.split("/") if part]

    def url(self, name: str = "") -> str:
        return "/".join([self.destination.endpoint_url.rstrip("/"), *self.folders, quote(name)])

    def check(self, response: requests.Response) -> None:
        if response.status_code in self.REFUSALS:
            raise DeliveryRefused(self.REFUSALS[response.status_code])
        if 300 <= response.status_code < 400:
            raise DeliveryRefused(f"The server moved the folder ({response.status_code}); give its new address.")
        if response.status_code >= 400:
            raise OSError(f"The server answered {response.status_code}.")

    def upload(self, stream, name: str, progress: Callable[[int], None]) -> str:
        timeout = (10, 120)
        base = self.destination.endpoint_url.rstrip("/")
        for depth in range(1, len(self.folders) + 1):
            folder = "/".join([base, *self.folders[:depth]]) + "/"
            response = self.session.request("MKCOL", folder, timeout=timeout, allow_redirects=False)
            if response.status_code not in (201, 405):  # made, or already there
                self.check(response)

        class Counted(Sized):
            def read(self, size=-1):
                data = super().read(size)
                progress(len(data))
                return data

            def tell(self):
                # requests asks where the stream is before sending it: at its start.
                return 0

        counted = Counted(stream, buffer_size=CHUNK)
        counted.len = stream.len
        response = self.session.put(
            self.url(name),
            data=counted,
            headers={"Content-Type": "application/octet-stream"},
            timeout=timeout,
            allow_redirects=False,
        )
        self.check(response)
        return f"{self.destination.name}:/{'/'.join([*self.destination.prefix.split('/'), name]).strip('/')}"

    def read_back(self, name: str) -> Iterator[bytes]:
        with self.session.get(self.url(name), stream=True, timeout=(10, 120), allow_redirects=False) as response:
            self.check(response)
            yield from response.iter_content(1 << 20)


class RcloneBackend:
    """Debian's rclone with the user's config, in a private temporary folder for each run."""

    def __init__(self, destination: Destination):
        self.destination = destination
        self.config = decrypt(destination.secret_key)
        try:
            rclone_config_check(self.config, destination.prefix)
        except DestinationError as exc:
            raise DeliveryRefused(exc.message) from None

    def target(self, name: str) -> str:
        return f"{self.destination.prefix.rstrip('/')}/{name}"

    def run(self, args: list[str], **popen) -> subprocess.Popen:
        home = tempfile.mkdtemp(prefix="rclone-")
        path = os.path.join(home, "rclone.conf")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.config)
        self.home = home
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
        command = ["rclone", "--config", path, "--ask-password=false", "--retries", "1", "--low-level-retries", "3"]
        return subprocess.Popen([*command, *args], env=env, cwd=home, **popen)

    def finish(self, proc: subprocess.Popen, errors) -> None:
        import shutil

        code = proc.wait(timeout=600)
        errors.seek(0)
        lines = [line.strip() for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
        shutil.rmtree(self.home, ignore_errors=True)
        if code == 0:
            return
        last = lines[-1] if lines else f"rclone stopped with status {code}"
        reason = f"rclone: {last.split(': ', 1)[-1][:300]}"
        # Status 5 is a temporary error (rclone's own words); anything else needs the user.
        if code == 5:
            raise OSError(reason)
        raise DeliveryRefused(reason)

    def upload(self, stream, name: str, progress: Callable[[int], None]) -> str:
        with tempfile.TemporaryFile() as errors:
            proc = self.run(["rcat", self.target(name)], stdin=subprocess.PIPE, stderr=errors)
            try:
                while block := stream.read(1 << 20):
                    proc.stdin.write(block)
                    progress(len(block))
            except BrokenPipeError:
                pass  # rclone gave up; its status and words say why
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            self.finish(proc, errors)
        return f"{self.destination.name}:/{self.target(name).split(':', 1)[1].lstrip('/')}"

    def read_back(self, name: str) -> Iterator[bytes]:
        with tempfile.TemporaryFile() as errors:
            proc = self.run(["cat", self.target(name)], stdout=subprocess.PIPE, stderr=errors)
            try:
                while block := proc.stdout.read(1 << 20):
                    yield block
            finally:
                proc.stdout.close()
                self.finish(proc, errors)


BACKENDS = {Kind.S3: S3Backend, Kind.WEBDAV: WebDAVBackend, Kind.RCLONE: RcloneBackend}
