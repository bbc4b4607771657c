"""After the export: retrying failed files, expiry of archives, the sweeper."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from exports import archive, claims, downloading, jobs, links, pipeline, tasks
from exports.models import ExportJob
from tests.conftest import verify_archive


@pytest.fixture
def partly_failed(transactional_db, make_user, platforms, connect, sandbox):
    user = make_user("pat")
    connect(user, "reddit")
    reddit = platforms["reddit"]
    reddit.image_formats = ["png"]
    reddit.save()
    job = pipeline.run_inline(
        jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    )
    assert job.status == ExportJob.Status.SUCCEEDED and job.media_failed > 0
    return job


def test_failed_files_can_be_retried_and_the_archive_is_rebuilt(partly_failed, platforms):
    job = partly_failed
    reddit = platforms["reddit"]
    reddit.image_formats = ["jpg", "png", "gif"]
    reddit.save()
    failed = job.media_failed
    assert jobs.job_retry_failed(job, enqueue=False) == failed
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DOWNLOADING
    # What the retry's tasks do, here in process:
    downloading.media_download_many(job, claims.media_pending_ids(job))
    assert downloading.downloads_finish_if_done(job)
    archive.job_archive(job)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.media_failed == 0 and job.media_done == job.media_total
    verify_archive(links.archive_location(job), "reddit", "--media")


def test_nothing_is_retried_on_a_running_or_clean_export(make_user, platforms, connect):
    user = make_user("quinn")
    connect(user, "github")
    job = jobs.export_job_create(owner=user, platform_slug="github", enqueue=False)
    assert jobs.job_retry_failed(job) == 0


def test_the_owner_retries_from_the_job_page_and_others_get_404(partly_failed, client, make_user, platforms):
    job = partly_failed
    other = make_user("mallory")
    client.force_login(other)
    assert client.post(f"/exports/{job.id}/retry").status_code == 404
    client.force_login(job.owner)
    page = client.get(f"/exports/{job.id}/")
    assert f"Retry the {job.media_failed} failed files" in page.content.decode()
    response = client.post(f"/exports/{job.id}/retry")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DOWNLOADING


def test_expired_archives_are_deleted_and_the_job_says_so(make_user, platforms, connect, sandbox, client):
    user = make_user("exp")
    connect(user, "github")
    job = pipeline.run_inline(jobs.export_job_create(owner=user, platform_slug="github", enqueue=False))
    name = job.archive_name
    assert default_storage.exists(name)
    ExportJob.objects.filter(id=job.id).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert tasks.expire_archives() == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and job.expired_at
    assert not default_storage.exists(name)
    client.force_login(user)
    assert client.get(f"/exports/{job.id}/download").status_code == 404
    assert "archive was deleted" in client.get(f"/exports/{job.id}/").content.decode()


def test_the_sweeper_requeues_a_step_whose_worker_died_and_fails_it_past_the_cap(
    make_user, platforms, connect, settings, django_capture_on_commit_callbacks
):
    user = make_user("sweep")
    connect(user, "github")
    job = jobs.export_job_create(owner=user, platform_slug="github", enqueue=False)
    claims.job_claim(job.id, statuses=("queued", "fetching"), to_status="fetching")
    ExportJob.objects.filter(id=job.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    sent = []
    from celery import current_app

    original = current_app.send_task
    current_app.send_task = lambda name, args=None, **kw: sent.append((name, args))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.sweep_stale_jobs() == 1
        assert sent == [("exports.tasks.fetch_metadata", [str(job.id)])]
        ExportJob.objects.filter(id=job.id).update(
            step_attempts=settings.STAREXPORT["STEP_ATTEMPTS"], lease_until=timezone.now() - timedelta(seconds=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.sweep_stale_jobs() == 0
    finally:
        current_app.send_task = original
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "Gave up at the fetching step" in job.error
