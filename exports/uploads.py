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

Junk never becomes a job: the first piece must start as a ZIP or a tar.gz does, and a ZIP's last
bytes (sent when the upload is announced, kept beside the partial file until the first piece) must
hold a whole, safe directory of members that are not another platform's. At the finish, the
complete file (with the other parts of a download split in several) is opened and checked as the
import would, before it is stored. A refused upload is removed with its bytes.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from contextlib import ExitStack
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
from platforms.base import ExtractorError
from platforms.importer import archive_inspect, archive_kind, archive_tail_check
from platforms.mediatypes import sniff
from platforms.models import Platform
from platforms.registry import importer_available

PIECE = 64 * 1024
# The end of a ZIP the browser sends when it announces the upload: a directory of about 8,000
# members fits; a longer one is checked when the whole file is here.
TAIL_BYTES = 1024**2
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


def tail_path(upload: Upload) -> Path:
    return uploads_dir() / f"{upload.id}.tail"


def upload_discard(upload: Upload) -> None:
    """An open upload and its bytes, gone (refused, or given up by the person)."""
    partial_path(upload).unlink(missing_ok=True)
    tail_path(upload).unlink(missing_ok=True)
    Upload.objects.filter(id=upload.id, job__isnull=True).delete()


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


def upload_create(*, owner, platform_slug: str, filename: str, size: int, tail: bytes = b"") -> Upload:
    """A new upload of `size` bytes; `tail`, the file's last bytes (at most TAIL_BYTES), lets the
    first piece's check read a ZIP's directory."""
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
    if len(tail) > min(size, TAIL_BYTES):
        raise UploadError(f"Send at most the file's last {TAIL_BYTES:,} bytes as its tail.", field="tail")
    with transaction.atomic():
        # One user's uploads are counted with their row locked: parallel starts cannot all pass.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        _refuse_beyond_limits(owner=owner, size=size)
        upload = Upload.objects.create(owner=owner, platform=platform, filename=Path(filename).name[:255], size=size)
    path = partial_path(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    if tail:
        tail_path(upload).write_bytes(tail)
    return upload


def _what_it_is(head: bytes) -> str:
    ext, _ = sniff(head)
    if ext == "txt":
        return "plain text"
    if ext == "html":
        return "a web page"
    return f"a {ext.upper()} file" if ext else "data no archive starts with"


def _check_first_piece(upload: Upload) -> None:
    """The file's type from its first bytes, and for a ZIP its directory from the tail: refused
    (and removed) before another piece is sent."""
    with open(partial_path(upload), "rb") as f:
        head = f.read(512)
    kind = archive_kind(head)
    tail = tail_path(upload)
    try:
        if kind is None:
            raise UploadError(
                f"{upload.filename} is not an archive: it holds {_what_it_is(head)}, not a ZIP or tar.gz "
                "file. Upload the file the platform gave you.",
                status=415,
                field="file",
            )
        if kind == "zip" and tail.exists():
            try:
                archive_tail_check(tail.read_bytes(), size=upload.size, platform_slug=upload.platform_id)
            except ExtractorError as exc:
                raise UploadError(f"{upload.filename}: {exc.message}", status=422, field="file") from exc
    except UploadError:
        upload_discard(upload)
        raise
    tail.unlink(missing_ok=True)


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
    if offset == 0:
        _check_first_piece(upload)
    return upload.received


def upload_parts_of(upload: Upload, part_ids) -> list[Upload]:
    """`upload` and the other parts of the same download (their ids), the owner's, in order."""
    try:
        ids = [str(uuid.UUID(str(i))) for i in part_ids if str(i) != str(upload.id)]
    except ValueError:
        raise UploadError("Name the other parts by their upload ids.", field="parts") from None
    if len(set(ids)) != len(ids):
        raise UploadError("A part is named twice.", field="parts")
    found = {str(u.id): u for u in Upload.objects.filter(id__in=ids, owner_id=upload.owner_id)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise UploadError(f"No upload {missing[0]} of yours to join.", status=404, field="parts")
    return [upload, *(found[i] for i in ids)]


def upload_finish(upload: Upload, *, parts=(), skip_sensitive: bool = False) -> ExportJob:
    """Check the complete file — with `parts`, the other uploads of a download split in several
    (Takeout's `-002.zip`, …) — as the import will read it, then move it into storage and start one
    import (without messages and history when the person asked to leave them out). A damaged
    archive, or one of another platform, is removed with its parts: no job, no email, no history."""
    if upload.job_id:
        return upload.job
    every = upload_parts_of(upload, parts)
    for part in every:
        if part.job_id:
            raise UploadError(f"{part.filename} belongs to another import already.", status=409, field="parts")
        if part.platform_id != upload.platform_id:
            raise UploadError(f"{part.filename} was announced for another platform.", field="parts")
        if not part.complete:
            raise UploadError(f"{part.filename} has {part.received} of {part.size} bytes.", status=409)
    _inspect_or_discard(every)
    job_id = uuid.uuid4()
    names = []
    try:
        for part in every:
            name = upload_name_for(upload.owner_id, job_id, part.filename)
            with open(partial_path(part), "rb") as f:
                names.append(default_storage.save(name, File(f, name=name)))
        with transaction.atomic():
            job = import_job_create(
                owner=upload.owner,
                platform_slug=upload.platform_id,
                upload_name=names[0],
                upload_size=upload.size,
                job_id=job_id,
                skip_sensitive=skip_sensitive,
                upload_parts=names[1:],
            )
            # Only open parts are taken: a second finish of the same parts cannot start a second job.
            taken = Upload.objects.filter(id__in=[p.id for p in every], job__isnull=True).update(job=job)
            if taken != len(every):
                raise UploadError("These uploads were just finished by another request.", status=409)
    except ExportRequestError:
        for name in names:
            default_storage.delete(name)
        raise
    for part in every:
        partial_path(part).unlink(missing_ok=True)
        tail_path(part).unlink(missing_ok=True)
    return job


def _inspect_or_discard(every: list[Upload]) -> None:
    """Open the complete parts as the import will, and refuse a damaged, hostile or foreign archive."""
    try:
        with ExitStack() as stack:
            files = [(stack.enter_context(open(partial_path(p), "rb")), p.size) for p in every]
            archive_inspect(files, platform_slug=every[0].platform_id, names=[p.filename for p in every])
    except ExtractorError as exc:
        for part in every:
            upload_discard(part)
        # One file refused whole is named; a refusal of several parts names its part itself.
        message = exc.message if len(every) > 1 else f"{every[0].filename}: {exc.message}"
        raise UploadError(message, status=422, field="file") from exc
    except FileNotFoundError as exc:
        raise UploadError("The uploaded bytes are gone from the server; upload the file again.", status=410) from exc


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
        tail_path(upload).unlink(missing_ok=True)
        # Only if it is still open: a finish that won the race keeps its row.
        removed += Upload.objects.filter(id=upload.id, job__isnull=True).delete()[0]
    folder = uploads_dir()
    if folder.is_dir():
        known = {str(i) for i in Upload.objects.filter(job__isnull=True).values_list("id", flat=True)}
        for path in [*folder.glob("*.part"), *folder.glob("*.tail")]:
            try:
                if path.stem not in known and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
    if removed:
        log.info("Removed %d abandoned uploads and partial files", removed)
    return removed
