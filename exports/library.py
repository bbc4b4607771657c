"""A user's library: records and media kept across jobs (DESIGN §1, "where it goes").

Every export and every import adds to it. A record is unique per (owner, platform, kind, external
id) and remembers which sources saw it (the API, an official archive); a media file is unique per
(owner, platform, media id) and points at bytes already stored by checksum. With "only what is
new", an export stops paging a resource at the first page it already knows, takes verified media
from the library instead of downloading them, and packages the whole library into its ZIP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from exports.models import ExportJob, ExportRecord, LibraryMedia, LibraryRecord, LibraryState, MediaFile
from platforms.registry import get_extractor


def in_date_range(timestamp: str | None, options: dict) -> bool:
    """Whether a record's moment lies within the job's date range (DESIGN §6 date_from/date_to)."""
    if not timestamp:
        return True  # undated records are never dropped by a date filter
    day = timestamp[:10]
    if options.get("date_from") and day < options["date_from"]:
        return False
    if options.get("date_to") and day > options["date_to"]:
        return False
    return True


def _source(job: ExportJob) -> str:
    return LibraryRecord.Source.ARCHIVE if job.source == ExportJob.Source.ARCHIVE else LibraryRecord.Source.API


def complete_resources(job: ExportJob) -> set[str]:
    state = LibraryState.objects.filter(owner_id=job.owner_id, platform_id=job.platform_id).first()
    return set(state.complete_resources) if state else set()


def mark_complete(job: ExportJob, resources: set[str]) -> None:
    """Remember resources fetched whole, so later exports may stop at their first known page."""
    with transaction.atomic():
        state, _ = LibraryState.objects.select_for_update().get_or_create(
            owner_id=job.owner_id, platform_id=job.platform_id
        )
        state.complete_resources = sorted(set(state.complete_resources) | resources)
        state.save()


def records_known(job: ExportJob, resource: str, external_ids: list[str]) -> bool:
    """Whether the library already holds every one of these records."""
    if not external_ids:
        return False
    known = LibraryRecord.objects.filter(
        owner_id=job.owner_id, platform_id=job.platform_id, kind=resource, external_id__in=set(external_ids)
    ).count()
    return known == len(set(external_ids))


def records_upsert(job: ExportJob, records: list[ExportRecord]) -> int:
    """Add the job's records to the library, or refresh them; returns how many were new."""
    if not records:
        return 0
    source = _source(job)
    new = 0
    by_kind: dict[str, list[ExportRecord]] = {}
    for record in records:
        by_kind.setdefault(record.resource, []).append(record)
    now = timezone.now()
    with transaction.atomic():
        for kind, items in by_kind.items():
            existing = {
                r.external_id: r
                for r in LibraryRecord.objects.select_for_update().filter(
                    owner_id=job.owner_id,
                    platform_id=job.platform_id,
                    kind=kind,
                    external_id__in=[i.external_id for i in items],
                )
            }
            created, changed = [], []
            last = latest_changes(
                owner_id=job.owner_id, platform_id=job.platform_id, kind=kind, record_ids=list(existing)
            )
            changes = []
            for item in items:
                row = existing.get(item.external_id)
                if row is None:
                    changes.append((kind, item.external_id, NEW))
                    created.append(
                        LibraryRecord(
                            owner_id=job.owner_id,
                            platform_id=job.platform_id,
                            kind=kind,
                            external_id=item.external_id,
                            data=item.data,
                            timestamp=item.timestamp,
                            sources=[source],
                        )
                    )
                    continue
                if last.get(item.external_id) == GONE:
                    changes.append((kind, item.external_id, NEW))  # it is back
                # The API's copy is the fresher one; an archive fills in what was never fetched.
                if source == LibraryRecord.Source.API or LibraryRecord.Source.API not in row.sources:
                    if _words(job.platform_id, kind, row.data) != _words(job.platform_id, kind, item.data):
                        changes.append((kind, item.external_id, EDITED))
                    row.data, row.timestamp = item.data, item.timestamp or row.timestamp
                if source not in row.sources:
                    row.sources = [*row.sources, source]
                row.last_seen = now
                changed.append(row)
            LibraryRecord.objects.bulk_create(created, ignore_conflicts=True)
            if changed:
                LibraryRecord.objects.bulk_update(
                    changed, ["data", "timestamp", "sources", "last_seen"], batch_size=500
                )
            new += len(created)
            changes_write(job, changes)
            search_index_refresh(
                owner_id=job.owner_id, platform_id=job.platform_id, external_ids=[i.external_id for i in items]
            )
    return new


