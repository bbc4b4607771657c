"""What happens to an export: create, claim a step, fetch, download, archive, notify, fail.

Tasks and the `export` command call these; nothing here knows about Celery except the enqueue
helpers, which run only after the surrounding transaction commits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.tokens import NotConnected, token_for
from exports import library
from exports.models import ExportJob, ExportRecord, MediaFile
from platforms.base import ExtractorError, FetchContext
from platforms.client import ApiClient
from platforms.models import Platform
from platforms.registry import available, get_extractor

log = logging.getLogger(__name__)
Status = ExportJob.Status

FORMATS = ("json", "csv")
MEDIA_KINDS = ("image", "video", "file")
# Share of the progress bar each stage fills.
FETCH_SHARE_WITH_MEDIA, DOWNLOAD_SHARE = 25, 65
FETCH_SHARE_NO_MEDIA = 80
LINK_SALT = "starexport.download-link"


class ExportRequestError(ValueError):
    """A request for an export that cannot be honoured; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def setting(name: str) -> Any:
    return settings.STAREXPORT[name]


# --- create ------------------------------------------------------------------------------------
def export_options_clean(*, platform: Platform, options: dict | None) -> dict:
    options = dict(options or {})
    clean: dict[str, Any] = {}
    for key in ("date_from", "date_to"):
        value = options.get(key)
        if value:
            try:
                clean[key] = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise ExportRequestError(f"{value!r} is not a date (use YYYY-MM-DD).", field=key) from None
    if clean.get("date_from") and clean.get("date_to") and clean["date_from"] > clean["date_to"]:
        raise ExportRequestError("The start date is after the end date.", field="date_to")
    kinds = options.get("media_types")
    if kinds:
        unknown = sorted(set(kinds) - set(MEDIA_KINDS))
        if unknown:
            raise ExportRequestError(f"Unknown media type: {', '.join(unknown)}.", field="media_types")
        unsupported = sorted(set(kinds) - set(platform.media_kinds))
        if unsupported:
            raise ExportRequestError(
                f"{platform.display_name} has no {', '.join(unsupported)} files to export.", field="media_types"
            )
        clean["media_types"] = sorted(set(kinds))
    if options.get("only_new"):
        clean["only_new"] = True
    if options.get("scheduled"):
        clean["scheduled"] = True
    if options.get("max_records") not in (None, ""):
        try:
            max_records = int(options["max_records"])
        except (TypeError, ValueError):
            raise ExportRequestError("Max records must be a whole number.", field="max_records") from None
        if max_records < 1:
            raise ExportRequestError("Max records must be at least 1.", field="max_records")
        clean["max_records"] = max_records
    return clean


def running_jobs_check(owner) -> None:
    """Refuse a new job past the user's running-jobs limit. Call inside the transaction that
    creates the job: the user's row is locked so two quick submissions cannot both slip under."""
    limit = setting("MAX_ACTIVE_JOBS_PER_USER")
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    active = ExportJob.objects.filter(owner=owner, status__in=ExportJob.RUNNING).count()
    if active >= limit:
        raise ExportRequestError(
            f"You already have {active} exports running (the limit is {limit}); wait for one to finish or cancel one."
        )


def export_job_create(
    *,
    owner,
    platform_slug: str,
    formats: list[str] | None = None,
    include_media: bool = False,
    options: dict | None = None,
    enqueue: bool = True,
) -> ExportJob:
    """Check the request, create the job and (after commit) hand it to the workers."""
    platform = Platform.objects.filter(slug=platform_slug).first()
    if platform is None or not available(platform_slug):
        raise ExportRequestError(f"Unknown platform {platform_slug!r}.", field="platform")
    if not platform.enabled:
        raise ExportRequestError(f"{platform.display_name} exports are switched off by the operator.", field="platform")
    formats = [f.strip().lower() for f in (formats or ["json"]) if f.strip()]
    unknown = [f for f in formats if f not in FORMATS or f not in platform.export_formats]
    if unknown:
        raise ExportRequestError(
            f"Unknown format {', '.join(unknown)}; {platform.display_name} exports "
            f"{', '.join(platform.export_formats)}.",
            field="formats",
        )
    if "json" not in formats:
        formats.insert(0, "json")  # the JSON is always in the archive (DESIGN §2)
    if include_media and not platform.supports_media:
        raise ExportRequestError(f"{platform.display_name} has no media files to export.", field="include_media")
    clean = export_options_clean(platform=platform, options=options)
    try:
        token_for(owner, platform)
    except NotConnected as exc:
        raise ExportRequestError(str(exc), field="platform") from None

    with transaction.atomic():
        running_jobs_check(owner)
        job = ExportJob.objects.create(
            owner=owner,
            platform=platform,
            formats=formats,
            include_media=include_media,
            options=clean,
            step="Waiting for a worker",
        )
        if enqueue:
            enqueue_step(job)
    return job


