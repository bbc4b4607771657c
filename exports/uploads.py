"""Uploads of official archives from the browser: in pieces, resumable, then an import job.

The browser sends the file in pieces at known offsets; a piece is appended only at the offset the
server has reached, so a retried or duplicated piece cannot corrupt the file, and after a dropped
connection the browser asks where to resume. Pieces go to a local partial file; the whole file is
then streamed into storage (S3 in parts) and handed to the import.

One user cannot fill the disk: an upload announces its size first, and is refused when the user
already has too many open uploads (UPLOAD_MAX_OPEN_PER_USER), when the bytes their open uploads
reserve would pass UPLOAD_MAX_RESERVED_BYTES_PER_USER, or when every open upload's remaining bytes
would not fit on the disk with UPLOAD_DISK_MARGIN_BYTES to spare. A piece larger than the
advertised UPLOAD_CHUNK_BYTES is refused before it is read, and uploads left unfinished for
UPLOAD_ABANDONED_HOURS are swept away with their partial files (`upload_sweep`, run by beat).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from exports.conf import setting
from exports.importing import import_job_create, upload_name_for
from exports.jobs import ExportRequestError
from exports.models import ExportJob, Upload
from platforms.models import Platform
from platforms.registry import importer_available

PIECE = 64 * 1024
GB = 1024**3
log = logging.getLogger(__name__)


class UploadError(ExportRequestError):
    def __init__(self, message: str, *, status: int = 400, field: str | None = None):
        super().__init__(message, field=field)
        self.status = status


def uploads_dir() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def partial_path(upload: Upload) -> Path:
    return uploads_dir() / f"{upload.id}.part"


def _open_uploads():
    return Upload.objects.filter(job__isnull=True)


def _refuse_beyond_limits(*, owner, size: int) -> None:
    """The checks of a new upload of `size` bytes, in the order a person can act on them."""
    mine = _open_uploads().filter(owner=owner)
    most = setting("UPLOAD_MAX_OPEN_PER_USER")
    if mine.count() >= most:
        raise UploadError(
            f"You already have {most} unfinished uploads (the limit is {most}). Finish them, or wait "
            f"until abandoned ones are removed after {setting('UPLOAD_ABANDONED_HOURS'):g} hours.",
            status=429,
            field="file",
        )
    reserved = mine.aggregate(total=Sum("size"))["total"] or 0
    allowed = setting("UPLOAD_MAX_RESERVED_BYTES_PER_USER")
    if reserved + size > allowed:
        raise UploadError(
            f"Your unfinished uploads already take {reserved / GB:.1f} GB; with this one they would pass "
            f"the {allowed / GB:.1f} GB one person may upload at a time.",
            status=413,
            field="file",
        )
    # Every open upload will grow to its full size: what they still need, plus this one and a
    # margin, must be free on the disk the partial files are written to.
    pending = _open_uploads().aggregate(total=Sum(F("size") - F("received")))["total"] or 0
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if pending + size + setting("UPLOAD_DISK_MARGIN_BYTES") > free:
        raise UploadError(
            "The server does not have the disk space for this file right now; try again later.",
            status=507,
            field="file",
        )


def upload_create(*, owner, platform_slug: str, filename: str, size: int) -> Upload:
    platform = Platform.objects.filter(slug=platform_slug, enabled=True).first()
    if platform is None or not importer_available(platform_slug):
        raise UploadError(f"Archives from {platform_slug!r} cannot be imported.", field="platform")
    limit = setting("UPLOAD_MAX_BYTES")
    if size <= 0:
        raise UploadError("The file is empty.", field="file")
    if size > limit:
        raise UploadError(
            f"The file is {size / 1024**3:.1f} GB; archives up to {limit / 1024**3:.1f} GB are accepted.",
            status=413,
            field="file",
        )
    with transaction.atomic():
        # One user's uploads are counted with their row locked: parallel starts cannot all pass.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        _refuse_beyond_limits(owner=owner, size=size)
        upload = Upload.objects.create(owner=owner, platform=platform, filename=Path(filename).name[:255], size=size)
    path = partial_path(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def upload_append(upload: Upload, *, offset: int, stream, length: int) -> int:
    """Append one piece read from `stream`; returns the bytes received so far."""
    if upload.job_id:
        raise UploadError("This upload is finished.", status=409)
    if offset != upload.received:
        raise UploadError(f"Expected the piece at offset {upload.received}.", status=409)
    if length <= 0 or upload.received + length > upload.size:
        raise UploadError("The piece does not fit the announced file size.", status=400)
    piece = setting("UPLOAD_CHUNK_BYTES")
    if length > piece:
        raise UploadError(f"A piece may be at most {piece} bytes; this one announced {length}.", status=413)
    path = partial_path(upload)
    written = 0
    with open(path, "r+b") as out:
        # The file on disk is the truth: bytes past `received` are from a piece that never completed.
        out.truncate(upload.received)
        out.seek(upload.received)
        while written < length:
            block = stream.read(min(PIECE, length - written))
            if not block:
                break
            out.write(block)
            written += len(block)
    if written != length:
        raise UploadError(f"The piece was cut short ({written} of {length} bytes); send it again.", status=400)
    # updated_at is when the upload last moved: the sweep leaves uploads that still move alone.
    Upload.objects.filter(id=upload.id, received=offset).update(
        received=F("received") + length, updated_at=timezone.now()
    )
    upload.refresh_from_db(fields=["received"])
    return upload.received


def upload_finish(upload: Upload, *, skip_sensitive: bool = False) -> ExportJob:
    """Move the complete file into storage and start its import (without messages and history when
    the person asked to leave them out)."""
    if upload.job_id:
        return upload.job
    if not upload.complete:
        raise UploadError(f"The upload has {upload.received} of {upload.size} bytes.", status=409)
    job_id = uuid.uuid4()
    name = upload_name_for(upload.owner_id, job_id, upload.filename)
    path = partial_path(upload)
    with open(path, "rb") as f:
        name = default_storage.save(name, File(f, name=name))
    try:
        with transaction.atomic():
            job = import_job_create(
                owner=upload.owner,
                platform_slug=upload.platform_id,
                upload_name=name,
                upload_size=upload.size,
                job_id=job_id,
                skip_sensitive=skip_sensitive,
            )
            Upload.objects.filter(id=upload.id).update(job=job)
    except ExportRequestError:
        default_storage.delete(name)
        raise
    path.unlink(missing_ok=True)
    return job


def upload_sweep(*, now=None) -> int:
    """Remove uploads nobody has added to for UPLOAD_ABANDONED_HOURS: their rows, their partial
    files, and partial files no row knows (a crash between creating one and the other).
    Returns how many partial files or rows were removed."""
    since = (now or timezone.now()) - timedelta(hours=setting("UPLOAD_ABANDONED_HOURS"))
    cutoff = since.timestamp()
    removed = 0
    stale = _open_uploads().filter(updated_at__lt=since)
    for upload in stale:
        path = partial_path(upload)
        if path.exists() and path.stat().st_mtime >= cutoff:
            continue  # bytes arrived lately, even if the row did not say so yet
        path.unlink(missing_ok=True)
        # Only if it is still open: a finish that won the race keeps its row.
        removed += Upload.objects.filter(id=upload.id, job__isnull=True).delete()[0]
    folder = uploads_dir()
    if folder.is_dir():
        known = {str(i) for i in Upload.objects.filter(job__isnull=True).values_list("id", flat=True)}
        for path in folder.glob("*.part"):
            try:
                if path.stem not in known and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
    if removed:
        log.info("Removed %d abandoned uploads and partial files", removed)
    return removed
