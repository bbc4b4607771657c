"""The email a person gets when an export ends: once, with a signed link when it succeeded."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from api.events import job_ended
from exports.conf import setting
from exports.emails import email_send
from exports.links import download_link
from exports.models import ExportJob, MediaFile
from exports.progress import job_outcome, job_title

Status = ExportJob.Status


def job_notify(job: ExportJob) -> bool:
    """Email the owner once when the job ends, with a signed link when it succeeded; and queue
    the owner's webhooks and copies to their storage (once per ending, however often this runs)."""
    if job.parent_id:
        return False  # a part of an Everything export: the email and webhooks are the parent's
    job_ended(job)
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
        "title": job_title(job),
        "outcome": job_outcome(job),
        "link": download_link(job, absolute=True) if job.status == Status.SUCCEEDED else None,
        "job_url": f"{settings.SITE_URL}{job.get_absolute_url()}",
        "link_days": setting("LINK_DAYS"),
        "failures": list(job.media_files.filter(status=MediaFile.Status.FAILED)[:20]),
        # Queued just above (job_ended); the copies are made after this email is sent.
        "delivered_to": [
            d.destination.label
            for d in job.deliveries.filter(archive_sha256=job.archive_sha256)
            .select_related("destination")
            .order_by("destination__name")
        ],
    }
    email_send("export-finished", context, to=job.owner.email)
    return True


def _new_media(job: ExportJob) -> int:
    return job.media_done - job.media_reused
