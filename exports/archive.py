"""The archive (DESIGN §2), streamed: ZIP members are generated and hashed as they are written,
so neither the ZIP nor its JSON is ever whole in memory or on local disk. Media that already
compress are stored; text is deflated; ZIP64 when needed (zipstream-ng); the manifest comes last
and covers every member before it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Min
from django.utils import timezone
from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from exports import encryption, library
from exports.claims import job_advance, job_renew_lease
from exports.conf import setting
from exports.models import ExportJob, MediaFile
from exports.naming import UniqueNames, media_archive_path
from exports.progress import finished_text
from exports.tabular import MAX_COLUMNS, columns_within_cap, flatten, safe_row
from platforms.registry import get_extractor
from platforms.safety import http_url

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
    suffix = encryption.SUFFIX if job.options.get("age_recipient") else ""
    return f"archives/{job.owner_id}/{job.id}/{job.base_name}.zip{suffix}"


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


def json_document(
    job: ExportJob, exported_at: str, media: list[MediaFile], failures: list[dict], *, archive_id=None
) -> Iterator[bytes]:
    """`{platform}-export-{id}.json`, written record by record (`archive_id`: the Everything
    export's id, for a part of one)."""
    head = {
        "platform": job.platform_id,
        "job_id": str(archive_id or job.id),
        "exported_at": exported_at,
        "account": job.account,
    }
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


TITLE_CHARS = 100
BARE_URL = re.compile(r"https?://[^\s<>\"]*[^\s<>\"().,;:!?'\]]")
ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 units each in the page's script


def _title_from(text: str) -> str:
    """A record without a title of its own is titled by its first line, cut at a word."""
    line = text.strip().split("\n", 1)[0].strip()
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut if len(cut) > TITLE_CHARS // 2 else line[:TITLE_CHARS]).rstrip(" ,.;:") + "…"


def _utf16(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-16-le")) // 2


def _link_spans(text: str, spans) -> list[list]:
    """The platform's link spans and any bare web address in the text, as [start, end, href] in
    the UTF-16 units a page's script counts; only http(s) links, none overlapping."""
    found = []
    for span in spans or []:
        start, end, href = span
        href = http_url(href)
        if href and 0 <= start < end <= len(text):
            found.append((start, end, href))
    taken = [(a, b) for a, b, _ in found]
    for match in BARE_URL.finditer(text) if "http" in text else ():
        if not any(a < match.end() and match.start() < b for a, b in taken) and http_url(match[0]):
            found.append((match.start(), match.end(), match[0]))
    found.sort()
    wide = ASTRAL.search(text) is not None
    spans_out, at = [], 0
    for start, end, href in found:
        if start >= at:
            spans_out.append([_utf16(text, start), _utf16(text, end), href] if wide else [start, end, href])
            at = end
    return spans_out


def _missing_by_record(part: ExportJob) -> dict[str, list[dict]]:
    """Each record's files that are not in the archive, with the reason (failures.csv's rows)."""
    missing: dict[str, list[dict]] = {}
    for media_file in part.media_files.filter(status=MediaFile.Status.FAILED).order_by("id"):
        entry = {
            "kind": media_file.kind,
            "name": media_file.media_id,
            "missing": media_file.last_error or "not downloaded",
        }
        for record_id in media_file.record_ids or []:
            missing.setdefault(record_id, []).append(entry)
    return missing


def viewer_kind(resource: str, summary: dict) -> str:
    """The kind of record in the platform's words ("Your comments"), or its resource's name."""
    return summary.get("resource_name") or resource.replace("_", " ").capitalize()


def viewer_item(
    *, platform: str, kind: str, record_id: str, date: str | None, summary: dict, media: list[dict]
) -> dict:
    """One record as the offline viewer reads it; empty fields are left out, so that a page of
    100,000 records stays small."""
    text = summary.get("text") or ""
    title = (summary.get("title") or "").strip()
    if not title or title == record_id:
        title = _title_from(text)
    item = {
        "platform": platform,
        "kind": kind,
        "id": record_id,
        "date": date or "",
        "title": title,
        "text": text,
        "links": _link_spans(text, summary.get("links")),
        "link": http_url(summary.get("link") or "") or "",
        "context": summary.get("context") or "",
        "media": media,
    }
    return {k: v for k, v in item.items() if v or k in ("id", "title")}


def viewer_html(job: ExportJob, parts: list[tuple[ExportJob, list[MediaFile]]], exported_at: str) -> bytes:
    """The offline viewer: one self-contained page, its data inlined, media linked relatively;
    one page for all the platforms of an Everything export (docs/viewer.md).

    Its Content-Security-Policy allows exactly the page's own inline script and style (by their
    sha256, taken here from the page itself) and media from beside it: nothing a record carries
    can run, load from elsewhere or post anywhere.
    """
    return b"".join(viewer_html_chunks(job, parts, exported_at))


def viewer_html_chunks(job: ExportJob, parts: list[tuple[ExportJob, list[MediaFile]]], exported_at: str):
    """viewer_html as it is written into the ZIP: in pieces, never the whole page in memory."""
    items = []
    for part, media in parts:
        extractor = get_extractor(part.platform_id)
        by_record = _missing_by_record(part)
        for m in media:
            for record_id in m.record_ids:
                by_record.setdefault(record_id, []).append(
                    {"path": m.archive_path, "kind": m.kind, "caption": m.caption}
                )
        for record in _records(part):
            summary = extractor.summary(record.resource, record.data)
            items.append(
                viewer_item(
                    platform=part.platform.display_name,
                    kind=viewer_kind(record.resource, summary),
                    record_id=record.external_id,
                    date=record.timestamp,
                    summary=summary,
                    media=by_record.get(record.external_id, []),
                )
            )
    yield from viewer_page_chunks(
        {"platform": job.platform.display_name, "job_id": str(job.id), "exported_at": exported_at, "records": items}
    )


FIRST_SCREEN = 60


def _script_json(value) -> str:
    # No record text may change the HTML parser's state inside <script> ("</script>", "<!--"):
    # every "<" is written as its JSON escape, which the script reads back unchanged.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def viewer_page(data: dict) -> bytes:
    """The viewer's page around `data` (its records newest first, undated last).

    The newest records come before the page's script (in an attribute) and the rest after it, so
    the first screen is drawn while the browser still reads the rest (tens of megabytes for
    100,000 records).
    """
    return b"".join(viewer_page_chunks(data))


VIEWER_BATCH = 500


def viewer_page_chunks(data: dict) -> Iterator[bytes]:
    """viewer_page in pieces: the records after the first screen are written a few hundred at a
    time (the same JSON array), so the page's text is never whole in memory beside its records."""
    records = sorted(data["records"], key=lambda item: item.get("date", ""), reverse=True)
    head = {
        **data,
        "total": len(records),
        # For the menus, before the page has read every record.
        "platforms": list(dict.fromkeys(item["platform"] for item in records)),
        "kinds": sorted({item["kind"] for item in records}),
        "records": records[:FIRST_SCREEN],
    }
    page = VIEWER.read_text()

    def sha256(pattern: str) -> str:
        body = re.search(pattern, page, re.DOTALL)[1]
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    page = page.replace("__SCRIPT_HASH__", sha256(r"<script>(.*?)</script>"))
    page = page.replace("__STYLE_HASH__", sha256(r"<style>(.*?)</style>"))
    # Both places are found before either is filled, so no record can name the other one.
    before, rest = page.split("__STAREXPORT_FIRST__", 1)
    between, after = rest.split("__STAREXPORT_DATA__", 1)
    # The first screen is an attribute's value: its quotes and ampersands are escaped as well.
    first = html.escape(_script_json(head), quote=True)
    yield (before + first + between + "[").encode()
    rest = range(FIRST_SCREEN, len(records), VIEWER_BATCH)
    for start in rest:
        batch = ",".join(_script_json(item) for item in records[start : start + VIEWER_BATCH])
        yield (batch if start == FIRST_SCREEN else "," + batch).encode()
    yield ("]" + after).encode()


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
    everything = job.is_everything
    parts = list(job.parts.filter(status=ExportJob.Status.SUCCEEDED).order_by("platform_id")) if everything else [job]
    planned = [(part, media_plan(part)) for part in parts]
    media_count = sum(len(media) for _, media in planned)
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

    failures = []
    for part, media in planned:
        part_failures = failures_of(part)
        failures.extend({"platform": part.platform_id, **row} for row in part_failures)
        name = f"{part.platform_id}-export-{job.id}"
        add(json_document(part, exported_at, media, part_failures, archive_id=job.id), f"{name}.json")
        if "csv" in job.formats and "csv" in part.formats:
            add(csv_document(part), f"{name}.csv")

    done = 0

    def media_member(media_file: MediaFile) -> Iterator[bytes]:
        nonlocal done
        if on_progress and done % 25 == 0:
            on_progress(f"Writing the archive: {done}/{media_count} media files")
        done += 1
        yield from media_chunks(storage, media_file.stored_name)

    for part, media in planned:
        for media_file in media:
            add(media_member(media_file), media_file.archive_path, media_file.ext.lower() in ALREADY_COMPRESSED)
            add(
                json.dumps(sidecar(part, media_file), ensure_ascii=False, indent=2).encode(),
                media_file.archive_path + ".meta.json",
            )
    # A generator: the page is built when the ZIP reaches it, after the media, and written in pieces.
    add(viewer_html_chunks(job, planned, exported_at), "index.html")
    add(failures_csv(failures, ["platform", *FAILURE_FIELDS] if everything else FAILURE_FIELDS), "failures.csv")
    # What changed since the account's last whole export (DESIGN §2); in an Everything archive
    # one file for every platform that had an earlier export to compare with, `platform` first.
    fields = ["resource", "record_id", "change"]
    compared = [(part, rows) for part, _ in planned if (rows := library.job_changes(part)) is not None]
    if compared:
        changes = [
            {**({"platform": part.platform_id} if everything else {}), **dict(zip(fields, row, strict=True))}
            for part, rows in compared
            for row in rows
        ]
        add(failures_csv(changes, ["platform", *fields] if everything else fields), "changes.csv")

    def manifest() -> Iterator[bytes]:
        # Generated last, when every member before it has been hashed.
        yield "".join(f"{digests[path]}  {path}\n" for path in order).encode()

    stream.add(manifest(), "manifest-sha256.txt", compress_type=ZIP_DEFLATED)

    name = archive_name_for(job)
    if storage.exists(name):
        storage.delete(name)  # a re-run replaces a half-written archive of an earlier attempt
    reader = IterReader(stream)
    # Buffered so that read(n) returns n bytes: S3 then sees a large body and uploads it in parts.
    plaintext = io.BufferedReader(reader, buffer_size=READ_CHUNK)
    try:
        if job.options.get("age_recipient"):
            return ArchiveResult(
                *encryption.encrypted_save(storage, name, plaintext, job.options["age_recipient"], chunk=READ_CHUNK)
            )
        saved = storage.save(name, File(plaintext, name=name))
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
    if job.parent_id:
        # A part of an Everything export: its parent writes the one archive.
        return job_advance(job, ExportJob.Status.SUCCEEDED, progress=100, step=finished_text(job))
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
