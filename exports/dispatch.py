"""Handing work to the Celery workers, always after the surrounding transaction commits
(no task may find a row that is not there yet). The one place that names the tasks."""

from __future__ import annotations

from django.db import transaction

from exports.models import ExportJob

Status = ExportJob.Status

STEP_TASKS = {
    Status.QUEUED: "exports.tasks.fetch_metadata",
    Status.FETCHING: "exports.tasks.fetch_metadata",
    Status.DOWNLOADING: "exports.tasks.download_media",
    Status.ARCHIVING: "exports.tasks.build_archive",
}
NOTIFY_TASK = "exports.tasks.notify"
CHUNK_TASK = "exports.tasks.download_chunk"


def send_after_commit(name: str, *args) -> None:
    from celery import current_app  # imported when needed: the web and CLI start faster

    # robust: a broker that is down must not turn a saved job into an error page; the sweeper
    # sends the step once the broker is back.
    transaction.on_commit(lambda: current_app.send_task(name, args=list(args)), robust=True)


def enqueue_step(job: ExportJob) -> None:
    """Send the task for the job's current status (nothing for a finished job)."""
    name = STEP_TASKS.get(job.status)
    if name is not None:
        send_after_commit(name, str(job.id))


def enqueue_notify(job: ExportJob) -> None:
    send_after_commit(NOTIFY_TASK, str(job.id))


def enqueue_chunks(job: ExportJob, chunks: list[list[int]]) -> None:
    for chunk in chunks:
        send_after_commit(CHUNK_TASK, str(job.id), chunk)
