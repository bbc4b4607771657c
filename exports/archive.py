"""The archive (DESIGN §2), streamed: ZIP members are generated and hashed as they are written,
so neither the ZIP nor its JSON is ever whole in memory or on local disk. Media that already
compress are stored; text is deflated; ZIP64 when needed (zipstream-ng); the manifest comes last
and covers every member before it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Min
from django.utils import timezone
from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from exports import library
from exports.claims import job_advance, job_renew_lease
from exports.conf import setting
from exports.models import ExportJob, MediaFile
from exports.naming import UniqueNames, media_archive_path
from exports.progress import finished_text
from exports.tabular import MAX_COLUMNS, columns_within_cap, flatten, safe_row
from platforms.registry import get_extractor

ALREADY_COMPRESSED = {"jpg", "jpeg", "png", "gif", "webp", "heic", "mp4", "mov", "webm", "zip", "gz"}
FAILURE_FIELDS = ["record_id", "media_id", "source_url", "reason"]
VIEWER = Path(__file__).resolve().parent / "viewer" / "index.html"
READ_CHUNK = 1 << 20


@dataclass
class ArchiveResult:
    name: str
    size: int
    sha256: str


class Hashed:
    """Wraps a member's bytes so its SHA-256 is known once zipstream has consumed it."""

    def __init__(self, chunks: Iterable[bytes], digests: dict[str, str], path: str):
        self.chunks, self.digests, self.path = chunks, digests, path

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        for chunk in self.chunks:
            digest.update(chunk)
            yield chunk
        self.digests[self.path] = digest.hexdigest()


class IterReader(io.RawIOBase):
    """A read-only file over an iterator of bytes, for Storage.save (S3 uploads it in parts)."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = iter(chunks)
        self.buffer = b""
        self.total = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self.buffer))
        target[:n] = self.buffer[:n]
        self.digest.update(self.buffer[:n])
        self.buffer = self.buffer[n:]
        self.total += n
        return n


def archive_name_for(job: ExportJob) -> str:
    return f"archives/{job.owner_id}/{job.id}/{job.base_name}.zip"


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode()


def _records(job: ExportJob):
    return (
        job.records.order_by("position")
        .only("job", "resource", "external_id", "data", "timestamp")
        .iterator(chunk_size=500)
    )


def _resources(job: ExportJob) -> list[str]:
    """The job's resources in the order they were first fetched."""
    firsts = job.records.values("resource").annotate(first=Min("position")).order_by("first")
    return [row["resource"] for row in firsts]


def media_plan(job: ExportJob) -> list[MediaFile]:
    """Give every downloaded file its unique, safe path inside the ZIP (stable across re-runs)."""
    names = UniqueNames()
    files = list(job.media_files.filter(status=MediaFile.Status.DONE).order_by("id"))
    for media_file in files:
        media_file.archive_path = media_archive_path(
            names,
            platform=job.platform_id,
            kind=media_file.kind,
            timestamp=media_file.timestamp,
            media_id=media_file.media_id,
            ext=media_file.ext,
        )
    MediaFile.objects.bulk_update(files, ["archive_path"], batch_size=500)
    return files


def failures_of(job: ExportJob) -> list[dict]:
    rows = []
    for media_file in job.media_files.filter(status=MediaFile.Status.FAILED).order_by("id"):
        rows.append(
            {
                "record_id": (media_file.record_ids or [""])[0],
                "media_id": media_file.media_id,
                "source_url": media_file.source_url,
                "reason": media_file.last_error or "not downloaded",
            }
        )
    return rows


def sidecar(job: ExportJob, media_file: MediaFile) -> dict:
    return {
        "original_id": media_file.media_id,
        "platform": job.platform_id,
        "kind": media_file.kind,
        "source_url": media_file.source_url,
        "timestamp": media_file.timestamp or None,
        "caption": media_file.caption,
        "record_id": (media_file.record_ids or [""])[0],
        "record_ids": media_file.record_ids,
        "size": media_file.size,
        "sha256": media_file.sha256,
        "content_type": media_file.content_type,
        "path": media_file.archive_path,
        **{k: v for k, v in (media_file.extra or {}).items() if k not in ("sha256", "size", "path")},
    }


