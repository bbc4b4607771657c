""" "Everything": one export of every connected platform, in one archive (DESIGN §2, §5, §6)."""

import csv
import io
import zipfile

import pytest
from django.core.management import call_command

from exports import jobs, links, pipeline
from exports.models import ExportJob
from tests.conftest import verify_archive, wait_for_job


@pytest.fixture
def olga(transactional_db, make_user, platforms, connect, sandbox):
    user = make_user("olga")
    for slug in ("reddit", "github", "youtube"):
        connect(user, slug)
    return user


def members(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_an_everything_export_writes_one_archive_of_every_connected_platform(olga):
    job = jobs.export_job_create(
        owner=olga, platform_slug="all", include_media=True, formats=["json", "csv"], enqueue=False
    )
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    path = links.archive_location(job)
    assert path.endswith(f"all-export-{job.id}.zip")
    verify_archive(path, "all", "--media", "--csv")
    names = members(path)
    for slug in ("reddit", "github", "youtube"):
        assert f"{slug}-export-{job.id}.json" in names
        assert any(n.startswith("media/") and f"/{slug}/" in n for n in names), slug
    assert names.count("index.html") == 1 and names.count("failures.csv") == 1
    with zipfile.ZipFile(path) as archive:
        header = next(csv.reader(io.StringIO(archive.read("failures.csv").decode())))
    assert header == ["platform", "record_id", "media_id", "source_url", "reason"]
    # The parts add up to the whole, and only the whole is in the user's history.
    parts = list(job.parts.all())
    assert {p.platform_id for p in parts} == {"reddit", "github", "youtube"}
    assert job.records_count == sum(p.records_count for p in parts) > 0
    assert list(ExportJob.objects.filter(owner=olga, parent__isnull=True)) == [job]
    assert "Not connected, so not in this export" in " ".join(job.notes)


def test_a_platform_that_fails_does_not_fail_the_others(olga, connect):
    connect(olga, "twitter", token="revoked-token")  # the sandbox answers 401 for it
    job = pipeline.run_inline(jobs.export_job_create(owner=olga, platform_slug="all", enqueue=False))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.parts.get(platform_id="twitter").status == ExportJob.Status.FAILED
    assert any(note.startswith("Twitter / X could not be exported") for note in job.notes), job.notes
    names = members(links.archive_location(job))
    assert f"reddit-export-{job.id}.json" in names and f"twitter-export-{job.id}.json" not in names


def test_nothing_connected_is_refused_with_a_reason(transactional_db, make_user, platforms):
    with pytest.raises(jobs.ExportRequestError, match="Connect at least one platform"):
        jobs.export_job_create(owner=make_user("pia"), platform_slug="all", enqueue=False)


def test_the_export_command_takes_all(olga, capsys):
    call_command("export", "--user", "olga", "--platform", "all", "--format", "json,csv")
    path = capsys.readouterr().out.strip().splitlines()[-1]
    verify_archive(path, "all", "--csv")


def test_the_everything_form_starts_one_job(olga, client):
    client.force_login(olga)
    page = client.get("/exports/new/?platform=all")
    assert page.status_code == 200 and b"Everything" in page.content
    response = client.post("/exports/new/", {"platform": "all", "formats": ["json"], "include_media": "on"})
    assert response.status_code == 302
    job = ExportJob.objects.get(owner=olga, parent__isnull=True)
    assert job.platform_id == "all" and job.parts.count() == 3


@pytest.mark.pipeline
def test_an_everything_export_runs_its_platforms_side_by_side_on_real_workers(live, make_user, connect):
    user = make_user("quinn")
    for slug in ("reddit", "github"):
        connect(user, slug)
    job = wait_for_job(jobs.export_job_create(owner=user, platform_slug="all", include_media=True), timeout=240)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    verify_archive(links.archive_location(job), "all", "--media")


def test_a_schedule_can_be_everything(olga):
    from exports import schedules

    schedule = schedules.schedule_save(owner=olga, platform_slug="all", frequency="weekly")
    job = schedules.schedule_run(schedule)
    assert job is not None and job.platform_id == "all" and job.parts.count() == 3
