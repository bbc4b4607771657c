"""What is read: a user's jobs, one job for its owner, a job as the status JSON."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from exports.models import ExportJob, MediaFile


def jobs_for_owner(user, *, platform: str | None = None, status: str | None = None) -> QuerySet[ExportJob]:
    jobs = ExportJob.objects.filter(owner=user).select_related("platform")
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
    return ExportJob.objects.filter(owner=user, status__in=ExportJob.RUNNING).count()


def job_failures(job: ExportJob) -> QuerySet[MediaFile]:
    return job.media_files.filter(status=MediaFile.Status.FAILED).order_by("id")


def job_status_payload(job: ExportJob, *, download_url: str | None) -> dict:
    """The job as `/exports/<id>/status.json` gives it (DESIGN §6)."""
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
        },
        # Files the archive does not hold (each listed in `failures` and failures.csv).
        "missing": job.media_failed,
        # What the library saved: records it did not have, files not downloaded again.
        "library": {"new_records": job.new_records, "reused": job.media_reused, "reused_bytes": job.media_reused_bytes},
        "failures": [{"media_id": f.media_id, "reason": f.last_error} for f in job_failures(job)[:500]],
        "notes": job.notes,
        "download_url": download_url,
        "archive_size": job.archive_size,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "error": job.error or None,
    }
