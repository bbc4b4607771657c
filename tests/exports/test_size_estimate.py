"""Before downloading starts, the job knows what the files weigh where the platform says."""

import pytest

from exports import jobs, pipeline
from exports.models import ExportJob, MediaFile


@pytest.fixture
def rita(make_user, platforms, connect):
    user = make_user("rita")
    connect(user, "reddit")
    return user


def test_reddit_videos_sizes_from_their_bit_rate_are_the_estimate_before_downloading(transactional_db, rita, sandbox):
    job = jobs.export_job_create(owner=rita, platform_slug="reddit", include_media=True, enqueue=False)
    at_start = []

    def watch(current: ExportJob) -> None:
        if current.status == ExportJob.Status.DOWNLOADING and not at_start:
            at_start.append(
                (current.media_done - current.media_reused, current.media_bytes_expected, current.media_sized)
            )

    job = pipeline.run_inline(job, on_progress=watch)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    videos = MediaFile.objects.filter(job=job, kind="video", extra__has_key="bitrate_kbps")
    assert videos.exists()
    # 1,200 kbit/s × 1 s ÷ 8 = 150,000 bytes a video, known before the first file was fetched.
    assert at_start == [(0, 150_000 * videos.count(), videos.count())]
