"""Imports: an official archive the user uploaded, turned into the records and media of an export
(DESIGN §1, §5 `import_archive`).

The platform's importer (`platforms/<slug>/importer.py`, contract in `platforms/importer.py`)
reads the archive safely and yields records and media; this module writes them through the one
record and media writer (`exports/writer.py`), as the API fetch does: MediaFile rows are stored
from the archive ("done"), left for the downloader ("pending", when only a URL is known) or
"failed" with the reason.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from exports.claims import job_renew_lease
from exports.dispatch import enqueue_step
from exports.jobs import ExportRequestError, running_jobs_check
from exports.models import ExportJob, MediaFile
from exports.naming import safe_component
from exports.progress import FETCH_SHARE_WITH_MEDIA
from exports.writer import (
    MediaRefused,
    MediaWriter,
    RecordWriter,
    Stored,
    media_verify_and_store,
    size_text,
    stored_name_for,
)
from platforms.base import ExtractorError
from platforms.importer import (
    CHUNK,
    ArchiveReader,
    BaseImporter,
    ImportedMedia,
    archive_check_platform,
    archive_open_parts,
)
from platforms.models import Platform
from platforms.registry import available, importer_available

MISSING = "not in the archive and no URL to fetch it from"
UNREAD_ONE_BY_ONE = 20
FINAL_CODES = ("refused", "damaged", "wrong_platform")


def upload_name_for(owner_id: int, job_id, basename: str) -> str:
    return f"uploads/{owner_id}/{job_id}/{safe_component(basename)}"


def import_job_create(
    *,
    owner,
    platform_slug: str,
    upload_name: str,
    upload_size: int | None,
    job_id: uuid.UUID | None = None,
    enqueue: bool = True,
    skip_sensitive: bool = False,
    upload_parts: list[str] | None = None,
) -> ExportJob:
    """An export job whose records come from an uploaded archive. Unlike an API export it needs no
    connected account (media the archive lacks are fetched from public URLs)."""
    platform = Platform.objects.filter(slug=platform_slug).first()
    if platform is None or not available(platform_slug) or not importer_available(platform_slug):
        raise ExportRequestError(f"Unknown platform {platform_slug!r}.", field="platform")
    if not platform.enabled:
        raise ExportRequestError(f"{platform.display_name} exports are switched off by the operator.", field="platform")
    formats = ["json", *(["csv"] if "csv" in platform.export_formats else [])]
    with transaction.atomic():
        running_jobs_check(owner)
        job = ExportJob.objects.create(
            id=job_id or uuid.uuid4(),
            owner=owner,
            platform=platform,
            source=ExportJob.Source.ARCHIVE,
            upload_name=upload_name,
            upload_size=upload_size,
            formats=formats,
            include_media=True,
            options={
                **({"skip_sensitive": True} if skip_sensitive else {}),
                **({"upload_parts": list(upload_parts)} if upload_parts else {}),
            },
            step="Waiting for a worker",
        )
        if enqueue:
            enqueue_step(job)
    return job


# --- the fetch step of an import ---------------------------------------------------------------
def media_pack(reader: ArchiveReader, folder: str, *, job: ExportJob) -> Stored:
    """Every member under `folder` as one ZIP, stored under its content address. The ZIP is written
    once, to the job's own temporary folder, then moved into storage; nothing else touches disk."""
    from zipstream import ZIP_STORED, ZipStream

    platform = job.platform
    members = [n for n in reader.namelist() if n.startswith(folder)]
    declared = sum(reader.size(n) for n in members)
    if declared > platform.max_file_size:
        raise MediaRefused(
            f"the folder is {size_text(declared)}, over {platform.display_name}'s limit of "
            f"{size_text(platform.max_file_size)}"
        )
    # Paths inside the ZIP start at the folder itself (`name.git/HEAD`), as it would unpack.
    parent = folder.rstrip("/").rsplit("/", 1)[0] + "/" if "/" in folder.rstrip("/") else ""
    stream = ZipStream(compress_type=ZIP_STORED)

    def chunks(name: str):
        with reader.open(name) as f:
            while block := f.read(CHUNK):
                yield block

    for name in members:
        stream.add(chunks(name), name[len(parent) :])
    temp = job_temp_dir(job)
    path = temp / (hashlib.sha1(folder.encode()).hexdigest() + ".zip")
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "wb") as out:
            for block in stream:
                digest.update(block)
                size += len(block)
                out.write(block)
        sha256 = digest.hexdigest()
        name = stored_name_for(job.owner_id, sha256)
        if not default_storage.exists(name):
            with open(path, "rb") as f:
                name = default_storage.save(name, File(f, name=name))
    finally:
        path.unlink(missing_ok=True)
        _remove_empty(temp)
    return Stored(size=size, sha256=sha256, content_type="application/zip", ext="zip", stored_name=name)


