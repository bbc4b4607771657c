"""A platform that stops answering mid-export: the whole platform is paused with the time it is
tried again, the job says so, and it resumes by itself — no file spends its attempts on it."""

import threading
import time

import pytest

from exports import jobs, pipeline
from exports.models import ExportJob, MediaFile
from platforms.outage import health_for


@pytest.fixture
def ruth(make_user, platforms, connect):
    user = make_user("ruth")
    connect(user, "reddit")
    return user


def media_requests(sandbox) -> int:
    return sum(n for path, n in sandbox.sandbox.stats()["requests"].items() if "/media/" in path)


def test_an_export_waits_out_a_platform_that_is_down_and_finishes_whole(
    transactional_db, ruth, sandbox, settings, client
):
    settings.STAREXPORT = {
        **settings.STAREXPORT,
        "DOWNLOAD_ATTEMPTS": 5,
        "OUTAGE_REQUESTS": 6,
        # Long enough that the threads' retries in flight end within it on a busy machine, so
        # the chunk comes back while the pause still holds.
        "OUTAGE_PAUSE_SECONDS": 6.0,
        "DOWNLOAD_CONCURRENCY": 2,
    }
    job = jobs.export_job_create(
        owner=ruth, platform_slug="reddit", include_media=True, options={"max_records": 12}, enqueue=False
    )
    seen, pages = [], []
    down = threading.Event()

    def come_back() -> None:
        deadline = time.monotonic() + 60
        while health_for("reddit").paused() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        sandbox.sandbox.config.fault_5xx_rate = 0.0

    def watch(current: ExportJob) -> None:
        seen.append(current.step)
        if current.status == ExportJob.Status.DOWNLOADING and not down.is_set():
            # Reddit stops answering just as the downloads begin, and comes back once the
            # platform has been paused (however long that takes on a busy machine).
            down.set()
            sandbox.sandbox.config.fault_5xx_rate = 1.0
            threading.Thread(target=come_back, daemon=True).start()
        if health_for("reddit").paused() and not pages:
            client.force_login(ruth)
            pages.append(client.get(f"/exports/{current.id}/progress").content.decode())

    job = pipeline.run_inline(job, on_progress=watch)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_total and job.media_failed == 0
    assert job.media_done == job.media_total
    assert any(step.startswith("Reddit is not answering; trying again at ") for step in seen), seen
    assert pages and "Reddit is not answering; trying again at " in pages[0]
    # The outage cost a handful of requests, not 5 attempts for every file.
    assert media_requests(sandbox) < job.media_total + 3 * 6
    assert not MediaFile.objects.filter(job=job).exclude(last_error="").exists()
