"""The download step: the job's pending media files, fetched by the downloader in chunks that
several workers share; the job moves on to its archive once no file is left to try."""

from __future__ import annotations

from accounts.tokens import NotConnected
from exports.claims import job_advance, media_claim_many
from exports.conf import setting
from exports.download import Downloader
from exports.fetch import api_client_for
from exports.models import ExportJob, MediaFile
from exports.progress import DOWNLOAD_SHARE, FETCH_SHARE_WITH_MEDIA, media_counters_update, media_progress_save
from platforms.base import ExtractorError
from platforms.registry import get_extractor

Status = ExportJob.Status


def downloader_for(job: ExportJob) -> Downloader:
    """The job's downloader: the platform's limits, the user's token for the API's own origin,
    and a way to refresh signed CDN URLs that expired. An import needs no connected account:
    without one, media are fetched from their public URLs only."""
    extractor = get_extractor(job.platform_id)
    try:
        client = api_client_for(job)
    except NotConnected:
        client = None

    def refresh_url(media_file: MediaFile) -> str | None:
        record_id = (media_file.record_ids or [""])[0]
        try:
            return extractor.refresh_media_url(client, media_file.media_id, record_id)
        except ExtractorError:
            return None

    return Downloader(
        platform=job.platform,
        owner_id=job.owner_id,
        api_auth=extractor.auth_headers(client.token) if client else None,
        refresh_url=refresh_url if client else None,
        finish=extractor.finish_media,
        who=client.who if client else None,
        background=client.background if client else False,
    )


def media_chunks(ids: list[int]) -> list[list[int]]:
    size = setting("DOWNLOAD_CHUNK_FILES")
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def media_download_many(job: ExportJob, media_file_ids: list[int], *, downloader=None, on_progress=None) -> None:
    """Download the given files (a chunk) with bounded concurrency; skip those already verified."""
    downloader = downloader or downloader_for(job)

    def progress() -> None:
        media_progress_save(job)
        if on_progress:
            on_progress()

    downloader.run(job, media_file_ids, claim=media_claim_many, on_progress=progress)
    media_progress_save(job)


def downloads_finish_if_done(job: ExportJob) -> bool:
    """Move to archiving when no file is left to try; exactly one caller wins the move."""
    if job.media_files.exclude(status__in=MediaFile.TERMINAL).exists():
        return False
    media_counters_update(job)
    job.refresh_from_db()
    if job.status != Status.DOWNLOADING:
        return False
    return job_advance(
        job, Status.ARCHIVING, progress=FETCH_SHARE_WITH_MEDIA + DOWNLOAD_SHARE, step="Writing the archive"
    )


def media_held_until(job: ExportJob, media_file_ids: list[int]):
    """When the latest lease on files of this chunk that another worker still holds runs out
    (None when none is held)."""
    held = MediaFile.objects.filter(id__in=media_file_ids, status=MediaFile.Status.DOWNLOADING)
    return held.order_by("-lease_until").values_list("lease_until", flat=True).first()