def media_reusable(job: ExportJob, media_ids: list[str]) -> dict[str, LibraryMedia]:
    """Verified files the library already has for these media ids."""
    if not media_ids:
        return {}
    rows = LibraryMedia.objects.filter(owner_id=job.owner_id, platform_id=job.platform_id, media_id__in=set(media_ids))
    return {row.media_id: row for row in rows}


def media_sync(job: ExportJob) -> None:
    """Keep every verified file of the job in the library."""
    source = _source(job)
    files = job.media_files.filter(status=MediaFile.Status.DONE).exclude(sha256="")
    existing = {
        m.media_id: m
        for m in LibraryMedia.objects.filter(
            owner_id=job.owner_id, platform_id=job.platform_id, media_id__in=files.values_list("media_id", flat=True)
        )
    }
    created, changed = [], []
    fields = [
        "kind",
        "ext",
        "source_url",
        "record_ids",
        "timestamp",
        "caption",
        "extra",
        "sha256",
        "size",
        "content_type",
        "stored_name",
    ]
    for media_file in files:
        row = existing.get(media_file.media_id)
        values = {f: getattr(media_file, f) for f in fields}
        if row is None:
            created.append(
                LibraryMedia(
                    owner_id=job.owner_id,
                    platform_id=job.platform_id,
                    media_id=media_file.media_id,
                    sources=[source],
                    **values,
                )
            )
            continue
        values["record_ids"] = list(dict.fromkeys([*row.record_ids, *media_file.record_ids]))
        if media_file.extra.get("reused_from_library"):
            # Taken from this very row: its own copy of the facts is the one to keep.
            values.pop("extra")
        sources = row.sources if source in row.sources else [*row.sources, source]
        if sources == row.sources and all(getattr(row, name) == value for name, value in values.items()):
            continue  # unchanged: a repeat export rewrites nothing
        for name, value in values.items():
            setattr(row, name, value)
        row.sources = sources
        changed.append(row)
    LibraryMedia.objects.bulk_create(created, ignore_conflicts=True)
    if changed:
        LibraryMedia.objects.bulk_update(changed, [*fields, "sources"], batch_size=500)
    media_ids = [m.media_id for m in created] + [m.media_id for m in changed]
    for chunk in in_chunks(media_ids):
        rows = LibraryMedia.objects.filter(
            owner_id=job.owner_id, platform_id=job.platform_id, media_id__in=chunk
        ).values_list("id", "record_ids")
        media_links_write(owner_id=job.owner_id, platform_id=job.platform_id, rows=list(rows))
        touched = {record_id for _, record_ids in rows for record_id in record_ids}
        search_index_refresh(owner_id=job.owner_id, platform_id=job.platform_id, external_ids=sorted(touched))


def package(job: ExportJob, *, wanted_kinds: set[str]) -> int:
    """Add to the job what the library holds beyond this run's pages (its selection: platform,
    date range, media types), so its ZIP carries the whole collection. Returns records added."""
    have = set(job.records.values_list("resource", "external_id"))
    position = job.records.aggregate(n=Max("position"))["n"] or 0
    options = job.options
    added = []
    for row in LibraryRecord.objects.filter(owner_id=job.owner_id, platform_id=job.platform_id).order_by(
        "timestamp", "id"
    ):
        if (row.kind, row.external_id) in have or not in_date_range(row.timestamp or None, options):
            continue
        position += 1
        added.append(
            ExportRecord(
                job=job,
                resource=row.kind,
                external_id=row.external_id,
                position=position,
                timestamp=row.timestamp,
                data=row.data,
            )
        )
    ExportRecord.objects.bulk_create(added, ignore_conflicts=True)
    if wanted_kinds:
        record_ids = set(job.records.values_list("external_id", flat=True))
        taken = set(job.media_files.values_list("media_id", flat=True))
        extra_files = []
        for media in LibraryMedia.objects.filter(
            owner_id=job.owner_id, platform_id=job.platform_id, kind__in=wanted_kinds
        ):
            if media.media_id in taken or not record_ids.intersection(media.record_ids):
                continue
            extra_files.append(
                reused_media_file(job, media, record_ids=[r for r in media.record_ids if r in record_ids])
            )
        MediaFile.objects.bulk_create(extra_files, ignore_conflicts=True)
    return len(added)


def reused_media_file(job: ExportJob, media: LibraryMedia, *, record_ids: list[str]) -> MediaFile:
    return MediaFile(
        job=job,
        media_id=media.media_id,
        source_url=media.source_url,
        kind=media.kind,
        ext=media.ext,
        record_ids=record_ids,
        timestamp=media.timestamp,
        caption=media.caption,
        extra={**media.extra, "reused_from_library": True},
        size=media.size,
        sha256=media.sha256,
        content_type=media.content_type,
        stored_name=media.stored_name,
        status=MediaFile.Status.DONE,
    )