# --- steps: claim, advance, fail ---------------------------------------------------------------
STEP_TASKS = {
    Status.QUEUED: "exports.tasks.fetch_metadata",
    Status.FETCHING: "exports.tasks.fetch_metadata",
    Status.DOWNLOADING: "exports.tasks.download_media",
    Status.ARCHIVING: "exports.tasks.build_archive",
}


def enqueue_step(job: ExportJob) -> None:
    """Send the task for the job's current status once the transaction commits."""
    from celery import current_app

    name = STEP_TASKS.get(job.status)
    if name is None:
        return
    job_id = str(job.id)
    # robust: a broker that is down must not turn a created job into an error page; the job is
    # saved, and the sweeper sends it once the broker is back.
    transaction.on_commit(lambda: current_app.send_task(name, args=[job_id]), robust=True)


RETRY_GRACE_SECONDS = 60


def job_claim(job_id, *, statuses: tuple[str, ...], to_status: str, task_id: str | None = None) -> ExportJob | None:
    """Take the step with a compare-and-set that records a lease; None when another worker holds
    a live lease or the job moved on. After the attempt cap the job fails with the reason.

    A task's own retry (same task id) takes back the step its earlier run reserved for it, and
    does not count as an attempt: a retry is not a dead worker."""
    now = timezone.now()
    stamp_field = f"{to_status}_at"
    lease = {"lease_owner": worker_name(), "lease_until": now + timedelta(seconds=setting("LEASE_SECONDS"))}
    base = ExportJob.objects.filter(id=job_id, status__in=statuses).exclude(canceled_at__isnull=False)
    if task_id and base.filter(lease_owner=f"retry:{task_id}").update(status=to_status, updated_at=now, **lease):
        return ExportJob.objects.select_related("platform", "owner").get(id=job_id)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = base.filter(free).update(
        status=to_status,
        step_attempts=F("step_attempts") + 1,
        updated_at=now,
        **{stamp_field: Coalesce(F(stamp_field), Value(now))},
        **lease,
    )
    if claimed != 1:
        return None
    job = ExportJob.objects.select_related("platform", "owner").get(id=job_id)
    if job.step_attempts > setting("STEP_ATTEMPTS"):
        job_fail(
            job,
            f"Gave up after {job.step_attempts - 1} attempts at the {to_status} step (the worker stopped each time).",
        )
        return None
    return job


def job_renew_lease(job: ExportJob, **fields: Any) -> None:
    """Heartbeat: extend the lease while a step makes progress, saving progress fields with it."""
    now = timezone.now()
    ExportJob.objects.filter(id=job.id, status=job.status).update(
        lease_until=now + timedelta(seconds=setting("LEASE_SECONDS")), updated_at=now, **fields
    )
    for name, value in fields.items():
        setattr(job, name, value)


def job_advance(job: ExportJob, to_status: str, *, enqueue: bool = True, **fields: Any) -> bool:
    """Finish the current step and move on; the next step starts with a fresh attempt count."""
    now = timezone.now()
    updates = {"status": to_status, "lease_owner": "", "lease_until": None, "step_attempts": 0, "updated_at": now}
    if to_status not in (Status.QUEUED,):
        updates[f"{to_status}_at"] = now
    updates.update(fields)
    with transaction.atomic():
        moved = ExportJob.objects.filter(id=job.id, status=job.status).update(**updates) == 1
        if moved:
            for name, value in updates.items():
                setattr(job, name, value)
            if enqueue:
                enqueue_step(job)
    return moved


