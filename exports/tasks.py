"""Thin Celery tasks: each loads nothing itself and calls one step of the pipeline
(`exports/pipeline.py`), which claims the step, does the work and starts the next one. They carry
job ids, never tokens. A retryable error is retried here with backoff and jitter, the step kept
for the task's own retry; past the cap the job fails with the reason.
"""

from __future__ import annotations

import random
from contextlib import contextmanager

from celery import shared_task

from exports import pipeline
from exports.claims import job_release_for_retry
from exports.jobs import expired_archives_delete
from exports.models import ExportJob
from exports.schedules import schedule_run_by_id
from platforms.base import ExtractorError

RETRY_BACKOFF = (10, 30, 90)
RETRYABLE = (ExtractorError, *pipeline.STORAGE_ERRORS)


@contextmanager
def retried(task, job_id: str):
    """Retry the step on a retryable error (a platform's "wait", storage away); then give up."""
    try:
        yield
    except RETRYABLE as exc:
        if isinstance(exc, ExtractorError) and not exc.retryable:
            raise
        reason = exc.message if isinstance(exc, ExtractorError) else f"storage did not answer ({type(exc).__name__})"
        tries = task.request.retries
        if tries >= len(RETRY_BACKOFF):
            pipeline.give_up(job_id, reason, dispatch=pipeline.CELERY)
            return
        countdown = RETRY_BACKOFF[tries] * (1 + random.random() / 2)
        job = ExportJob.objects.filter(id=job_id).first()
        if job is not None:
            job_release_for_retry(job, task_id=task.request.id, countdown=countdown, reason=reason)
        raise task.retry(countdown=countdown, exc=exc) from exc


@shared_task(bind=True, max_retries=len(RETRY_BACKOFF), acks_late=True)
def fetch_metadata(self, job_id: str) -> None:
    with retried(self, job_id):
        pipeline.fetch_step(job_id, dispatch=pipeline.CELERY, task_id=self.request.id)


@shared_task(acks_late=True)
def download_media(job_id: str) -> None:
    pipeline.download_step(job_id, dispatch=pipeline.CELERY)


@shared_task(bind=True, acks_late=True, max_retries=None)
def download_chunk(self, job_id: str, media_file_ids: list[int]) -> None:
    # Files another worker still holds: come back when their lease runs out (that worker may
    # have died); bounded because each file's attempts are capped.
    wait = pipeline.chunk_step(job_id, media_file_ids, dispatch=pipeline.CELERY)
    if wait is not None:
        raise self.retry(countdown=wait)


@shared_task(bind=True, max_retries=len(RETRY_BACKOFF), acks_late=True)
def build_archive(self, job_id: str) -> None:
    with retried(self, job_id):
        pipeline.archive_step(job_id, dispatch=pipeline.CELERY, task_id=self.request.id)


@shared_task(acks_late=True)
def notify(job_id: str) -> None:
    pipeline.notify_step(job_id)


@shared_task
def sweep_stale_jobs() -> int:
    return pipeline.stale_jobs_sweep()


@shared_task
def expire_archives() -> int:
    return expired_archives_delete()


@shared_task
def run_schedule(schedule_id: int) -> str | None:
    return schedule_run_by_id(schedule_id)