def sources_of(job: ExportJob) -> dict[str, dict[str, list[str]]]:
    """resource -> record id -> the sources that saw it, for the records of this job."""
    out: dict[str, dict[str, list[str]]] = {}
    rows = LibraryRecord.objects.filter(owner_id=job.owner_id, platform_id=job.platform_id).values_list(
        "kind", "external_id", "sources"
    )
    wanted = set(job.records.values_list("resource", "external_id"))
    for kind, external_id, sources in rows.iterator():
        if (kind, external_id) in wanted:
            out.setdefault(kind, {})[external_id] = sources
    return out


# --- the search index and the record-media links (the library page's ?q= and "with media") ------
# Two tables beside the rows above, created by migration 0007 and written only here:
# `library_record_media` (owner, platform, record id -> library media row), and `library_search`,
# one document per record (title, body, extra), a table with a GIN-indexed tsvector on PostgreSQL
# and an FTS5 table on SQLite. Deleting a row deletes its entries (triggers).

# Nested fields whose words belong in the search (comments, captions, file names, alt text).
SEARCH_KEYS = frozenset(
    {"name", "filename", "title", "text", "caption", "description", "alt_text", "body", "message", "story", "selftext"}
)
# Marks around a match in a snippet; kept out of documents so they can only come from the engine.
MARK_START, MARK_STOP = "\ue000", "\ue001"
DOCUMENT_LIMIT = 20_000


def in_chunks(items: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _clean(text: str) -> str:
    return text.replace(MARK_START, "").replace(MARK_STOP, "").replace("\x00", "")[:DOCUMENT_LIMIT]


def _nested_words(value, seen: set[str], depth: int = 0) -> list[str]:
    found: list[str] = []
    if depth > 5:
        return found
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            text = item.strip()
            if key in SEARCH_KEYS and text and text not in seen:
                seen.add(text)
                found.append(text)
        elif isinstance(item, dict | list):
            found.extend(_nested_words(item, seen, depth + 1))
    return found


def search_document(platform_slug: str, kind: str, data, media: Iterable[tuple[str, str, str]]) -> tuple[str, ...]:
    """(title, body, extra) of a record: the platform's own summary first, then the words nested
    deeper in it (comments, file names, alt text) and its media's captions and file names."""
    summary = get_extractor(platform_slug).summary(kind, data) if isinstance(data, dict) else {}
    title, body = summary.get("title", ""), summary.get("text", "")
    seen = {title, body}
    extra = _nested_words(data, seen) if isinstance(data, dict | list) else []
    for media_id, ext, caption in media:
        if caption and caption not in seen:
            seen.add(caption)
            extra.append(caption)
        name = f"{media_id}.{ext}" if ext else media_id
        # PostgreSQL's parser keeps "img_01.jpg" whole; its parts are written out to be found too.
        extra += [name, re.sub(r"[\W_]+", " ", name)]
    return _clean(title), _clean(body), _clean("\n".join(extra))


def media_links_write(*, owner_id: int, platform_id: str, rows: list[tuple[int, list[str]]]) -> None:
    """Point each library media row (id, record ids) at its records, replacing its old links."""
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            "DELETE FROM library_record_media WHERE media_id = %s", [(media_pk,) for media_pk, _ in rows]
        )
        cursor.executemany(
            "INSERT INTO library_record_media (owner_id, platform_id, record_id, media_id) VALUES (%s, %s, %s, %s)",
            [
                (owner_id, platform_id, record_id, media_pk)
                for media_pk, record_ids in rows
                for record_id in dict.fromkeys(str(r) for r in record_ids)
            ],
        )


def search_rows_write(rows: list[tuple[int, int, str, str, str]]) -> None:
    """Store (record pk, owner id, title, body, extra) documents in the search index."""
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.executemany(
                "INSERT INTO library_search (record_id, owner_id, title, body, extra) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (record_id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, "
                "extra = EXCLUDED.extra",
                rows,
            )
        else:
            cursor.executemany("DELETE FROM library_search WHERE rowid = %s", [(row[0],) for row in rows])
            cursor.executemany(
                "INSERT INTO library_search (rowid, title, body, extra) VALUES (%s, %s, %s, %s)",
                [(pk, *document) for pk, _, *document in rows],
            )


