"""Asking for an export, and what a person can do with it afterwards: cancel it, try its failed
files again, let it expire. Checks run here, so the web form, the API and the command line refuse
the same requests with the same words."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.tokens import NotConnected, token_for
from exports.conf import setting
from exports.dispatch import enqueue_step
from exports.encryption import RecipientError, age_recipient, passphrase_key
from exports.models import ExportJob, MediaFile
from exports.progress import media_counters_update
from platforms.models import Platform
from platforms.registry import available

Status = ExportJob.Status

FORMATS = ("json", "csv")
MEDIA_KINDS = ("image", "video", "file")


class ExportRequestError(ValueError):
    """A request for an export that cannot be honoured; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


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
    if options.get("age_recipient") and options.get("age_passphrase"):
        raise ExportRequestError("Encrypt to a public key or with a passphrase, not both.", field="age_passphrase")
    if options.get("age_recipient"):
        try:
            age_recipient(str(options["age_recipient"]))
        except RecipientError as exc:
            raise ExportRequestError(str(exc), field="age_recipient") from None
        clean["age_recipient"] = str(options["age_recipient"]).strip()
    if options.get("age_passphrase"):
        try:
            clean["age_recipient"], clean["age_key"] = passphrase_key(str(options["age_passphrase"]))
        except RecipientError as exc:
            raise ExportRequestError(str(exc), field="age_passphrase") from None
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


def expired_archives_delete() -> int:
    """Expire every finished export whose archive is past its date (the periodic task)."""
    return sum(
        1 for job in ExportJob.objects.filter(status=Status.SUCCEEDED, expires_at__lt=timezone.now()) if job_expire(job)
    )
