"""A job's counters and the words a person reads about it, derived from its rows so the step
line, the tiles, the failures list, the history and the email always say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.template.defaultfilters import filesizeformat

from exports.claims import job_renew_lease
from exports.models import ExportJob, MediaFile
from platforms.outage import health_for

Status = ExportJob.Status

# Share of the progress bar each stage fills.
FETCH_SHARE_WITH_MEDIA, DOWNLOAD_SHARE = 25, 65
FETCH_SHARE_NO_MEDIA = 80
COUNTERS = ["media_total", "media_done", "media_failed", "media_bytes", "media_reused", "media_reused_bytes"]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 media file", "3 media files" (with thousands separators)."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"


def media_counters(job: ExportJob) -> dict[str, int]:
    """All media counters from one aggregate query over the job's files."""
    done = Q(status=MediaFile.Status.DONE)
    reused = done & Q(extra__reused_from_library=True)
    totals = MediaFile.objects.filter(job_id=job.id).aggregate(
        media_total=Count("id"),
        media_done=Count("id", filter=done),
        media_failed=Count("id", filter=Q(status=MediaFile.Status.FAILED)),
        media_bytes=Sum("size", filter=done),
        media_reused=Count("id", filter=reused),
        media_reused_bytes=Sum("size", filter=reused),
    )
    return {name: value or 0 for name, value in totals.items()}


def media_counters_update(job: ExportJob) -> None:
    totals = media_counters(job)
    ExportJob.objects.filter(id=job.id).update(**totals)
    for name, value in totals.items():
        setattr(job, name, value)


def download_share(job: ExportJob) -> int:
    finished = job.media_done + job.media_failed
    return FETCH_SHARE_WITH_MEDIA + int(DOWNLOAD_SHARE * finished / max(1, job.media_total))


def media_step_text(job: ExportJob) -> str:
    """The step line while files download; it counts exactly what the tiles count."""
    text = f"Downloading media: {job.media_done:,} of {plural(job.media_total, 'file')} downloaded"
    if job.media_failed:
        text += f" · {job.media_failed:,} failed"
    return f"{text} · {filesizeformat(job.media_bytes)}"


def media_progress_save(job: ExportJob) -> None:
    media_counters_update(job)
    # Derived from the rows alone: it never goes back after a redelivery, and a retry of a few
    # failed files shows their progress instead of a full bar.
    job_renew_lease(job, progress=download_share(job), step=media_step_text(job))


def job_live_view(job: ExportJob) -> ExportJob:
    """Refresh a running job's counters, bar and step line from its rows (not saved), so a page
    drawn between two progress saves still agrees with the failures list drawn from the rows."""
    if job.status == Status.DOWNLOADING and job.include_media:
        for name, value in media_counters(job).items():
            setattr(job, name, value)
        job.progress = download_share(job)
        pause = health_for(job.platform_id).paused()
        job.step = pause.sentence(job.platform.display_name) if pause else media_step_text(job)
    return job


def finished_text(job: ExportJob) -> str:
    text = f"Done: {plural(job.records_count, 'record')}"
    if job.include_media:
        text += f", {plural(job.media_done, 'media file')}"
        if job.media_failed:
            text += f" ({job.media_failed:,} could not be downloaded; see the list)"
    return text


def job_title(job: ExportJob) -> str:
    """What a job is called everywhere a person reads it: "Reddit export", "X archive import"."""
    if job.source == ExportJob.Source.ARCHIVE:
        return f"{job.platform.display_name} archive import"
    return f"{job.platform.display_name} export"


@dataclass(frozen=True)
class Outcome:
    label: str  # "Completed — 3 of 76 files missing"
    tone: str  # the badge's colour: running, complete, partial, failed, cancelled, expired
    missing: int


def job_outcome(job: ExportJob) -> Outcome:
    """The job's state in words: a finished job with files missing does not read as complete."""
    missing = job.media_failed
    if job.status == Status.SUCCEEDED:
        if missing:
            return Outcome(f"Completed — {missing:,} of {plural(job.media_total, 'file')} missing", "partial", missing)
        return Outcome("Completed", "complete", 0)
    if job.status == Status.CANCELED:
        return Outcome("Cancelled", "cancelled", missing)
    if job.status == Status.FAILED:
        return Outcome("Failed", "failed", missing)
    if job.status == Status.EXPIRED:
        return Outcome("Expired", "expired", missing)
    return Outcome(job.get_status_display(), "running", missing)