def job_release_for_retry(job: ExportJob, *, task_id: str, countdown: float, reason: str) -> None:
    """Keep the step for the task's own retry: reserved under its id past the countdown, so the
    sweeper leaves it alone and no other run takes it meanwhile."""
    ExportJob.objects.filter(id=job.id, status=job.status).update(
        lease_owner=f"retry:{task_id}",
        lease_until=timezone.now() + timedelta(seconds=countdown + RETRY_GRACE_SECONDS),
        step=f"Trying again shortly: {reason}"[:255],
        updated_at=timezone.now(),
    )


def job_fail(job: ExportJob, message: str) -> None:
    now = timezone.now()
    updated = ExportJob.objects.filter(id=job.id, status__in=ExportJob.RUNNING).update(
        status=Status.FAILED,
        error=message,
        step=f"Failed: {message}"[:255],
        failed_at=now,
        lease_owner="",
        lease_until=None,
        updated_at=now,
    )
    if updated:
        job.status, job.error, job.failed_at = Status.FAILED, message, now
        log.warning("export %s failed: %s", job.id, message)
        transaction.on_commit(lambda: _send_task("exports.tasks.notify", str(job.id)))


def job_cancel(job: ExportJob) -> bool:
    now = timezone.now()
    updated = ExportJob.objects.filter(id=job.id, status__in=ExportJob.RUNNING).update(
        status=Status.CANCELED, canceled_at=now, step="Canceled", lease_owner="", lease_until=None, updated_at=now
    )
    if updated:
        job.refresh_from_db()
    return bool(updated)


