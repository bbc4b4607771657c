"""The fetch step: page through every resource of the platform's API (or read the uploaded
archive of an import) and write what comes back through the one record and media writer."""

from __future__ import annotations

from django.db.models import BigIntegerField, Count, F, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from accounts.tokens import token_for
from exports import library
from exports.claims import job_advance, job_renew_lease
from exports.importing import job_import
from exports.models import ExportJob, MediaFile
from exports.progress import DOWNLOAD_SHARE, FETCH_SHARE_NO_MEDIA, FETCH_SHARE_WITH_MEDIA, media_counters_update
from exports.writer import MediaWriter, RecordWriter, stored_id
from platforms.base import FetchContext
from platforms.client import ApiClient
from platforms.registry import get_extractor

Status = ExportJob.Status


def api_client_for(job: ExportJob, **kwargs) -> ApiClient:
    """The job's API client; a scheduled export's requests yield their turn to watched ones."""
    extractor = get_extractor(job.platform_id)
    kwargs.setdefault("background", bool(job.options.get("scheduled")))
    return ApiClient(extractor, base_url=job.platform.base_url, token=token_for(job.owner, job.platform), **kwargs)


def job_fetch(job: ExportJob) -> None:
    """Keep every record and one MediaFile row per media file; the import's archive or the API."""
    if job.source == ExportJob.Source.ARCHIVE:
        job_import(job)
    else:
        _api_fetch(job)
    media_counters_update(job)


def _api_fetch(job: ExportJob) -> None:
    extractor = get_extractor(job.platform_id)
    client = api_client_for(job)
    options = job.options
    wanted_kinds = set(options.get("media_types") or job.platform.media_kinds) if job.include_media else set()
    max_records = options.get("max_records")
    share = FETCH_SHARE_WITH_MEDIA if job.include_media else FETCH_SHARE_NO_MEDIA
    only_new = bool(options.get("only_new"))
    # Stopping at a known page is safe only where an earlier export fetched the resource whole.
    whole = library.complete_resources(job) if only_new else set()
    records = RecordWriter(job)
    media = MediaWriter(job)
    kept = records.position
    pages = 0
    skipped: list[dict] = []

    def on_request(resource: str, number: int) -> None:
        index = extractor.resources.index(resource) if resource in extractor.resources else 0
        progress = int(share * (index + min(number, 20) / 21) / max(1, len(extractor.resources)))
        job_renew_lease(
            job, step=f"Fetching {resource.replace('_', ' ')}: page {number}", progress=max(job.progress, progress)
        )

    ctx = FetchContext(options=options, on_request=on_request)
    for resource, page in extractor.pages(client, ctx):
        pages += 1
        skipped.extend({**s, "resource": resource} for s in page.skipped)
        kept_ids: set[str] = set()
        for record in page.records:
            if max_records and kept >= max_records:
                break
            timestamp = extractor.record_timestamp(resource, record)
            if not library.in_date_range(timestamp, options):
                continue
            row = records.add(resource, record, record_id=extractor.record_id(resource, record), timestamp=timestamp)
            if row is not None:
                kept += 1
                kept_ids.add(row.external_id)
        known = resource in whole and library.records_known(job, resource, [r.external_id for r in records.batch])
        records.flush()
        if known:
            # Nothing new on this page: what follows is older and already in the library.
            ctx.done.add(resource)
        if wanted_kinds:
            items = [m for m in page.media if stored_id(m.record_id) in kept_ids and m.kind in wanted_kinds]
            media.add_many(items, reuse=only_new)
        if max_records and kept >= max_records:
            ctx.notes.append(f"Stopped at {max_records} records, as asked.")
            break

    unfiltered = not (max_records or options.get("date_from") or options.get("date_to"))
    if unfiltered and pages:
        library.mark_complete(job, set(extractor.resources))
        if not only_new:
            library.records_gone(job, resources=set(extractor.resources))
    if note := library.changes_note(job):
        ctx.notes.append(note)
    if only_new and not (max_records and kept >= max_records):
        added = library.package(job, wanted_kinds=wanted_kinds)
        if added:
            ctx.notes.append(f"Only what is new was fetched; {added} earlier records come from your library.")
    account = ctx.account
    if account is None and extractor.account_resource:
        first = job.records.filter(resource=extractor.account_resource).first()
        account = first.data if first else None
    ExportJob.objects.filter(id=job.id).update(
        account=account,
        notes=list(dict.fromkeys([*job.notes, *ctx.notes])),
        records_count=job.records.count(),
        pages_fetched=F("pages_fetched") + pages,
        new_records=records.new,
        skipped_records=[*skipped, *records.skipped][:1000],
        api_units=F("api_units") + client.units,
    )
    job.refresh_from_db()


def media_size_estimate(job: ExportJob) -> None:
    """What the files still to download weigh, where the platform gave their sizes: shown before
    the first byte is fetched."""
    sized = job.media_files.filter(status=MediaFile.Status.PENDING, extra__has_key="expected_size")
    totals = sized.aggregate(bytes=Sum(Cast(KT("extra__expected_size"), BigIntegerField())), files=Count("id"))
    job.media_bytes_expected, job.media_sized = totals["bytes"] or 0, totals["files"]
    # `job_fetch` has just counted the files: those from the library are not downloaded.
    job.download_base_bytes = job.media_bytes
    ExportJob.objects.filter(id=job.id).update(
        media_bytes_expected=job.media_bytes_expected,
        media_sized=job.media_sized,
        download_base_bytes=job.download_base_bytes,
        retry_total=0,
    )


def job_after_fetch(job: ExportJob) -> bool:
    """Move on to downloading (when there are files to fetch) or straight to the archive."""
    if job.include_media and job.media_total:
        media_size_estimate(job)
        return job_advance(
            job,
            Status.DOWNLOADING,
            progress=FETCH_SHARE_WITH_MEDIA,
            step=f"Downloading media: 0/{job.media_total} files",
        )
    share = FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE if job.include_media else FETCH_SHARE_NO_MEDIA
    return job_advance(job, Status.ARCHIVING, progress=share, step="Writing the archive")
