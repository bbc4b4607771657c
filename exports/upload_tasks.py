"""Celery tasks for browser uploads (kept apart from exports/tasks.py; CELERY_IMPORTS loads it)."""

from celery import shared_task

from exports import uploads


@shared_task(name="exports.upload_tasks.sweep_abandoned_uploads")
def sweep_abandoned_uploads() -> int:
    return uploads.upload_sweep()
