"""Asking for an export, and what a person can do with it afterwards: cancel it, try its failed
files again, let it expire. Checks run here, so the web form, the API and the command line refuse
the same requests with the same words."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.tokens import NotConnected, token_for
from exports.conf import setting
from exports.dispatch import enqueue_step
from exports.encryption import RecipientError, age_recipient, passphrase_key
from exports.models import EVERYTHING, ExportJob, MediaFile
from exports.progress import media_counters_update
from platforms.models import Platform
from platforms.registry import available

Status = ExportJob.Status

FORMATS = ("json", "csv")
MEDIA_KINDS = ("image", "video", "file")
# What only an Everything export's parent keeps: the archive's shape and where it goes.
PARENT_ONLY = ("age_recipient", "age_passphrase", "age_key", "destinations")


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
    clean.update(encryption_clean(options))
    if options.get("max_records") not in (None, ""):
        try:
            max_records = int(options["max_records"])
        except (TypeError, ValueError):
            raise ExportRequestError("Max records must be a whole number.", field="max_records") from None
        if max_records < 1:
            raise ExportRequestError("Max records must be at least 1.", field="max_records")
        limit = setting("MAX_RECORDS_LIMIT")
        if max_records > limit:
            raise ExportRequestError(
                f"Ask for at most {limit:,} records, or leave it empty for everything.", field="max_records"
            )
        clean["max_records"] = max_records
    return clean


def encryption_clean(options: dict) -> dict:
    """`age_recipient` checked, or a passphrase turned into a new key pair whose private half is
    kept only inside a key file the passphrase protects (`age_key`). A key file made earlier (a
    schedule's) is carried as it is."""
    if options.get("age_recipient") and options.get("age_passphrase"):
        raise ExportRequestError("Encrypt to a public key or with a passphrase, not both.", field="age_passphrase")
    if options.get("age_passphrase"):
        try:
            public, key = passphrase_key(str(options["age_passphrase"]))
        except RecipientError as exc:
            raise ExportRequestError(str(exc), field="age_passphrase") from None
        return {"age_recipient": public, "age_key": key}
    if not options.get("age_recipient"):
        return {}
    try:
        age_recipient(str(options["age_recipient"]))
    except RecipientError as exc:
        raise ExportRequestError(str(exc), field="age_recipient") from None
    clean = {"age_recipient": str(options["age_recipient"]).strip()}
    if options.get("age_key"):
        clean["age_key"] = str(options["age_key"])
    return clean


def destinations_clean(owner, options: dict) -> dict:
    """`destinations`: the ids of the owner's own storage this job's archive is copied to, when
    the person chose them (absent: every destination set to "every export"). Someone else's id,
    or one that is gone, is refused rather than quietly skipped."""
    if options.get("destinations") is None:
        return {}
    try:
        wanted = sorted({int(i) for i in options["destinations"]})
    except (TypeError, ValueError):
        raise ExportRequestError("Destinations are given by their numbers (ids).", field="destinations") from None
    # The relation is the api app's; named through the owner, so this module imports nothing of it.
    known = set(owner.destinations.filter(id__in=wanted).values_list("id", flat=True))
    unknown = [str(i) for i in wanted if i not in known]
    if unknown:
        raise ExportRequestError(f"You have no destination {', '.join(unknown)}.", field="destinations")
    return {"destinations": wanted}


def running_jobs_check(owner) -> None:
    """Refuse a new job past the user's running-jobs limit. Call inside the transaction that
    creates the job: the user's row is locked so two quick submissions cannot both slip under."""
    limit = setting("MAX_ACTIVE_JOBS_PER_USER")
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    # An Everything export counts once, not once per platform.
    active = ExportJob.objects.filter(owner=owner, status__in=ExportJob.RUNNING, parent__isnull=True).count()
    if active >= limit:
        raise ExportRequestError(
            f"You already have {active} exports running (the limit is {limit}); wait for one to finish or cancel one."
        )


def job_for_request(owner, request_key: str) -> ExportJob | None:
    """The job a submitted form already started (a double click, a resent POST). Call inside the
    transaction that creates the job: the owner's row lock makes a second submit wait."""
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    return ExportJob.objects.filter(owner=owner, options__request_key=request_key).first()


def export_job_create(
    *,
    owner,
    platform_slug: str,
    formats: list[str] | None = None,
    include_media: bool = False,
    options: dict | None = None,
    enqueue: bool = True,
    request_key: str | None = None,
) -> ExportJob:
    """Check the request, create the job and (after commit) hand it to the workers.

    `request_key` identifies one submitted form: the same key again (a double click, a resent
    POST) returns the job it already started instead of starting another."""
    if platform_slug == EVERYTHING:
        return everything_job_create(
            owner=owner,
            formats=formats,
            include_media=include_media,
            options=options,
            enqueue=enqueue,
            request_key=request_key,
        )
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
    clean.update(destinations_clean(owner, options or {}))
    try:
        token_for(owner, platform)
    except NotConnected as exc:
        raise ExportRequestError(str(exc), field="platform") from None

    with transaction.atomic():
        if request_key:
            earlier = job_for_request(owner, request_key)
            if earlier is not None:
                return earlier
            clean["request_key"] = request_key
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


def everything_job_create(
    *,
    owner,
    formats: list[str] | None,
    include_media: bool,
    options: dict | None,
    enqueue: bool,
    request_key: str | None = None,
) -> ExportJob:
    """One export of every connected platform: a parent job (platform `all`) and a part per
    platform, each with the options that platform can honour. The parts run side by side, each
    under its own platform's limits; the parent writes the one archive (DESIGN §2)."""
    everything = Platform.objects.get(slug=EVERYTHING)
    formats = [f.strip().lower() for f in (formats or ["json"]) if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportRequestError(f"Unknown format {', '.join(unknown)}.", field="formats")
    formats = ["json", *[f for f in formats if f != "json"]]
    kinds = set((options or {}).get("media_types") or MEDIA_KINDS)
    unknown_kinds = sorted(kinds - set(MEDIA_KINDS))
    if unknown_kinds:
        raise ExportRequestError(f"Unknown media type: {', '.join(unknown_kinds)}.", field="media_types")
    parts, missing = [], []
    for platform in Platform.objects.filter(enabled=True).order_by("slug"):
        if not available(platform.slug):
            continue
        try:
            token_for(owner, platform)
        except NotConnected:
            missing.append(platform.display_name)
            continue
        wanted = sorted(kinds & set(platform.media_kinds))
        # The parent writes, encrypts and delivers the one archive: its parts need none of that.
        part_options = {k: v for k, v in (options or {}).items() if k != "media_types" and k not in PARENT_ONLY}
        if wanted:
            part_options["media_types"] = wanted
        parts.append(
            (
                platform,
                [f for f in formats if f in platform.export_formats],
                include_media and bool(wanted),
                export_options_clean(platform=platform, options=part_options),
            )
        )
    if not parts:
        raise ExportRequestError("Connect at least one platform first: there is nothing to export.", field="platform")
    notes = [f"Not connected, so not in this export: {', '.join(missing)}."] if missing else []
    kept = {k: v for k, v in (options or {}).items() if k in ("date_from", "date_to", "max_records", "scheduled")}
    kept.update(encryption_clean(options or {}))
    kept.update(destinations_clean(owner, options or {}))
    with transaction.atomic():
        if request_key:
            earlier = job_for_request(owner, request_key)
            if earlier is not None:
                return earlier
            kept["request_key"] = request_key
        running_jobs_check(owner)
        parent = ExportJob.objects.create(
            owner=owner,
            platform=everything,
            formats=formats,
            include_media=include_media,
            options=kept,
            status=Status.FETCHING,
            fetching_at=timezone.now(),
            notes=notes,
            step=f"Exporting {len(parts)} platforms",
        )
        for platform, part_formats, part_media, part_options in parts:
            part = ExportJob.objects.create(
                owner=owner,
                parent=parent,
                platform=platform,
                formats=part_formats or ["json"],
                include_media=part_media,
                options=part_options,
                step="Waiting for a worker",
            )
            if enqueue:
                enqueue_step(part)
    return parent


def job_cancel(job: ExportJob) -> bool:
    now = timezone.now()
    # An Everything export's parts end with it.
    updated = ExportJob.objects.filter(Q(id=job.id) | Q(parent_id=job.id), status__in=ExportJob.RUNNING).update(
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
            step=f"Retrying failed files: 0 of {count} tried",
            progress=0,
            retry_total=count,
            download_base_bytes=job.media_bytes,
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


def job_delete(*, job: ExportJob, owner) -> bool:
    """Delete one of the owner's finished jobs: its archive in storage and its rows (records,
    file rows). The library keeps its own copies. A running job is cancelled first by the person,
    so a worker never writes into a job that is gone. Returns False when there was nothing the
    owner may delete."""
    if job.owner_id != owner.pk or job.status in ExportJob.RUNNING:
        return False
    archive = job.archive_name
    with transaction.atomic():
        deleted, _ = ExportJob.objects.filter(id=job.id, owner=owner, status__in=ExportJob.FINISHED).delete()
        if deleted and archive:
            transaction.on_commit(lambda: default_storage.delete(archive))
    return bool(deleted)
