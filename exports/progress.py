"""A job's counters and the words a person reads about it, derived from its rows so the step
line, the tiles, the failures list, the history and the email always say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

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


def download_span(job: ExportJob) -> tuple[int, int]:
    """Where the download fills the bar: after the fetch's share, or — for a retry of failed
    files — from the start, so the bar shows the retry's own progress."""
    end = FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE
    return (0, end) if job.retry_total else (FETCH_SHARE_WITH_MEDIA, end)


def download_finished(job: ExportJob) -> tuple[int, int]:
    """(files finished, files to finish) in this download: the whole job's, or the retry's."""
    if job.retry_total:
        left = max(0, job.media_total - job.media_done - job.media_failed)
        return max(0, job.retry_total - left), job.retry_total
    return job.media_done + job.media_failed, job.media_total


def download_share(job: ExportJob) -> int:
    low, high = download_span(job)
    finished, of = download_finished(job)
    return low + int((high - low) * finished / max(1, of))


def download_speed(job: ExportJob, *, now=None) -> float | None:
    """Bytes a second downloaded since this download began (None until it can tell)."""
    if job.status != Status.DOWNLOADING or job.downloading_at is None:
        return None
    elapsed = ((now or timezone.now()) - job.downloading_at).total_seconds()
    got = job.media_bytes - job.download_base_bytes
    if elapsed < 2 or got <= 0:
        return None
    return got / elapsed


def size_estimate_text(job: ExportJob) -> str:
    """ "About 1.2 GB to download (the platform gave sizes for 12 of 40 files)"."""
    if not job.media_bytes_expected or not job.media_sized:
        return ""
    to_get = job.media_total - job.media_reused
    text = f"About {filesizeformat(job.media_bytes_expected)} to download"
    if job.media_sized < to_get:
        text += f" (the platform gave sizes for {job.media_sized:,} of {plural(to_get, 'file')})"
    return text


def media_step_text(job: ExportJob) -> str:
    """The step line while files download; it counts exactly what the tiles count."""
    if job.retry_total:
        finished, of = download_finished(job)
        again = job.media_failed
        text = f"Retrying failed files: {finished:,} of {plural(of, 'file')} tried"
        if again:
            text += f" · {again:,} failed again"
    else:
        text = f"Downloading media: {job.media_done:,} of {plural(job.media_total, 'file')} downloaded"
        if job.media_failed:
            text += f" · {job.media_failed:,} failed"
    text += f" · {filesizeformat(job.media_bytes)}"
    speed = download_speed(job)
    if speed:
        text += f" · {filesizeformat(speed)}/s"
    return text


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
