"""What is read: a user's jobs, one job for its owner, a job as the status JSON."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404

from exports.models import ExportJob, MediaFile
from exports.progress import download_speed


def jobs_for_owner(user, *, platform: str | None = None, status: str | None = None) -> QuerySet[ExportJob]:
    # An Everything export's parts show on its own page, not as jobs of their own.
    jobs = ExportJob.objects.filter(owner=user, parent__isnull=True).select_related("platform")
    if platform:
        jobs = jobs.filter(platform_id=platform)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def job_for_owner(user, job_id) -> ExportJob:
    """The job if `user` owns it; 404 otherwise, so another user cannot even learn it exists."""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    try:
        return ExportJob.objects.select_related("platform", "owner").get(id=job_id, owner=user)
    except (ExportJob.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def has_finished_export(user, platform_slug: str) -> bool:
    return ExportJob.objects.filter(owner=user, platform_id=platform_slug, status=ExportJob.Status.SUCCEEDED).exists()


def active_jobs_count(user) -> int:
    return ExportJob.objects.filter(owner=user, status__in=ExportJob.RUNNING, parent__isnull=True).count()


def job_failures(job: ExportJob) -> QuerySet[MediaFile]:
    """The files that could not be kept; an Everything export's are its parts'."""
    files = MediaFile.objects.filter(job__parent=job) if job.is_everything else job.media_files
    return files.filter(status=MediaFile.Status.FAILED).select_related("job").order_by("job__platform_id", "id")


def job_parts(job: ExportJob) -> list[ExportJob]:
    """An Everything export's parts, one per platform, for its page."""
    return list(job.parts.select_related("platform").order_by("platform_id")) if job.is_everything else []


# What `job_status_payload` reads: one row of one table, without the big JSON columns
# (`account`, `skipped_records`) the status never shows.
STATUS_FIELDS = (
    "id", "owner_id", "platform_id", "status", "progress", "step", "error", "notes", "records_count",
    "new_records", "media_reused", "media_reused_bytes", "archive_name", "archive_size", "media_total",
    "media_done", "media_failed", "media_bytes", "expires_at", "succeeded_at", "failed_at", "canceled_at",
    "expired_at", "downloading_at", "media_bytes_expected", "media_sized", "retry_total", "download_base_bytes",
)  # fmt: skip
# Finished jobs are polled too (a job page left open, a script's last look): how long their
# failures list is kept.
FINISHED_STATUS_SECONDS = 5


def job_status_row(user, job_id) -> ExportJob:
    """The job for its status JSON: one query on the job table alone; 404 unless `user` owns it."""
    try:
        return ExportJob.objects.only(*STATUS_FIELDS).get(id=job_id, owner_id=user.pk)
    except (ExportJob.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def job_status_payload(job: ExportJob, *, download_url: str | None) -> dict:
    """The job as `/exports/<id>/status.json` gives it (DESIGN §6)."""
    if job.media_failed:
        failures = [{"media_id": f.media_id, "reason": f.last_error} for f in job_failures(job)[:500]]
    else:  # the counter comes from the rows (`media_counters_update`): none failed, none to list
        failures = []
    return {
        "id": str(job.id),
        "platform": job.platform_id,
        "status": job.status,
        "progress": int(job.progress),
        "step": job.step,
        "records": job.records_count,
        "media": {
            "total": job.media_total,
            "done": job.media_done,
            "failed": job.media_failed,
            "bytes": job.media_bytes,
            # Before and while downloading: the sizes the platform gave (null when it gave none),
            # and the speed since the download (or the retry) began.
            "expected_bytes": job.media_bytes_expected or None,
            "expected_files": job.media_sized,
            "bytes_per_second": round(speed) if (speed := download_speed(job)) else None,
            "retrying": job.retry_total,
        },
        # Files the archive does not hold (each listed in `failures` and failures.csv).
        "missing": job.media_failed,
        # What the library saved: records it did not have, files not downloaded again.
        "library": {"new_records": job.new_records, "reused": job.media_reused, "reused_bytes": job.media_reused_bytes},
        "failures": failures,
        "notes": job.notes,
        "download_url": download_url,
        "archive_size": job.archive_size,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "error": job.error or None,
    }


def job_status_cached(job: ExportJob, *, download_url: str | None) -> dict:
    """`job_status_payload`, kept a few seconds for a finished job with failures, whose list is
    the one costly part. The key changes with whatever moves a finished job on (a retry, the
    archive's expiry), so such a change shows at once."""
    if job.status not in ExportJob.FINISHED or not job.media_failed:
        return job_status_payload(job, download_url=download_url)
    finished = job.expired_at or job.finished_at
    key = f"status-json:{job.id}:{job.status}:{finished.timestamp() if finished else ''}:{job.media_failed}"
    payload = cache.get(key)
    if payload is None:
        payload = job_status_payload(job, download_url=None)
        cache.set(key, payload, FINISHED_STATUS_SECONDS)
    # The link is built from the request's host, which the cache must not carry to another.
    return {**payload, "download_url": download_url}