def json_document(job: ExportJob, exported_at: str, media: list[MediaFile], failures: list[dict]) -> Iterator[bytes]:
    """`{platform}-export-{id}.json`, written record by record."""
    head = {"platform": job.platform_id, "job_id": str(job.id), "exported_at": exported_at, "account": job.account}
    yield _json_bytes(head)[:-1] + b', "records": {'
    for n, resource in enumerate(_resources(job)):
        yield (b", " if n else b"") + _json_bytes(resource) + b": ["
        rows = job.records.filter(resource=resource).order_by("position").only("job", "data").iterator(chunk_size=500)
        for i, record in enumerate(rows):
            yield (b", " if i else b"") + _json_bytes(record.data)
        yield b"]"
    yield b'}, "media": '
    yield _json_bytes(
        [
            {
                "path": m.archive_path,
                "media_id": m.media_id,
                "record_ids": m.record_ids,
                "sha256": m.sha256,
                "size": m.size,
            }
            for m in media
        ]
    )
    yield b', "failures": ' + _json_bytes(failures) + b', "notes": ' + _json_bytes(job.notes)
    # Which sources (the API, an official archive) saw each record, from the user's library.
    yield b', "sources": ' + _json_bytes(library.sources_of(job)) + b"}\n"


def csv_document(job: ExportJob) -> Iterator[bytes]:
    """One row per record: `resource`, `id`, then the union of flattened fields (two passes),
    kept to DESIGN §2's 400 columns and free of spreadsheet formulas."""
    seen: dict[str, None] = {}
    for record in _records(job):
        for key in flatten(record.data):
            seen.setdefault(key, None)
    whole = columns_within_cap(c for c in seen if c not in ("resource", "id"))
    columns: dict[str, None] = {}
    for key in seen:
        top = key.split(".", 1)[0]
        columns.setdefault(top if top in whole else key, None)
    fields = [c for c in columns if c not in ("resource", "id")]
    # Hundreds of top-level fields cannot be folded further: the rest share one JSON column.
    keep = MAX_COLUMNS - 3 if len(fields) + 2 > MAX_COLUMNS else len(fields)
    fields, rest = fields[:keep], set(fields[keep:])
    header = ["resource", "id", *fields, *(["more"] if rest else [])]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    for n, record in enumerate(_records(job), 1):
        row = flatten(record.data, whole=whole)
        row.pop("resource", None)
        if rest:
            row["more"] = json.dumps({k: row.pop(k) for k in list(row) if k in rest}, ensure_ascii=False, default=str)
        row["resource"], row["id"] = record.resource, record.external_id
        writer.writerow(safe_row(row))
        if n % 200 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def failures_csv(failures: list[dict], fields: list[str] = FAILURE_FIELDS) -> bytes:
    """Always written: the header alone says nothing is missing (DESIGN §2). changes.csv too."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_row(row) for row in failures)
    return buffer.getvalue().encode()


def viewer_html(job: ExportJob, media: list[MediaFile], exported_at: str) -> bytes:
    """The offline viewer: one self-contained page, its data inlined, media linked relatively."""
    extractor = get_extractor(job.platform_id)
    by_record: dict[str, list[dict]] = {}
    for m in media:
        for record_id in m.record_ids:
            by_record.setdefault(record_id, []).append({"path": m.archive_path, "kind": m.kind, "caption": m.caption})
    items = []
    for record in _records(job):
        summary = extractor.summary(record.resource, record.data)
        items.append(
            {
                "resource": record.resource,
                "id": record.external_id,
                "date": record.timestamp,
                "title": summary.get("title", ""),
                "text": summary.get("text", ""),
                "link": summary.get("link", ""),
                "media": by_record.get(record.external_id, []),
            }
        )
    items.sort(key=lambda item: item["date"] or "", reverse=True)
    data = {"platform": job.platform.display_name, "job_id": str(job.id), "exported_at": exported_at, "records": items}
    # No record text may change the HTML parser's state inside <script> ("</script>", "<!--"):
    # every "<" is written as its JSON escape, which the script reads back unchanged.
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return VIEWER.read_text().replace("__STAREXPORT_DATA__", payload).encode()


def media_chunks(storage, name: str) -> Iterator[bytes]:
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:
        # django-storages' S3 file reads the whole object before the first byte; stream it instead.
        body = bucket.Object(storage._normalize_name(name)).get()["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as f:
        while block := f.read(READ_CHUNK):
            yield block


def archive_build(job: ExportJob, *, on_progress: Callable[[str], None] | None = None, storage=None) -> ArchiveResult:
    storage = storage or default_storage
    exported_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    media = media_plan(job)
    failures = failures_of(job)
    digests: dict[str, str] = {}
    order: list[str] = []
    stream = ZipStream(compress_type=ZIP_DEFLATED, sized=False)

    def add(chunks, path: str, compressed: bool = False) -> None:
        order.append(path)
        if isinstance(chunks, bytes):
            chunks = [chunks]
        if compressed:
            stream.add(Hashed(chunks, digests, path), path, compress_type=ZIP_STORED)
        else:
            stream.add(Hashed(chunks, digests, path), path, compress_type=ZIP_DEFLATED, compress_level=6)

    add(json_document(job, exported_at, media, failures), f"{job.base_name}.json")
    if "csv" in job.formats:
        add(csv_document(job), f"{job.base_name}.csv")

    def media_member(media_file: MediaFile, index: int) -> Iterator[bytes]:
        if on_progress and index % 25 == 0:
            on_progress(f"Writing the archive: {index}/{len(media)} media files")
        yield from media_chunks(storage, media_file.stored_name)

    for index, media_file in enumerate(media):
        add(media_member(media_file, index), media_file.archive_path, media_file.ext.lower() in ALREADY_COMPRESSED)
        add(
            json.dumps(sidecar(job, media_file), ensure_ascii=False, indent=2).encode(),
            media_file.archive_path + ".meta.json",
        )
    add(viewer_html(job, media, exported_at), "index.html")
    add(failures_csv(failures), "failures.csv")
    if (changes := library.job_changes(job)) is not None:
        fields = ["resource", "record_id", "change"]
        add(failures_csv([dict(zip(fields, row, strict=True)) for row in changes], fields), "changes.csv")

    def manifest() -> Iterator[bytes]:
        # Generated last, when every member before it has been hashed.
        yield "".join(f"{digests[path]}  {path}\n" for path in order).encode()

    stream.add(manifest(), "manifest-sha256.txt", compress_type=ZIP_DEFLATED)

    name = archive_name_for(job)
    if storage.exists(name):
        storage.delete(name)  # a re-run replaces a half-written archive of an earlier attempt
    reader = IterReader(stream)
    try:
        # Buffered so that read(n) returns n bytes: S3 then sees a large body and uploads it in parts.
        saved = storage.save(name, File(io.BufferedReader(reader, buffer_size=READ_CHUNK), name=name))
    except BaseException:
        # A half-written archive on local disk (a full disk) is removed. On S3 an upload that
        # fails is aborted by boto3 and leaves no object; asking a storage that is away would
        # only hang here.
        try:
            partial = Path(storage.path(name))
        except NotImplementedError:
            partial = None
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    return ArchiveResult(name=saved, size=reader.total, sha256=reader.digest.hexdigest())


def job_archive(job: ExportJob) -> bool:
    """The archive step: the library learns the job's files, the ZIP is written, the job ends."""
    library.media_sync(job)
    result = archive_build(job, on_progress=lambda text: job_renew_lease(job, step=text))
    return job_advance(
        job,
        ExportJob.Status.SUCCEEDED,
        progress=100,
        step=finished_text(job),
        archive_name=result.name,
        archive_size=result.size,
        archive_sha256=result.sha256,
        expires_at=timezone.now() + timedelta(days=setting("ARCHIVE_DAYS")),
    )
