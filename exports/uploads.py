"""Uploads of official archives from the browser: in pieces, resumable, then an import job.

The browser sends the file in pieces at known offsets; a piece is appended only at the offset the
server has reached, so a retried or duplicated piece cannot corrupt the file, and after a dropped
connection the browser asks where to resume. Pieces go to a local partial file; the whole file is
then streamed into storage (S3 in parts) and handed to the import.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F

from exports.conf import setting
from exports.importing import import_job_create, upload_name_for
from exports.jobs import ExportRequestError
from exports.models import ExportJob, Upload
from platforms.models import Platform
from platforms.registry import importer_available

PIECE = 64 * 1024


class UploadError(ExportRequestError):
    def __init__(self, message: str, *, status: int = 400, field: str | None = None):
        super().__init__(message, field=field)
        self.status = status


def partial_path(upload: Upload) -> Path:
    return Path(settings.VAR_DIR) / "uploads" / f"{upload.id}.part"


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
    Upload.objects.filter(id=upload.id, received=offset).update(received=F("received") + length)
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
