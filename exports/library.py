"""A user's library: records and media kept across jobs (DESIGN §1, "where it goes").

Every export and every import adds to it. A record is unique per (owner, platform, kind, external
id) and remembers which sources saw it (the API, an official archive); a media file is unique per
(owner, platform, media id) and points at bytes already stored by checksum. With "only what is
new", an export stops paging a resource at the first page it already knows, takes verified media
from the library instead of downloading them, and packages the whole library into its ZIP.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from exports.models import ExportJob, ExportRecord, LibraryMedia, LibraryRecord, LibraryState, MediaFile


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
            for item in items:
                row = existing.get(item.external_id)
                if row is None:
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
                # The API's copy is the fresher one; an archive fills in what was never fetched.
                if source == LibraryRecord.Source.API or LibraryRecord.Source.API not in row.sources:
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
