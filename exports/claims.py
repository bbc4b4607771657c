"""Claims and leases: who works on a job's step, or on one media file, and until when.

A step (and each media file) is taken with a compare-and-set that records a lease and counts
attempts (DESIGN §1). Leases are short (`LEASE_SECONDS`, 30 s by default) and kept alive by a
heartbeat thread while the work runs, so a worker that dies — SIGKILL included — leaves a lease
that runs out within seconds, and the sweeper hands the work to another worker. A worker that is
alive but slow keeps its claim however long the work takes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from exports.conf import setting
from exports.models import ExportJob, MediaFile

log = logging.getLogger(__name__)
Status = ExportJob.Status
RETRY_GRACE_SECONDS = 60


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_until():
    return timezone.now() + timedelta(seconds=setting("LEASE_SECONDS"))


def job_claim(job_id, *, statuses: tuple[str, ...], to_status: str, task_id: str | None = None) -> ExportJob | None:
    """Take the step with a compare-and-set that records a lease; None when another worker holds
    a live lease or the job moved on. After the attempt cap the job fails with the reason.

    A task's own retry (same task id) takes back the step its earlier run reserved for it, and
    does not count as an attempt: a retry is not a dead worker."""
    now = timezone.now()
    stamp_field = f"{to_status}_at"
    lease = {"lease_owner": worker_name(), "lease_until": lease_until()}
    base = ExportJob.objects.filter(id=job_id, status__in=statuses).exclude(canceled_at__isnull=False)
    if task_id and base.filter(lease_owner=f"retry:{task_id}").update(status=to_status, updated_at=now, **lease):
        return ExportJob.objects.select_related("platform", "owner").get(id=job_id)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = base.filter(free).update(
        status=to_status,
        step_attempts=F("step_attempts") + 1,
        updated_at=now,
        **{stamp_field: Coalesce(F(stamp_field), Value(now))},
        **lease,
    )
    if claimed != 1:
        return None
    job = ExportJob.objects.select_related("platform", "owner").get(id=job_id)
    if job.step_attempts > setting("STEP_ATTEMPTS"):
        job_fail(
            job,
            f"Gave up after {job.step_attempts - 1} attempts at the {to_status} step (the worker stopped each time).",
        )
        return None
    return job


def job_renew_lease(job: ExportJob, **fields: Any) -> None:
    """Extend the lease while a step makes progress, saving progress fields with it."""
    now = timezone.now()
    ExportJob.objects.filter(id=job.id, status=job.status).update(lease_until=lease_until(), updated_at=now, **fields)
    for name, value in fields.items():
        setattr(job, name, value)


def job_advance(job: ExportJob, to_status: str, **fields: Any) -> bool:
    """Finish the current step and move on; the next step starts with a fresh attempt count.
    Exactly one caller wins the move; the caller then starts the next step."""
    now = timezone.now()
    updates = {"status": to_status, "lease_owner": "", "lease_until": None, "step_attempts": 0, "updated_at": now}
    if to_status != Status.QUEUED:
        updates[f"{to_status}_at"] = now
    updates.update(fields)
    moved = ExportJob.objects.filter(id=job.id, status=job.status).update(**updates) == 1
    if moved:
        for name, value in updates.items():
            setattr(job, name, value)
    return moved


def job_release_for_retry(job: ExportJob, *, task_id: str, countdown: float, reason: str) -> None:
    """Keep the step for the task's own retry: reserved under its id past the countdown, so the
    sweeper leaves it alone and no other run takes it meanwhile."""
    ExportJob.objects.filter(id=job.id, status=job.status).update(
        lease_owner=f"retry:{task_id}",
        lease_until=timezone.now() + timedelta(seconds=countdown + RETRY_GRACE_SECONDS),
        step=f"Trying again shortly: {reason}"[:255],
        updated_at=timezone.now(),
    )


def job_fail(job: ExportJob, message: str) -> bool:
    """End a running job as failed with the reason a person reads; False when it had ended."""
    now = timezone.now()
    updated = ExportJob.objects.filter(id=job.id, status__in=ExportJob.RUNNING).update(
        status=Status.FAILED,
        error=message,
        step=f"Failed: {message}"[:255],
        failed_at=now,
        lease_owner="",
        lease_until=None,
        updated_at=now,
    )
    if updated:
        job.status, job.error, job.failed_at = Status.FAILED, message, now
        log.warning("export %s failed: %s", job.id, message)
    return bool(updated)


def job_is_canceled(job: ExportJob) -> bool:
    return ExportJob.objects.filter(id=job.id, status=Status.CANCELED).exists()


# --- media files -------------------------------------------------------------------------------
def media_claim_many(job: ExportJob, media_file_ids: list[int]) -> list[MediaFile]:
    """Take every claimable file of a chunk at once (pending, or held by a lease that ran out, and
    under the attempt cap); returns those this call took, in id order. A file another worker
    holds, or that is done, is left out.

    One UPDATE and one SELECT for the whole chunk, in one transaction: the SELECT finds this
    call's files by the exact lease it wrote, which no heartbeat can move in between (the rows
    stay locked until the commit)."""
    if not media_file_ids:
        return []
    now, until, owner = timezone.now(), lease_until(), worker_name()
    free = Q(status=MediaFile.Status.PENDING) | Q(status=MediaFile.Status.DOWNLOADING, lease_until__lt=now)
    with transaction.atomic():
        claimed = (
            MediaFile.objects.filter(Q(id__in=media_file_ids, job=job) & free)
            .filter(attempts__lt=setting("STEP_ATTEMPTS") + setting("DOWNLOAD_ATTEMPTS"))
            .update(
                status=MediaFile.Status.DOWNLOADING, lease_until=until, lease_owner=owner, attempts=F("attempts") + 1
            )
        )
        if not claimed:
            return []
        files = list(
            MediaFile.objects.filter(
                id__in=media_file_ids, status=MediaFile.Status.DOWNLOADING, lease_owner=owner, lease_until=until
            ).order_by("id")
        )
    for media_file in files:
        media_file.job = job  # the caller's row: no query per file to read it back
    return files


def media_claim(job: ExportJob, media_file_id: int) -> MediaFile | None:
    claimed = media_claim_many(job, [media_file_id])
    return claimed[0] if claimed else None


def media_pending_ids(job: ExportJob) -> list[int]:
    now = timezone.now()
    stale = Q(status=MediaFile.Status.DOWNLOADING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True))
    return list(
        job.media_files.filter(Q(status=MediaFile.Status.PENDING) | stale).order_by("id").values_list("id", flat=True)
    )


# --- the heartbeat -----------------------------------------------------------------------------
def leases_renew(job_id, status: str, *, files: bool) -> None:
    """One beat: the job's lease, and (while downloading) the leases of its files this worker is
    downloading, pushed forward together."""
    until = lease_until()
    ExportJob.objects.filter(id=job_id, status=status).update(lease_until=until)
    if files:
        MediaFile.objects.filter(job_id=job_id, status=MediaFile.Status.DOWNLOADING, lease_owner=worker_name()).update(
            lease_until=until
        )


@contextmanager
def lease_kept(job: ExportJob, *, files: bool = False):
    """Keep the job's lease (and its files' leases) alive from a thread while the body runs.

    Dies with the process: after a SIGKILL the lease runs out within LEASE_SECONDS."""
    stop = threading.Event()
    every = max(1.0, setting("LEASE_SECONDS") / 3)
    job_id, status = job.id, job.status

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    leases_renew(job_id, status, files=files)
                except Exception:  # a database blip: the next beat tries again, within the lease
                    log.warning("could not renew the lease of export %s", job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)
