"""The one way records and media enter a job and the user's library.

The API fetch, the archive importers and the library all write through here, so a fix made for
one path holds for every path: ids are cleaned and long ones shortened with a hash, text loses
what PostgreSQL refuses (NUL, lone surrogates), each record is kept once per job and added to the
library, and each media id is one `MediaFile` carrying every record id that uses it. Bytes are
verified (not empty, within the platform's limit, really of their kind) and stored once per owner
under their checksum (DESIGN §1), whether they came from a download or out of an archive.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction

from exports import library
from exports.models import ExportJob, ExportRecord, MediaFile
from platforms.mediatypes import EXT_MIME, WEB_FILE_EXTS, format_aliases, size_text, sniff
from platforms.safety import http_url

ID_LENGTH = 255
URL_LENGTH = 4096
CHUNK = 1 << 20
HEAD = 4096


# --- text and ids ------------------------------------------------------------------------------
def stored_id(value: Any) -> str:
    """An id as the database keeps it: ids longer than the column are shortened with a hash of
    the whole, so they stay unique (the record's data keeps the original)."""
    value = clean(str(value if value is not None else ""))
    if len(value) <= ID_LENGTH:
        return value
    return f"{value[:200]}~{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def clean(value: Any) -> Any:
    """Text as PostgreSQL's text and jsonb accept it: U+0000 removed, a lone surrogate (valid in
    JSON, not in UTF-8) replaced by U+FFFD. A platform that sends either must not fail a job."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A str holds a surrogate only when it is alone (a pair decodes to one character).
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
        return value
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


# --- records -----------------------------------------------------------------------------------
class RecordWriter:
    """Adds a job's records in batches: to the job (one row per resource and id) and the library."""

    BATCH = 200

    def __init__(self, job: ExportJob):
        self.job = job
        self.position = job.records.count()
        self.batch: list[ExportRecord] = []
        self.seen: set[tuple[str, str]] = set()
        self.added = 0
        self.new = 0
        self.skipped: list[dict] = []

    def add(self, resource: str, record: dict, *, record_id: Any, timestamp: str | None) -> ExportRecord | None:
        """Queue one record; None when the same id was already added in this run (kept once,
        and said in the job's skipped list)."""
        self.position += 1
        external_id = stored_id(record_id) or f"#{self.position}"
        if (resource, external_id) in self.seen:
            self.skipped.append(
                {"resource": resource, "record_id": external_id, "reason": "the same id came twice; kept once"}
            )
            return None
        self.seen.add((resource, external_id))
        row = ExportRecord(
            job=self.job,
            resource=resource,
            external_id=external_id,
            position=self.position,
            timestamp=clean(timestamp or "")[:32],
            data=clean(record),
        )
        self.batch.append(row)
        self.added += 1
        return row

    def full(self) -> bool:
        return len(self.batch) >= self.BATCH

    def flush(self) -> int:
        """Write the queued records; returns how many were new to the library."""
        if not self.batch:
            return 0
        ExportRecord.objects.bulk_create(self.batch, ignore_conflicts=True)
        new = library.records_upsert(self.job, self.batch)
        self.new += new
        self.batch = []
        return new


# --- media rows --------------------------------------------------------------------------------
NOT_HTTP = "refused: the address is not an http(s) URL"


class MediaWriter:
    """One `MediaFile` per media id of the job; the same file reached from two records is one row
    with both record ids. Rows are written in batches; `flush` before reading them back."""

    def __init__(self, job: ExportJob):
        self.job = job
        self.rows: dict[str, MediaFile] = {m.media_id: m for m in job.media_files.all()}
        self.created: list[MediaFile] = []
        self.changed: dict[str, MediaFile] = {}
        self.count = 0

    def known(self, media_id: Any) -> MediaFile | None:
        return self.rows.get(stored_id(media_id))

    def add(
        self,
        item,
        *,
        status: str = MediaFile.Status.PENDING,
        reason: str = "",
        stored: Stored | None = None,
        extra: dict | None = None,
    ) -> MediaFile:
        """Record a media item (an extractor's MediaItem, or an importer's ImportedMedia):
        pending for the downloader, done with its `stored` bytes, or failed with the `reason`."""
        media_id, record_id = stored_id(item.media_id), stored_id(item.record_id)
        existing = self.rows.get(media_id)
        if existing is not None:
            self.also_used_by(existing, record_id)
            return existing
        url = clean(item.url or "")
        if url and not http_url(url) and status == MediaFile.Status.PENDING:
            status, reason = MediaFile.Status.FAILED, NOT_HTTP
        row = MediaFile(
            job=self.job,
            media_id=media_id,
            source_url=url[:URL_LENGTH],
            kind=item.kind,
            ext=(item.ext or "")[:16],
            record_ids=[record_id],
            timestamp=clean(item.timestamp or "")[:32],
            caption=clean(item.caption or ""),
            extra=clean({**(item.extra or {}), **(extra or {}), **_expected(item)}),
            status=status,
            last_error=reason[:2000],
        )
        if stored is not None:
            row.status = MediaFile.Status.DONE
            row.size, row.sha256 = stored.size, stored.sha256
            row.content_type, row.stored_name = stored.content_type, stored.stored_name
            row.ext = (stored.ext or row.ext)[:16]
        self.rows[media_id] = row
        self.created.append(row)
        self.count += 1
        return row

    def add_reused(self, row: MediaFile) -> MediaFile:
        """A file the library verified before, taken instead of being downloaded again."""
        existing = self.rows.get(row.media_id)
        if existing is not None:
            for record_id in row.record_ids:
                self.also_used_by(existing, record_id)
            return existing
        self.rows[row.media_id] = row
        self.created.append(row)
        self.count += 1
        return row

    def also_used_by(self, row: MediaFile, record_id: str) -> None:
        if record_id not in row.record_ids:
            row.record_ids = [*row.record_ids, record_id]
            if row.pk:
                self.changed[row.media_id] = row

    def flush(self) -> None:
        if self.created:
            try:
                with transaction.atomic():
                    MediaFile.objects.bulk_create(self.created, batch_size=500)
            except IntegrityError:
                # A row an earlier run of this step wrote meanwhile: keep theirs, add ours.
                for row in self.created:
                    row.pk = None
                MediaFile.objects.bulk_create(self.created, batch_size=500, ignore_conflicts=True)
            missing = [row.media_id for row in self.created if row.pk is None]
            if missing:
                ids = dict(self.job.media_files.filter(media_id__in=missing).values_list("media_id", "id"))
                for media_id in missing:
                    self.rows[media_id].pk = self.rows[media_id].id = ids.get(media_id)
            self.created = []
        if self.changed:
            MediaFile.objects.bulk_update(list(self.changed.values()), ["record_ids"], batch_size=500)
            self.changed = {}

    def add_many(self, items: Iterable, *, reuse: bool = False) -> None:
        """The API fetch's media of one page; with `reuse`, files the library verified before are
        taken from it (only what is new is downloaded)."""
        items = list(items)
        fresh = [i for i in items if stored_id(i.media_id) not in self.rows]
        reusable = library.media_reusable(self.job, [stored_id(i.media_id) for i in fresh]) if reuse else {}
        for item in items:
            media_id = stored_id(item.media_id)
            if media_id in reusable and media_id not in self.rows:
                self.add_reused(
                    library.reused_media_file(self.job, reusable[media_id], record_ids=[stored_id(item.record_id)])
                )
            else:
                self.add(item)
        self.flush()


# --- bytes -------------------------------------------------------------------------------------
@dataclass
class Stored:
    size: int
    sha256: str
    content_type: str
    ext: str
    stored_name: str


class MediaRefused(Exception):
    """The bytes are not what the record promised (or could not be kept); `reason` is for a person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def stored_name_for(owner_id: int, sha256: str) -> str:
    return f"media/{owner_id}/{sha256[:2]}/{sha256}"


def disk_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the server's disk to keep this file"
    return f"could not write the file on the server ({exc.strerror or type(exc).__name__})"


def media_verify_and_store(
    open_bytes: Callable[[], IO[bytes]],
    *,
    kind: str,
    ext: str,
    platform,
    owner_id: int,
    origin: str,
    storage=None,
    sha256: str | None = None,
    size: int | None = None,
    move_from: Path | None = None,
    spool_dir: Path | None = None,
) -> Stored:
    """Check a file and keep it under its content address; MediaRefused says why not.

    `open_bytes` opens the file from the start (a finished download, a member of an archive);
    `origin` says where it came from in messages ("the server sent", "the archive holds"). The
    address is the checksum, known only after a first pass; the second pass stores the bytes
    (unless the same bytes are stored already) and checks that it stored those very bytes.

    A caller that hashed the bytes on their way in (the downloader) passes their `sha256` and
    `size`: only the head is read then, for the type. With `move_from` (that file, on local
    storage on the same file system), the file itself becomes the stored copy, by a rename.

    With `spool_dir` (a folder of local disk), bytes whose checksum is not known yet (a member of
    an archive) are read once: hashed on their way into a file there, which is then checked and
    moved into place as a download's file is, instead of read a second time to be stored.
    """
    storage = storage or default_storage
    if spool_dir is not None and sha256 is None:
        return _spool_and_store(
            open_bytes,
            spool_dir=spool_dir,
            kind=kind,
            ext=ext,
            platform=platform,
            owner_id=owner_id,
            origin=origin,
            storage=storage,
        )
    if sha256 is not None and size is not None:
        with open_bytes() as f:
            head = f.read(HEAD)
    else:
        digest, size, head = hashlib.sha256(), 0, b""
        with open_bytes() as f:
            while block := f.read(CHUNK):
                if len(head) < HEAD:
                    head += block[: HEAD - len(head)]
                digest.update(block)
                size += len(block)
        sha256 = digest.hexdigest()
    if size == 0:
        raise MediaRefused(f"{origin} an empty file")
    if size > platform.max_file_size:
        raise MediaRefused(
            f"the file is {size_text(size)}, over {platform.display_name}'s limit of {size_text(platform.max_file_size)}"
        )
    sniffed, mime = sniff(head)
    # A page or feed is fine as a file the user owns (a gist's index.html); never as media.
    if sniffed == "html" and not (kind == "file" and (ext or "") in WEB_FILE_EXTS):
        article = "an" if kind == "image" else "a"
        raise MediaRefused(f"{origin} a web page (HTML) instead of {article} {kind}")
    if kind == "file":
        ext = ext or sniffed or "bin"
        mime = EXT_MIME.get(ext, mime or "application/octet-stream")
    else:
        allowed = platform.allowed_formats(kind)
        shown = sniffed.upper() if sniffed else "of an unknown type"
        # A platform whose API never hands out this kind (YouTube's videos) lists no formats for
        # it; the archive's own originals are still the user's to keep, when they are that kind.
        fits = sniffed in format_aliases(allowed) if allowed else mime.startswith(f"{kind}/")
        if not fits:
            raise MediaRefused(
                f"the file is {shown}, which is not one of {platform.display_name}'s {kind} formats "
                f"({', '.join(allowed) or kind + 's'})"
            )
        ext = sniffed
    name = stored_name_for(owner_id, sha256)
    try:
        if storage.exists(name) and storage.size(name) != size:
            # Left cut short by a failed save (a full disk): never take it for the stored copy.
            storage.delete(name)
        # Unless the same bytes are stored already, or the file itself has just become the copy:
        if not storage.exists(name) and not (move_from is not None and _moved(move_from, storage, name)):
            with open_bytes() as f:
                hashing = _Hashing(f)
                try:
                    saved = storage.save(name, File(io.BufferedReader(hashing, CHUNK), name=name))
                except BaseException:
                    if storage.exists(name) and storage.size(name) != size:
                        storage.delete(name)
                    raise
            if hashing.digest.hexdigest() != sha256:
                storage.delete(saved)
                raise MediaRefused("the file read differently twice (it changed while being stored)")
            name = saved
    except OSError as exc:
        raise MediaRefused(disk_problem(exc)) from exc
    return Stored(size=size, sha256=sha256, content_type=mime, ext=ext, stored_name=name)


def _spool_and_store(open_bytes: Callable[[], IO[bytes]], *, spool_dir: Path, **check) -> Stored:
    platform = check["platform"]
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"spool-{os.urandom(8).hex()}"
    digest, size = hashlib.sha256(), 0
    try:
        with open_bytes() as f, open(path, "wb") as out:
            while block := f.read(CHUNK):
                digest.update(block)
                size += len(block)
                # Past the platform's limit the file is refused: counted to say by how much, not kept.
                if size <= platform.max_file_size:
                    out.write(block)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise MediaRefused(disk_problem(exc)) from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        return media_verify_and_store(
            lambda: open(path, "rb"), sha256=digest.hexdigest(), size=size, move_from=path, **check
        )
    finally:
        path.unlink(missing_ok=True)


def _moved(path: Path, storage, name: str) -> bool:
    """Rename `path` to `name` in local storage; False where that cannot be (another kind of
    storage, another file system), and the bytes are copied instead."""
    if not isinstance(storage, FileSystemStorage):
        return False
    target = Path(storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Same bytes under the same address: replacing a copy another thread just stored is harmless.
        os.replace(path, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise
    if storage.file_permissions_mode is not None:
        os.chmod(target, storage.file_permissions_mode)
    return True


class _Hashing(io.RawIOBase):
    """The second pass, hashed again as storage consumes it."""

    def __init__(self, f: IO[bytes]):
        self.f = f
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self.f.read(len(target))
        self.digest.update(data)
        target[: len(data)] = data
        return len(data)


def _expected(item) -> dict:
    """The size the platform gave for the file, kept for the job's estimate before downloading."""
    size = getattr(item, "expected_size", None)
    return {"expected_size": size} if size else {}