def search_index_refresh(*, owner_id: int, platform_id: str, external_ids: list[str]) -> None:
    """Rebuild the search documents of these records (all their kinds) from the library's rows."""
    for chunk in in_chunks(list(dict.fromkeys(external_ids))):
        records = list(
            LibraryRecord.objects.filter(owner_id=owner_id, platform_id=platform_id, external_id__in=chunk).values_list(
                "id", "kind", "external_id", "data"
            )
        )
        if not records:
            continue
        with connection.cursor() as cursor:
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                "SELECT l.record_id, m.media_id, m.ext, m.caption FROM library_record_media l "
                "JOIN exports_librarymedia m ON m.id = l.media_id "
                f"WHERE l.owner_id = %s AND l.platform_id = %s AND l.record_id IN ({marks}) ORDER BY m.media_id",
                [owner_id, platform_id, *chunk],
            )
            media: dict[str, list[tuple[str, str, str]]] = {}
            for record_id, media_id, ext, caption in cursor.fetchall():
                media.setdefault(record_id, []).append((media_id, ext, caption))
        search_rows_write(
            [
                (pk, owner_id, *search_document(platform_id, kind, data, media.get(external_id, ())))
                for pk, kind, external_id, data in records
            ]
        )


# --- what changed since the last export: new, edited and gone records (changes.csv, DESIGN §2) -----
# `library_change` (migration 0007) keeps every change with its job and moment, so the library
# keeps a gone record forever with the date it disappeared, and a record page shows its history.
NEW, EDITED, GONE = "new", "edited", "gone"


def _words(platform_id: str, kind: str, data) -> tuple[str, str]:
    """What a person reads of a record: a change elsewhere (a score, a count) is no edit."""
    summary = get_extractor(platform_id).summary(kind, data) if isinstance(data, dict) else {}
    return summary.get("title", ""), summary.get("text", "")


def changes_write(job: ExportJob, changes: list[tuple[str, str, str]]) -> None:
    """Record (kind, record id, change) rows found by this job."""
    if not changes:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO library_change (owner_id, platform_id, kind, record_id, change, job_id, at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (job.owner_id, job.platform_id, kind, record_id, change, str(job.id), now)
                for kind, record_id, change in changes
            ],
        )


def latest_changes(*, owner_id: int, platform_id: str, kind: str, record_ids: list[str]) -> dict[str, str]:
    """record id -> its latest change, for records of one kind."""
    latest: dict[str, str] = {}
    for chunk in in_chunks(record_ids):
        with connection.cursor() as cursor:
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                "SELECT record_id, change FROM library_change WHERE owner_id = %s AND platform_id = %s AND kind = %s "
                f"AND record_id IN ({marks}) ORDER BY id",
                [owner_id, platform_id, kind, *chunk],
            )
            latest.update(cursor.fetchall())
    return latest


def records_gone(job: ExportJob, *, resources: set[str]) -> int:
    """Mark gone the library's records of these resources, fetched whole by this job, that it no
    longer returned; they stay in the library. Returns how many went."""
    seen = set(job.records.values_list("resource", "external_id"))
    gone = []
    for kind in sorted(resources):
        missing = [
            external_id
            for external_id in LibraryRecord.objects.filter(
                owner_id=job.owner_id, platform_id=job.platform_id, kind=kind
            ).values_list("external_id", flat=True)
            if (kind, external_id) not in seen
        ]
        last = latest_changes(owner_id=job.owner_id, platform_id=job.platform_id, kind=kind, record_ids=missing)
        gone += [(kind, external_id, GONE) for external_id in missing if last.get(external_id) != GONE]
    changes_write(job, gone)
    return len(gone)


def compared(job: ExportJob) -> bool:
    """Whether an earlier export of the same account finished, so this one has something to compare with."""
    return ExportJob.objects.filter(
        owner_id=job.owner_id,
        platform_id=job.platform_id,
        status=ExportJob.Status.SUCCEEDED,
        created_at__lt=job.created_at,
    ).exists()


def job_changes(job: ExportJob) -> list[tuple[str, str, str]] | None:
    """(resource, record id, change) rows this job found, or None when it had nothing to compare with."""
    if not compared(job):
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, record_id, change FROM library_change WHERE job_id = %s ORDER BY id", [str(job.id)]
        )
        return [tuple(row) for row in cursor.fetchall()]


def changes_note(job: ExportJob) -> str:
    """'Since the last export: 12 new, 2 edited, 1 gone.' (empty when there is nothing to compare)."""
    rows = job_changes(job)
    if rows is None:
        return ""
    counts = {change: sum(1 for _, _, c in rows if c == change) for change in (NEW, EDITED, GONE)}
    return "Since the last export: " + ", ".join(f"{n} {change}" for change, n in counts.items()) + "."
