"""Thin Celery tasks: claim the step, call a service, move on. They carry job ids, never tokens.

A task that finds its step claimed by a live worker does nothing (a redelivery of work in hand);
one whose holder died takes over once the lease has expired; the sweeper re-queues steps whose
lease expired and fails jobs past the attempt cap.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from exports import services
from exports.models import ExportJob, MediaFile
from platforms.base import ExtractorError

log = logging.getLogger(__name__)
Status = ExportJob.Status
RETRY_BACKOFF = (10, 30, 90)
# What storage raises when it is away: the OS's errors (local disk) and boto's (S3).
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, S3UploadFailedError)


def _retry_later(task, exc: ExtractorError, job: ExportJob) -> None:
    """Retry a retryable platform error with backoff and jitter; past the cap, fail the job."""
    tries = task.request.retries
    if tries >= len(RETRY_BACKOFF):
        services.job_fail(job, exc.message)
        return
    countdown = RETRY_BACKOFF[tries] * (1 + random.random() / 2)
    services.job_release_for_retry(job, task_id=task.request.id, countdown=countdown, reason=exc.message)
    raise task.retry(countdown=countdown, exc=exc)


@shared_task(bind=True, max_retries=len(RETRY_BACKOFF), acks_late=True)
def fetch_metadata(self, job_id: str) -> None:
    job = services.job_claim(
        job_id, statuses=(Status.QUEUED, Status.FETCHING), to_status=Status.FETCHING, task_id=self.request.id
    )
    if job is None:
        return
    try:
        services.job_fetch(job)
    except ExtractorError as exc:
        if exc.retryable:
            _retry_later(self, exc, job)
            return
        services.job_fail(job, exc.message)
        return
    except Exception as exc:
        log.exception("fetch of %s failed", job_id)
        services.job_fail(job, f"Unexpected error while fetching: {exc}")
        return
    if not services.job_is_canceled(job):
        services.job_after_fetch(job)


@shared_task(acks_late=True)
def download_media(job_id: str) -> None:
    """Fan the pending files out in chunks, so several workers share one big job."""
    job = services.job_claim(job_id, statuses=(Status.DOWNLOADING,), to_status=Status.DOWNLOADING)
    if job is None:
        return
    pending = services.media_pending_ids(job)
    if not pending:
        services.downloads_finish_if_done(job)
        return
    size = settings.STAREXPORT["DOWNLOAD_CHUNK_FILES"]
    for start in range(0, len(pending), size):
        download_chunk.delay(job_id, pending[start : start + size])


@shared_task(bind=True, acks_late=True, max_retries=None)
def download_chunk(self, job_id: str, media_file_ids: list[int]) -> None:
    job = ExportJob.objects.select_related("platform", "owner").filter(id=job_id).first()
    if job is None or job.status != Status.DOWNLOADING:
        return
    services.media_download_many(job, media_file_ids)
    # Files another worker still holds: come back when their lease runs out (that worker may
    # have died); bounded because each file's attempts are capped in media_claim.
    held = MediaFile.objects.filter(id__in=media_file_ids, status=MediaFile.Status.DOWNLOADING)
    if held.exists():
        lease = held.order_by("-lease_until").values_list("lease_until", flat=True).first()
        wait = max(5.0, (lease - timezone.now()).total_seconds() + 1) if lease else 5.0
        raise self.retry(countdown=wait)
    services.downloads_finish_if_done(job)


@shared_task(bind=True, max_retries=len(RETRY_BACKOFF), acks_late=True)
def build_archive(self, job_id: str) -> None:
    job = services.job_claim(job_id, statuses=(Status.ARCHIVING,), to_status=Status.ARCHIVING, task_id=self.request.id)
    if job is None:
        return
    try:
        services.job_archive(job)
    except STORAGE_ERRORS as exc:
        # Storage trouble (S3 away, disk full): retried, then a clear failure. No half archive is
        # offered: the job only names its archive once the upload completed.
        if self.request.retries < len(RETRY_BACKOFF):
            countdown = RETRY_BACKOFF[self.request.retries]
            services.job_release_for_retry(
                job,
                task_id=self.request.id,
                countdown=countdown,
                reason=f"storage did not answer ({type(exc).__name__})",
            )
            raise self.retry(countdown=countdown, exc=exc) from exc
        services.job_fail(job, f"Could not write the archive to storage: {exc}")
    except Exception as exc:
        log.exception("archive of %s failed", job_id)
        services.job_fail(job, f"Could not write the archive: {exc}")


@shared_task(acks_late=True)
def notify(job_id: str) -> None:
    job = ExportJob.objects.select_related("platform", "owner").filter(id=job_id).first()
    if job is not None:
        services.job_notify(job)


@shared_task
def sweep_stale_jobs() -> int:
    """Re-queue steps whose lease expired (their worker died) and jobs whose message was lost."""
    now = timezone.now()
    quiet = now - timedelta(seconds=settings.STAREXPORT["LEASE_SECONDS"])
    stale = ExportJob.objects.filter(status__in=ExportJob.RUNNING).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, updated_at__lt=quiet)
    )
    count = 0
    for job in stale:
        if job.status == Status.DOWNLOADING and job.lease_until is None:
            # Chunks are running or queued; the dispatcher's own lease was released.
            if job.updated_at >= quiet:
                continue
        if job.step_attempts >= settings.STAREXPORT["STEP_ATTEMPTS"]:
            services.job_fail(
                job, f"Gave up at the {job.status} step after {job.step_attempts} attempts (workers stopped)."
            )
            continue
        ExportJob.objects.filter(id=job.id).update(lease_until=None)
        services.enqueue_step(job)
        count += 1
    return count


@shared_task
def expire_archives() -> int:
    count = 0
    for job in ExportJob.objects.filter(status=Status.SUCCEEDED, expires_at__lt=timezone.now()):
        count += services.job_expire(job)
    return count


@shared_task
def run_schedule(schedule_id: int) -> str | None:
    from exports.models import ExportSchedule
    from exports.schedules import schedule_run

    schedule = ExportSchedule.objects.select_related("owner", "platform").filter(id=schedule_id).first()
    job = schedule_run(schedule) if schedule else None
    return str(job.id) if job else None