def job_temp_dir(job: ExportJob) -> Path:
    """The one place on local disk an import may write: beside the downloader's partial files."""
    path = Path(settings.VAR_DIR) / "partial" / str(job.id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_empty(path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


class ImportRecorder:
    """Writes what an importer yields through the record and media writers, reporting progress."""

    def __init__(self, job: ExportJob, reader: ArchiveReader, importer: BaseImporter):
        self.job, self.reader, self.importer = job, reader, importer
        importer.skip_sensitive = bool((job.options or {}).get("skip_sensitive"))
        self.platform = job.platform
        self.records = RecordWriter(job)
        self.media = MediaWriter(job)
        self.missing = 0
        self.first: str | None = None
        self.last: str | None = None
        self.account_record: dict | None = None
        self.last_report = 0.0

    def run(self) -> None:
        account_resource = self.importer.extractor.account_resource
        for resource, record, media in self.importer.records(self.reader):
            self.add(resource, record)
            if resource == account_resource and self.account_record is None:
                self.account_record = record
            for item in media:
                self.add_media(item)
            if self.records.full():
                self.flush()
            self.report()
        self.flush()

    def add(self, resource: str, record: dict) -> None:
        timestamp = self.importer.record_timestamp(resource, record) or ""
        if timestamp and resource != self.importer.extractor.account_resource:
            self.first = min(self.first or timestamp, timestamp)
            self.last = max(self.last or timestamp, timestamp)
        self.records.add(resource, record, record_id=self.importer.record_id(resource, record), timestamp=timestamp)

    def flush(self) -> None:
        self.records.flush()
        self.media.flush()

    def add_media(self, item: ImportedMedia) -> None:
        if item.member and self.reader.exists(item.member):
            self.importer.used.add(item.member)
        if self.media.known(item.media_id) is not None:
            self.media.add(item)  # one file, one more record that uses it
            return
        if item.folder and any(n.startswith(item.folder) for n in self.reader.namelist()):
            self.importer.used.update(n for n in self.reader.namelist() if n.startswith(item.folder))
            self._keep(item, item.folder, lambda: media_pack(self.reader, item.folder, job=self.job), "archive_folder")
        elif item.member and self.reader.exists(item.member):
            self._keep(
                item,
                item.member,
                lambda: media_verify_and_store(
                    lambda: self.reader.open(item.member),
                    kind=item.kind,
                    ext=item.ext,
                    platform=self.platform,
                    owner_id=self.job.owner_id,
                    origin="the archive holds",
                    spool_dir=job_temp_dir(self.job),
                ),
                "archive_member",
            )
        else:
            extra = {}
            if item.member or item.folder:
                extra["missing_from_archive"] = item.member or item.folder
                self.missing += 1
            if item.url:
                self.media.add(item, extra=extra)
            else:
                # failures.csv names the file, so a person can find it (in another part of a split download).
                missing = item.member or item.folder
                reason = f"{missing}: {MISSING}" if missing else MISSING
                self.media.add(item, status=MediaFile.Status.FAILED, reason=reason, extra=extra)

    def _keep(self, item: ImportedMedia, source: str, store, key: str) -> None:
        try:
            stored = store()
        except (MediaRefused, ExtractorError) as exc:
            # One damaged photo costs that photo, not the whole import.
            reason = exc.reason if isinstance(exc, MediaRefused) else exc.message
            self.media.add(item, status=MediaFile.Status.FAILED, reason=f"{source}: {reason}", extra={key: source})
            return
        self.media.add(item, stored=stored, extra={key: source})

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_report < 1.0:
            return
        self.last_report = now
        share = FETCH_SHARE_WITH_MEDIA
        progress = min(share - 1, int(share * self.reader.bytes_read / max(1, self.reader.total)))
        job_renew_lease(
            self.job,
            step=f"Reading the archive: {self.records.added:,} records, {self.media.count:,} media files",
            progress=max(self.job.progress, progress),
        )

    def unread_notes(self) -> list[str]:
        """Every member of the archive the import did not read, with the reason: an import accounts
        for all of the archive. Many members left for one reason make one note that names them all."""
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.importer.unread(self.reader.namelist()).items():
            by_reason.setdefault(reason, []).append(name)
        notes = []
        for reason, names in by_reason.items():
            if len(names) <= UNREAD_ONE_BY_ONE:
                notes.extend(f"{name}: {reason}" for name in sorted(names))
            else:
                notes.append(f"{len(names):,} files, {reason}: {', '.join(sorted(names))}")
        return notes

    def coverage_note(self) -> str:
        if not self.first:
            return "The archive has no dated records."
        if self.first[:10] == self.last[:10]:
            return f"archive covers {self.first[:10]}"
        return f"archive covers {self.first[:10]} to {self.last[:10]}"


def job_import(job: ExportJob) -> None:
    """The fetch step of an import: check the uploaded archive, then record what it holds."""
    if not job.upload_name:
        raise ExtractorError("This import has no uploaded archive.")
    names = upload_names(job)
    try:
        with ExitStack() as stack:
            parts = []
            for position, name in enumerate(names):
                try:
                    upload = stack.enter_context(default_storage.open(name, "rb"))
                except (FileNotFoundError, OSError) as exc:
                    raise ExtractorError(
                        f"The uploaded archive is gone from storage ({exc}); upload it again."
                    ) from exc
                parts.append((upload, (job.upload_size or None) if position == 0 else None))
            reader = archive_open_parts(parts)
            try:
                importer = archive_check_platform(reader, job.platform_id)
                recorder = ImportRecorder(job, reader, importer)
                recorder.run()
                account = importer.account(reader) or recorder.account_record
            finally:
                reader.close()
                _remove_empty(Path(settings.VAR_DIR) / "partial" / str(job.id))
    except ExtractorError as exc:
        # Trying again cannot help an archive that was refused, and a hostile one is not kept.
        if exc.code in FINAL_CODES:
            for name in names:
                _delete_quietly(name)
        raise
    notes = [recorder.coverage_note(), *importer.notes, *recorder.unread_notes()]
    if recorder.missing:
        notes.append(
            f"{recorder.missing:,} files the archive's data names are not in it: they are fetched from the "
            "platform where a URL is known, and listed as missing otherwise. A platform that splits a large "
            "download into several parts keeps some files in the other parts."
        )
    ExportJob.objects.filter(id=job.id).update(
        account=account,
        notes=list(dict.fromkeys([*job.notes, *notes])),
        records_count=job.records.count(),
        new_records=recorder.records.new,
        skipped_records=[*importer.skipped, *recorder.records.skipped][:1000],
    )
    job.refresh_from_db()
    # The upload has served its purpose: what it held is now records and content-addressed media.
    for name in names:
        _delete_quietly(name)


def upload_names(job: ExportJob) -> list[str]:
    """The uploaded archive, and the other parts of the same download when it came in several."""
    return [job.upload_name, *(job.options or {}).get("upload_parts", [])]


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError:
        pass
