"""The one orchestrator: how a job's steps run and hand over to each other.

fetch ─▶ download (fan-out) ─▶ chunk × N ─▶ archive ─▶ notify

The Celery tasks and the command line's in-process run call the same step functions here; the
only difference is the `dispatch` they pass, which starts the next step: `CELERY` sends it to
the workers after commit, `Inline` leaves it to `run_inline`'s own loop. A retryable error (the
platform asks us to wait, storage is away) is raised to the caller, which retries the step
later (a task) or fails the job with the reason (the command line); anything else fails the job
here. The sweeper that hands dead workers' steps to live ones is here too.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from exports import dispatch as celery_dispatch
from exports.archive import job_archive
from exports.claims import job_advance, job_claim, job_fail, job_is_canceled, lease_kept, media_pending_ids
from exports.conf import setting
from exports.downloading import (
    downloader_for,
    downloads_finish_if_done,
    media_chunks,
    media_download_many,
    media_held_until,
)
from exports.fetch import job_after_fetch, job_fetch
from exports.models import EVERYTHING, ExportJob, MediaFile
from exports.notify import job_notify
from exports.progress import DOWNLOAD_SHARE, FETCH_SHARE_WITH_MEDIA
from platforms.base import ExtractorError
from platforms.outage import Pause

log = logging.getLogger(__name__)
Status = ExportJob.Status
# What storage raises when it is away: the OS's errors (local disk) and boto's (S3).
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, S3UploadFailedError)


class Celery:
    """Hands the next step to the workers."""

    step = staticmethod(celery_dispatch.enqueue_step)
    chunks = staticmethod(celery_dispatch.enqueue_chunks)
    notify = staticmethod(celery_dispatch.enqueue_notify)


CELERY = Celery()


class Inline:
    """Runs in this process: `run_inline` takes each next step itself."""

    def __init__(self):
        self.pending_chunks: list[list[int]] = []

    def step(self, job: ExportJob) -> None:
        pass

    def chunks(self, job: ExportJob, chunks: list[list[int]]) -> None:
        # One process downloads them all: as one chunk, its threads never wait for the slowest
        # file of a chunk before the next chunk starts (chunks exist to share work between workers).
        self.pending_chunks.append([media_id for chunk in chunks for media_id in chunk])

    def notify(self, job: ExportJob) -> None:
        pass


def redispatch_grace() -> timedelta:
    """How long a step handed to the queue may wait for a worker before the sweeper sends it again."""
    return timedelta(seconds=max(120, 4 * setting("LEASE_SECONDS")))


def fail(job: ExportJob, message: str, *, dispatch) -> None:
    if job_fail(job, message):
        dispatch.notify(job)
        if job.parent_id:
            parts_check(job.parent_id, dispatch=dispatch)


def parts_check(parent_id, *, dispatch) -> bool:
    """An Everything export moves to its archive once every part has ended. A part that failed
    (a revoked token) does not fail the others: it is named in the notes. Exactly one caller
    wins the move (a part that just ended, or the sweeper)."""
    parent = ExportJob.objects.filter(id=parent_id, status=Status.FETCHING).first()
    if parent is None or parent.parts.filter(status__in=ExportJob.RUNNING).exists():
        return False
    parts = list(parent.parts.select_related("platform").order_by("platform_id"))
    done = [p for p in parts if p.status == Status.SUCCEEDED]
    notes = [*parent.notes, *(f"{p.platform.display_name} could not be exported: {p.error}" for p in parts if p.error)]
    if not done:
        fail(parent, "No platform could be exported. " + " ".join(notes[len(parent.notes) :]), dispatch=dispatch)
        return False
    totals = {
        name: sum(getattr(p, name) for p in done)
        for name in ("records_count", "new_records", "media_total", "media_done", "media_failed", "media_bytes")
    }
    moved = job_advance(
        parent,
        Status.ARCHIVING,
        progress=FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE,
        step="Writing the archive",
        notes=list(dict.fromkeys(notes)),
        **totals,
    )
    if moved:
        dispatch.step(parent)
    return moved


# --- the steps ---------------------------------------------------------------------------------
def fetch_step(job_id, *, dispatch, task_id: str | None = None) -> ExportJob | None:
    job = job_claim(job_id, statuses=(Status.QUEUED, Status.FETCHING), to_status=Status.FETCHING, task_id=task_id)
    if job is None:
        return None
    try:
        with lease_kept(job):
            job_fetch(job)
    except ExtractorError as exc:
        if exc.retryable:
            raise
        fail(job, exc.message, dispatch=dispatch)
        return job
    except Exception as exc:
        log.exception("fetch of %s failed", job_id)
        fail(job, f"Unexpected error while fetching: {exc}", dispatch=dispatch)
        return job
    if not job_is_canceled(job) and job_after_fetch(job):
        dispatch.step(job)
    return job


def download_step(job_id, *, dispatch) -> None:
    """Fan the pending files out in chunks, so several workers share one big job. Not counted as
    an attempt: each file has its own claim and attempt cap, and sending a chunk twice is safe."""
    job = ExportJob.objects.select_related("platform", "owner").filter(id=job_id, status=Status.DOWNLOADING).first()
    if job is None:
        return
    pending = media_pending_ids(job)
    if not pending:
        if downloads_finish_if_done(job):
            dispatch.step(job)
        return
    # The chunks' heartbeats keep the job alive once they run; until then, they may wait in the
    # queue this long before the sweeper sends them again.
    until = timezone.now() + redispatch_grace()
    ExportJob.objects.filter(id=job.id).update(
        lease_until=Greatest(Coalesce("lease_until", Value(until)), Value(until)), updated_at=timezone.now()
    )
    dispatch.chunks(job, media_chunks(pending))


def chunk_step(job_id, media_file_ids: list[int], *, dispatch, on_progress=None) -> float | None:
    """Download a chunk; returns how many seconds to wait for files another worker still holds
    (that worker may have died), or None when the chunk is through."""
    job = ExportJob.objects.select_related("platform", "owner").filter(id=job_id).first()
    if job is None or job.status != Status.DOWNLOADING:
        return None
    downloader = downloader_for(job)
    with lease_kept(job, files=True):
        media_download_many(job, media_file_ids, downloader=downloader, on_progress=on_progress)
    # Files put back untried because the platform looked down: the chunk comes back for them
    # once the pause is over (which may already be the case).
    if job.media_files.filter(id__in=media_file_ids, status=MediaFile.Status.PENDING).exists():
        return downloads_pause(job, downloader.health.paused())
    held = media_held_until(job, media_file_ids)
    if held is not None:
        return max(5.0, (held - timezone.now()).total_seconds() + 1)
    if downloads_finish_if_done(job):
        dispatch.step(job)
    return None


def downloads_pause(job: ExportJob, pause: Pause | None) -> float:
    """The platform looks down: say so on the job and hold its lease past the pause, so the
    sweeper leaves it alone while its chunks wait; returns how long the chunk should wait."""
    if pause is None:  # over already: straight back to work
        return random.uniform(0.2, 1.0)
    until = datetime.fromtimestamp(pause.until, UTC) + redispatch_grace()
    ExportJob.objects.filter(id=job.id, status=Status.DOWNLOADING).update(
        step=pause.sentence(job.platform.display_name)[:255],
        lease_until=Greatest(Coalesce("lease_until", Value(until)), Value(until)),
        updated_at=timezone.now(),
    )
    return pause.seconds_left + random.uniform(0.5, 2.0)


def archive_step(job_id, *, dispatch, task_id: str | None = None) -> ExportJob | None:
    job = job_claim(job_id, statuses=(Status.ARCHIVING,), to_status=Status.ARCHIVING, task_id=task_id)
    if job is None:
        return None
    try:
        with lease_kept(job):
            finished = job_archive(job)
    except STORAGE_ERRORS:
        # Storage trouble (S3 away, disk full): retried by the caller. No half archive is
        # offered: the job only names its archive once the upload completed.
        raise
    except Exception as exc:
        log.exception("archive of %s failed", job_id)
        fail(job, f"Could not write the archive: {exc}", dispatch=dispatch)
        return job
    if finished:
        dispatch.notify(job)
        if job.parent_id:
            parts_check(job.parent_id, dispatch=dispatch)
    return job


def notify_step(job_id) -> bool:
    job = ExportJob.objects.select_related("platform", "owner").filter(id=job_id).first()
    return job_notify(job) if job is not None else False


def give_up(job_id, message: str, *, dispatch) -> None:
    """A retryable error that kept coming back: the job fails with it."""
    job = ExportJob.objects.filter(id=job_id).first()
    if job is not None:
        fail(job, message, dispatch=dispatch)


# --- in this process (the command line) --------------------------------------------------------
def run_inline(job: ExportJob, *, on_progress=None) -> ExportJob:
    """Run every step in this process (the `export` command without --queue); an Everything
    export runs its parts one after the other, then writes its archive."""
    inline = Inline()

    def report() -> None:
        if on_progress:
            job.refresh_from_db()
            on_progress(job)

    try:
        if job.is_everything:
            for part in job.parts.order_by("platform_id"):
                _steps_inline(part, inline, report)
            parts_check(job.id, dispatch=inline)
            job.refresh_from_db()
        else:
            _steps_inline(job, inline, report)
        if job.status == Status.ARCHIVING:
            archive_step(job.id, dispatch=inline)
    except ExtractorError as exc:
        fail(job, exc.message, dispatch=inline)
    except STORAGE_ERRORS as exc:
        fail(job, f"Could not write the archive to storage: {exc}", dispatch=inline)
    except Exception as exc:
        log.exception("export %s failed", job.id)
        fail(job, f"Unexpected error: {exc}", dispatch=inline)
    job.refresh_from_db()
    try:
        notify_step(job.id)
    except Exception:  # a mail server that is down must not turn a finished export into a failure
        log.exception("could not email the owner of export %s", job.id)
    report()
    return job


def _steps_inline(job: ExportJob, inline: Inline, report) -> None:
    """Fetch and download one job in this process (and, for a part, end it)."""
    try:
        if fetch_step(job.id, dispatch=inline) is None:
            raise ExtractorError("Another worker holds this export.")
        job.refresh_from_db()
        report()
        if job.status == Status.DOWNLOADING:
            inline.pending_chunks = []
            download_step(job.id, dispatch=inline)
            for chunk in inline.pending_chunks:
                while (wait := chunk_step(job.id, chunk, dispatch=inline, on_progress=report)) is not None:
                    if media_held_until(job, chunk) is not None:
                        raise ExtractorError("Some media files are held by another worker; try the export again later.")
                    report()
                    time.sleep(wait)  # the platform looked down: this process waits out the pause
            job.refresh_from_db()
            report()
        if job.parent_id and job.status == Status.ARCHIVING:
            archive_step(job.id, dispatch=inline)
    except ExtractorError as exc:
        if not job.parent_id:
            raise
        fail(job, exc.message, dispatch=inline)  # one platform's trouble is named, the rest go on


# --- the sweeper -------------------------------------------------------------------------------
def stale_jobs_sweep(*, dispatch=CELERY) -> int:
    """Hand the steps of dead workers (their lease ran out) and lost messages to live workers;
    fail jobs past the attempt cap. Runs every few seconds from Celery beat."""
    now = timezone.now()
    # A step with no lease (its message sent, or lost with a broker that went away) is sent
    # again once it has been quiet for a lease's length: a duplicate message is harmless, as
    # only one claim can win.
    quiet = now - timedelta(seconds=setting("LEASE_SECONDS"))
    # An Everything export waits for its parts, which the sweeper looks after one by one.
    waiting = ExportJob.objects.filter(platform_id=EVERYTHING, status=Status.FETCHING)
    count = sum(1 for parent_id in waiting.values_list("id", flat=True) if parts_check(parent_id, dispatch=dispatch))
    stale = (
        ExportJob.objects.filter(status__in=ExportJob.RUNNING)
        .filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True, updated_at__lt=quiet))
        .exclude(platform_id=EVERYTHING, status=Status.FETCHING)
    )
    for job in stale:
        if job.status != Status.DOWNLOADING and job.step_attempts >= setting("STEP_ATTEMPTS"):
            fail(
                job,
                f"Gave up at the {job.status} step after {job.step_attempts} attempts (workers stopped).",
                dispatch=dispatch,
            )
            continue
        # Only the sweeper that wins this update sends the step.
        same = ExportJob.objects.filter(
            id=job.id, status=job.status, lease_until=job.lease_until, updated_at=job.updated_at
        )
        if not same.update(lease_until=None, updated_at=now):
            continue
        dispatch.step(job)
        count += 1
    return count
