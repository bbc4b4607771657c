"""A job's counters and the sentence a person reads, derived from its rows so they are right
after any redelivery."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.template.defaultfilters import filesizeformat

from exports.claims import job_renew_lease
from exports.models import ExportJob, MediaFile

# Share of the progress bar each stage fills.
FETCH_SHARE_WITH_MEDIA, DOWNLOAD_SHARE = 25, 65
FETCH_SHARE_NO_MEDIA = 80
COUNTERS = ["media_total", "media_done", "media_failed", "media_bytes", "media_reused", "media_reused_bytes"]


def media_counters_update(job: ExportJob) -> None:
    """All media counters from one aggregate query over the job's files."""
    done = Q(status=MediaFile.Status.DONE)
    reused = done & Q(extra__reused_from_library=True)
    totals = job.media_files.aggregate(
        media_total=Count("id"),
        media_done=Count("id", filter=done),
        media_failed=Count("id", filter=Q(status=MediaFile.Status.FAILED)),
        media_bytes=Sum("size", filter=done),
        media_reused=Count("id", filter=reused),
        media_reused_bytes=Sum("size", filter=reused),
    )
    totals = {name: value or 0 for name, value in totals.items()}
    ExportJob.objects.filter(id=job.id).update(**totals)
    for name, value in totals.items():
        setattr(job, name, value)


def media_step_text(job: ExportJob) -> str:
    text = f"Downloading media: {job.media_done + job.media_failed}/{job.media_total} files · {filesizeformat(job.media_bytes)}"
    if job.media_failed:
        text += f" · {job.media_failed} failed"
    return text


def media_progress_save(job: ExportJob) -> None:
    media_counters_update(job)
    finished = job.media_done + job.media_failed
    share = FETCH_SHARE_WITH_MEDIA + int(DOWNLOAD_SHARE * finished / max(1, job.media_total))
    job_renew_lease(job, progress=max(job.progress, share), step=media_step_text(job))


def finished_text(job: ExportJob) -> str:
    text = f"Done: {job.records_count} records"
    if job.include_media:
        text += f", {job.media_done} media files"
        if job.media_failed:
            text += f" ({job.media_failed} could not be downloaded; see the list)"
    return text
