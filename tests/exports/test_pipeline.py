"""The whole pipeline on real processes: PostgreSQL, Redis, a Celery worker, the sandbox."""

import pytest
import requests

from exports import jobs, links
from exports.models import ExportJob, MediaFile
from tests.conftest import verify_archive, wait_for_job

pytestmark = pytest.mark.pipeline


@pytest.fixture
def erin(live, make_user, connect):
    user = make_user("erin")
    for slug in ("github", "reddit", "youtube", "instagram", "facebook", "twitter"):
        connect(user, slug)
    return user


def sandbox_config(base: str, **knobs) -> None:
    requests.post(f"{base}/_config", json=knobs, timeout=5).raise_for_status()


def test_a_github_export_runs_on_a_real_worker(erin, live):
    job = jobs.export_job_create(owner=erin, platform_slug="github", formats=["json", "csv"])
    job = wait_for_job(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.records_count == 37
    assert job.fetching_at and job.archiving_at and job.succeeded_at
    verify_archive(links.archive_location(job), "github", "--csv")


def test_a_reddit_export_with_media_runs_on_a_real_worker(erin, live):
    job = jobs.export_job_create(owner=erin, platform_slug="reddit", include_media=True)
    job = wait_for_job(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_total > 0
    assert job.media_done == job.media_total, list(
        job.media_files.exclude(status="done").values("media_id", "last_error")
    )
    verify_archive(links.archive_location(job), "reddit", "--media")


@pytest.mark.parametrize("slug", ["youtube", "instagram", "facebook", "twitter", "github"])
def test_every_platform_exports_with_media_on_a_real_worker(erin, live, slug):
    job = jobs.export_job_create(owner=erin, platform_slug=slug, include_media=True, formats=["json", "csv"])
    job = wait_for_job(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.records_count > 0 and job.media_total > 0
    failed = list(job.media_files.filter(status="failed").values_list("media_id", "last_error"))
    assert job.media_done == job.media_total, failed
    verify_archive(links.archive_location(job), slug, "--media", "--csv")


def test_a_worker_killed_mid_download_is_replaced_and_the_job_finishes(erin, live, worker):
    sandbox_config(live, latency_ms=400)
    try:
        job = jobs.export_job_create(owner=erin, platform_slug="reddit", include_media=True)
        wait_for_job(job, timeout=60, statuses=("downloading",))
        import time

        deadline = time.monotonic() + 60
        while MediaFile.objects.filter(job=job, status="done").count() < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.kill()
        done_before = list(MediaFile.objects.filter(job=job, status="done").values_list("source_url", flat=True))
        job.refresh_from_db()
        assert job.status == ExportJob.Status.DOWNLOADING
        assert 0 < len(done_before) < job.media_total
        sandbox_config(live, latency_ms=0)
        worker.start()
        job = wait_for_job(job, timeout=150)
    finally:
        sandbox_config(live, latency_ms=0)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_done == job.media_total
    verify_archive(links.archive_location(job), "reddit", "--media")
    # Files verified before the crash were not fetched again.
    stats = requests.get(f"{live}/_stats", timeout=5).json()["requests"]
    for url in done_before:
        path = requests.utils.urlparse(url).path
        assert stats.get(path) == 1, path