def job_retry_failed(job: ExportJob, *, enqueue: bool = True) -> int:
    """Try the failed media files of a finished export again and rebuild its archive.
    Returns how many files were queued again (0 when there is nothing to retry)."""
    if job.status != Status.SUCCEEDED:
        return 0
    with transaction.atomic():
        failed = job.media_files.filter(status=MediaFile.Status.FAILED)
        count = failed.update(status=MediaFile.Status.PENDING, attempts=0, last_error="", lease_until=None)
        if not count:
            return 0
        moved = ExportJob.objects.filter(id=job.id, status=Status.SUCCEEDED).update(
            status=Status.DOWNLOADING,
            step=f"Retrying {count} media files",
            lease_owner="",
            lease_until=None,
            step_attempts=0,
            succeeded_at=None,
            archiving_at=None,
            notified_at=None,
            downloading_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not moved:
            transaction.set_rollback(True)
            return 0
        job.refresh_from_db()
        media_counters_update(job)
        if enqueue:
            enqueue_step(job)
    return count


def job_expire(job: ExportJob) -> bool:
    """Delete a finished export's archive and mark it expired (the periodic task, or an operator)."""
    if job.status != Status.SUCCEEDED:
        return False
    if job.archive_name:
        default_storage.delete(job.archive_name)
    now = timezone.now()
    return bool(
        ExportJob.objects.filter(id=job.id, status=Status.SUCCEEDED).update(
            status=Status.EXPIRED,
            expired_at=now,
            archive_name="",
            step="The archive expired and was deleted",
            updated_at=now,
        )
    )


def job_is_canceled(job: ExportJob) -> bool:
    return ExportJob.objects.filter(id=job.id, status=Status.CANCELED).exists()


# Set while `job_run_inline` runs a job in this process, which then does the follow-up itself.
_inline: ContextVar[bool] = ContextVar("starexport_inline", default=False)


def _send_task(name: str, *args) -> None:
    from celery import current_app

    if not _inline.get():
        current_app.send_task(name, args=list(args))


# --- fetch -------------------------------------------------------------------------------------
ID_LENGTH = 255


def stored_id(value: str) -> str:
    """An id as the database keeps it: ids longer than the column are shortened with a hash of
    the whole, so they stay unique (the record's data keeps the original)."""
    if len(value) <= ID_LENGTH:
        return value
    return f"{value[:200]}~{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def without_nul(value: Any) -> Any:
    """PostgreSQL's text and jsonb refuse U+0000; a platform that sends one must not fail the job."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _in_range(timestamp: str | None, options: dict) -> bool:
    if not timestamp:
        return True  # undated records are never dropped by a date filter
    day = timestamp[:10]
    if options.get("date_from") and day < options["date_from"]:
        return False
    if options.get("date_to") and day > options["date_to"]:
        return False
    return True


def api_client_for(job: ExportJob, **kwargs) -> ApiClient:
    extractor = get_extractor(job.platform_id)
    return ApiClient(extractor, base_url=job.platform.base_url, token=token_for(job.owner, job.platform), **kwargs)


def job_fetch(job: ExportJob) -> None:
    """Page through every resource, keep the records and one MediaFile row per media file."""
    if job.source == ExportJob.Source.ARCHIVE:
        from exports.importing import job_import

        job_import(job)
        new = library.records_upsert(job, list(job.records.all()))
        ExportJob.objects.filter(id=job.id).update(new_records=new)
        job.refresh_from_db()
        media_counters_update(job)
        return
    extractor = get_extractor(job.platform_id)
    client = api_client_for(job)
    options = job.options
    wanted_kinds = set(options.get("media_types") or job.platform.media_kinds) if job.include_media else set()
    max_records = options.get("max_records")
    share = FETCH_SHARE_WITH_MEDIA if job.include_media else FETCH_SHARE_NO_MEDIA

    only_new = bool(options.get("only_new"))
    # Stopping at a known page is safe only where an earlier export fetched the resource whole.
    whole = library.complete_resources(job) if only_new else set()
    position = job.records.count()
    kept = position
    pages = 0
    new_records = 0
    skipped: list[dict] = []

    def on_request(resource: str, number: int) -> None:
        nonlocal pages
        index = extractor.resources.index(resource) if resource in extractor.resources else 0
        progress = int(share * (index + min(number, 20) / 21) / max(1, len(extractor.resources)))
        job_renew_lease(
            job, step=f"Fetching {resource.replace('_', ' ')}: page {number}", progress=max(job.progress, progress)
        )

    ctx = FetchContext(options=options, on_request=on_request)
    for resource, page in extractor.pages(client, ctx):
        pages += 1
        skipped.extend({**s, "resource": resource} for s in page.skipped)
        records = []
        media_by_record: dict[str, list] = {}
        for item in page.media:
            media_by_record.setdefault(stored_id(item.record_id), []).append(item)
        for record in page.records:
            if max_records and kept >= max_records:
                break
            timestamp = extractor.record_timestamp(resource, record)
            if not _in_range(timestamp, options):
                continue
            record_id = stored_id(extractor.record_id(resource, record))
            position += 1
            kept += 1
            records.append(
                ExportRecord(
                    job=job,
                    resource=resource,
                    external_id=record_id or f"#{position}",
                    position=position,
                    timestamp=timestamp or "",
                    data=without_nul(record),
                )
            )
        known = resource in whole and library.records_known(job, resource, [r.external_id for r in records])
        ExportRecord.objects.bulk_create(records, ignore_conflicts=True)
        new_records += library.records_upsert(job, records)
        if known:
            # Nothing new on this page: what follows is older and already in the library.
            ctx.done.add(resource)
        if wanted_kinds:
            kept_ids = {r.external_id for r in records}
            items = [m for rid, ms in media_by_record.items() if rid in kept_ids for m in ms]
            media_files_record(job, [m for m in items if m.kind in wanted_kinds], reuse=only_new)
        if max_records and kept >= max_records:
            ctx.notes.append(f"Stopped at {max_records} records, as asked.")
            break

    unfiltered = not (max_records or options.get("date_from") or options.get("date_to"))
    if unfiltered and pages:
        library.mark_complete(job, set(extractor.resources))
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
        new_records=new_records,
        skipped_records=skipped[:1000],
        api_units=F("api_units") + client.units,
    )
    job.refresh_from_db()
    media_counters_update(job)


def media_files_record(job: ExportJob, items, *, reuse: bool = False) -> None:
    """One row per media id; the same file reached from two records keeps both ids. With `reuse`,
    a file the library has verified before is taken from it instead of being downloaded again."""
    for item in items:
        item.media_id, item.record_id = stored_id(item.media_id), stored_id(item.record_id)
        item.caption, item.url, item.extra = without_nul(item.caption), without_nul(item.url), without_nul(item.extra)
    reusable = library.media_reusable(job, [i.media_id for i in items]) if reuse else {}
    for item in items:
        try:
            with transaction.atomic():
                if item.media_id in reusable:
                    library.reused_media_file(job, reusable[item.media_id], record_ids=[item.record_id]).save()
                    continue
                MediaFile.objects.create(
                    job=job,
                    media_id=item.media_id,
                    source_url=item.url[:4096],
                    kind=item.kind,
                    ext=item.ext[:16],
                    record_ids=[item.record_id],
                    timestamp=item.timestamp or "",
                    caption=item.caption or "",
                    extra=item.extra or {},
                )
        except IntegrityError:
            existing = MediaFile.objects.get(job=job, media_id=item.media_id)
            if item.record_id not in existing.record_ids:
                existing.record_ids = [*existing.record_ids, item.record_id]
                existing.save(update_fields=["record_ids", "updated_at"])


def media_counters_update(job: ExportJob) -> None:
    """Counters derived from the MediaFile rows, so they are right after any redelivery."""
    files = job.media_files.all()
    done = files.filter(status=MediaFile.Status.DONE)
    reused = done.filter(extra__reused_from_library=True)
    ExportJob.objects.filter(id=job.id).update(
        media_reused=reused.count(),
        media_reused_bytes=reused.aggregate(n=Sum("size"))["n"] or 0,
        media_total=files.count(),
        media_done=done.count(),
        media_failed=files.filter(status=MediaFile.Status.FAILED).count(),
        media_bytes=done.aggregate(n=Sum("size"))["n"] or 0,
    )
    job.refresh_from_db(
        fields=["media_total", "media_done", "media_failed", "media_bytes", "media_reused", "media_reused_bytes"]
    )


def job_after_fetch(job: ExportJob, *, enqueue: bool = True) -> None:
    if job.include_media and job.media_total:
        job_advance(
            job,
            Status.DOWNLOADING,
            enqueue=enqueue,
            progress=FETCH_SHARE_WITH_MEDIA,
            step=f"Downloading media: 0/{job.media_total} files",
        )
    else:
        share = FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE if job.include_media else FETCH_SHARE_NO_MEDIA
        job_advance(job, Status.ARCHIVING, enqueue=enqueue, progress=share, step="Writing the archive")


# --- download ----------------------------------------------------------------------------------
def media_step_text(job: ExportJob) -> str:
    from django.template.defaultfilters import filesizeformat

    text = f"Downloading media: {job.media_done + job.media_failed}/{job.media_total} files · {filesizeformat(job.media_bytes)}"
    if job.media_failed:
        text += f" · {job.media_failed} failed"
    return text


def media_progress_save(job: ExportJob) -> None:
    media_counters_update(job)
    finished = job.media_done + job.media_failed
    share = FETCH_SHARE_WITH_MEDIA + int(DOWNLOAD_SHARE * finished / max(1, job.media_total))
    job_renew_lease(job, progress=max(job.progress, share), step=media_step_text(job))


def media_claim(job: ExportJob, media_file_id: int) -> MediaFile | None:
    now = timezone.now()
    free = Q(status=MediaFile.Status.PENDING) | Q(status=MediaFile.Status.DOWNLOADING, lease_until__lt=now)
    claimed = (
        MediaFile.objects.filter(Q(id=media_file_id, job=job) & free)
        .filter(attempts__lt=setting("STEP_ATTEMPTS") + setting("DOWNLOAD_ATTEMPTS"))
        .update(
            status=MediaFile.Status.DOWNLOADING,
            lease_until=now + timedelta(seconds=setting("LEASE_SECONDS")),
            attempts=F("attempts") + 1,
        )
    )
    return MediaFile.objects.get(id=media_file_id) if claimed else None


def media_lease_renew(job: ExportJob, media_file: MediaFile) -> None:
    """A file still streaming keeps its claim, and the job its lease, so no one takes them over."""
    until = timezone.now() + timedelta(seconds=setting("LEASE_SECONDS"))
    MediaFile.objects.filter(id=media_file.id, status=MediaFile.Status.DOWNLOADING).update(lease_until=until)
    ExportJob.objects.filter(id=job.id, status=Status.DOWNLOADING).update(lease_until=until, updated_at=timezone.now())


def media_pending_ids(job: ExportJob) -> list[int]:
    now = timezone.now()
    stale = Q(status=MediaFile.Status.DOWNLOADING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True))
    return list(
        job.media_files.filter(Q(status=MediaFile.Status.PENDING) | stale).order_by("id").values_list("id", flat=True)
    )


def downloader_for(job: ExportJob):
    """The job's downloader: the platform's limits, the user's token for the API's own origin,
    and a way to refresh signed CDN URLs that expired. An import needs no connected account:
    without one, media are fetched from their public URLs only."""
    from exports.download import Downloader

    extractor = get_extractor(job.platform_id)
    try:
        client = api_client_for(job)
    except NotConnected:
        client = None

    def refresh_url(media_file: MediaFile) -> str | None:
        record_id = (media_file.record_ids or [""])[0]
        try:
            return extractor.refresh_media_url(client, media_file.media_id, record_id)
        except ExtractorError:
            return None

    return Downloader(
        platform=job.platform,
        owner_id=job.owner_id,
        api_auth=extractor.auth_headers(client.token) if client else None,
        refresh_url=refresh_url if client else None,
        finish=extractor.finish_media,
        heartbeat=lambda media_file: media_lease_renew(job, media_file),
    )


def media_download_many(job: ExportJob, media_file_ids: list[int], *, downloader=None) -> None:
    """Download the given files (a chunk) with bounded concurrency; skip those already verified."""
    downloader = downloader or downloader_for(job)
    downloader.run(job, media_file_ids, claim=media_claim, on_progress=lambda: media_progress_save(job))
    media_progress_save(job)


def downloads_finish_if_done(job: ExportJob, *, enqueue: bool = True) -> bool:
    """Move to archiving when no file is left to try; exactly one caller wins the move."""
    remaining = job.media_files.exclude(status__in=MediaFile.TERMINAL).exists()
    if remaining:
        return False
    media_counters_update(job)
    job.refresh_from_db()
    if job.status != Status.DOWNLOADING:
        return False
    return job_advance(
        job,
        Status.ARCHIVING,
        enqueue=enqueue,
        progress=FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE,
        step="Writing the archive",
    )


# --- archive and after -------------------------------------------------------------------------
def job_archive(job: ExportJob) -> None:
    from exports.archive import archive_build

    def heartbeat(text: str) -> None:
        job_renew_lease(job, step=text)

    library.media_sync(job)
    result = archive_build(job, on_progress=heartbeat)
    job_advance(
        job,
        Status.SUCCEEDED,
        enqueue=False,
        progress=100,
        step=_finished_text(job),
        archive_name=result.name,
        archive_size=result.size,
        archive_sha256=result.sha256,
        expires_at=timezone.now() + timedelta(days=setting("ARCHIVE_DAYS")),
    )
    transaction.on_commit(lambda: _send_task("exports.tasks.notify", str(job.id)))


def _finished_text(job: ExportJob) -> str:
    text = f"Done: {job.records_count} records"
    if job.include_media:
        text += f", {job.media_done} media files"
        if job.media_failed:
            text += f" ({job.media_failed} could not be downloaded; see the list)"
    return text


def archive_location(job: ExportJob) -> str:
    """What the command line prints: an absolute path (local) or a presigned URL (S3)."""
    try:
        return default_storage.path(job.archive_name)
    except NotImplementedError:
        return default_storage.url(job.archive_name)


def download_link(job: ExportJob, *, absolute: bool = False) -> str:
    """A signed, expiring link to the archive. Opening it still requires signing in as the owner."""
    token = signing.TimestampSigner(salt=LINK_SALT).sign(str(job.id))
    path = f"{reverse('exports:download', args=[job.id])}?link={token}"
    return f"{settings.SITE_URL}{path}" if absolute else path


@dataclass
class LinkProblem:
    message: str
    status: int  # 410 for a link of ours that ran out of time, 400 for anything else


def download_link_check(job: ExportJob, token: str) -> LinkProblem | None:
    """None when the link is good; otherwise what is wrong with it, for a person to read."""
    signer = signing.TimestampSigner(salt=LINK_SALT)
    try:
        value = signer.unsign(token, max_age=timedelta(days=setting("LINK_DAYS")))
    except signing.SignatureExpired:
        return LinkProblem(
            "This download link has expired. Open the export from your list of exports to get a new one.", 410
        )
    except (signing.BadSignature, ValueError):
        return LinkProblem("This download link is not valid (it may have been altered or cut short when copied).", 400)
    if value != str(job.id):
        return LinkProblem("This download link belongs to another export.", 400)
    return None


def job_notify(job: ExportJob) -> bool:
    """Email the owner once when the job ends, with a signed link when it succeeded."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    if not job.owner.email:
        return False
    if job.options.get("scheduled") and job.status == Status.SUCCEEDED and not (job.new_records or _new_media(job)):
        # A scheduled export says something only when something new arrived.
        ExportJob.objects.filter(id=job.id, notified_at__isnull=True).update(notified_at=timezone.now())
        return False
    claimed = ExportJob.objects.filter(id=job.id, notified_at__isnull=True, status__in=ExportJob.FINISHED).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return False
    context = {
        "job": job,
        "link": download_link(job, absolute=True) if job.status == Status.SUCCEEDED else None,
        "job_url": f"{settings.SITE_URL}{job.get_absolute_url()}",
        "link_days": setting("LINK_DAYS"),
        "failures": list(job.media_files.filter(status=MediaFile.Status.FAILED)[:20]),
    }
    subject = render_to_string("emails/export-finished-subject.html", context).strip()
    text = render_to_string("emails/export-finished-body-text.html", context)
    html = render_to_string("emails/export-finished-body-html.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [job.owner.email])
    message.attach_alternative(html, "text/html")
    message.send()
    return True


def _new_media(job: ExportJob) -> int:
    return job.media_done - job.media_reused


def job_run_inline(job: ExportJob, *, on_progress=None) -> ExportJob:
    """Run every step in this process (the `export` command without --queue)."""

    inline = _inline.set(True)

    def report():
        if on_progress:
            job.refresh_from_db()
            on_progress(job)

    try:
        claimed = job_claim(job.id, statuses=(Status.QUEUED, Status.FETCHING), to_status=Status.FETCHING)
        if claimed is None:
            raise ExtractorError("Another worker holds this export.")
        job = claimed
        job_fetch(job)
        report()
        job_after_fetch(job, enqueue=False)
        if job.status == Status.DOWNLOADING:

            def progress():
                media_progress_save(job)
                report()

            pending = media_pending_ids(job)
            if pending:
                downloader_for(job).run(job, pending, claim=media_claim, on_progress=progress)
            media_progress_save(job)
            if not downloads_finish_if_done(job, enqueue=False):
                raise ExtractorError("Some media files are held by another worker; try the export again later.")
        report()
        job_archive(job)
    except ExtractorError as exc:
        job_fail(job, exc.message)
    except Exception as exc:
        log.exception("export %s failed", job.id)
        job_fail(job, f"Unexpected error: {exc}")
    finally:
        _inline.reset(inline)
    job.refresh_from_db()
    try:
        job_notify(job)
    except Exception:  # a mail server that is down must not turn a finished export into a failure
        log.exception("could not email the owner of export %s", job.id)
    report()
    return job
