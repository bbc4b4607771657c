import zipfile

import pytest

from exports import claims, jobs, links, pipeline
from exports.models import ExportJob
from tests.conftest import verify_archive


@pytest.fixture
def alice(make_user, platforms, connect):
    user = make_user("alice")
    connect(user, "github")
    return user


def test_an_unknown_platform_is_refused_with_its_name(alice):
    with pytest.raises(jobs.ExportRequestError, match="Unknown platform 'myspace'") as err:
        jobs.export_job_create(owner=alice, platform_slug="myspace", enqueue=False)
    assert err.value.field == "platform"


def test_a_platform_without_a_connected_account_is_refused(alice):
    with pytest.raises(jobs.ExportRequestError, match="no connected Reddit account"):
        jobs.export_job_create(owner=alice, platform_slug="reddit", enqueue=False)


def test_an_unknown_format_is_refused(alice):
    with pytest.raises(jobs.ExportRequestError, match="Unknown format xml") as err:
        jobs.export_job_create(owner=alice, platform_slug="github", formats=["json", "xml"], enqueue=False)
    assert err.value.field == "formats"


def test_media_is_refused_where_the_platform_has_none(alice, platforms):
    platforms["github"].supports_media = False
    platforms["github"].save()
    with pytest.raises(jobs.ExportRequestError, match="GitHub has no media"):
        jobs.export_job_create(owner=alice, platform_slug="github", include_media=True, enqueue=False)


def test_a_date_range_that_ends_before_it_starts_is_refused(alice):
    with pytest.raises(jobs.ExportRequestError) as err:
        jobs.export_job_create(
            owner=alice,
            platform_slug="github",
            options={"date_from": "2024-05-01", "date_to": "2024-01-01"},
            enqueue=False,
        )
    assert err.value.field == "date_to"


def test_a_user_may_run_only_so_many_jobs_at_once(alice, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "MAX_ACTIVE_JOBS_PER_USER": 2}
    for _ in range(2):
        jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    with pytest.raises(jobs.ExportRequestError, match="already have 2 exports running"):
        jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)


def test_json_is_always_part_of_the_export(alice):
    job = jobs.export_job_create(owner=alice, platform_slug="github", formats=["csv"], enqueue=False)
    assert job.formats == ["json", "csv"]


def test_a_github_export_runs_to_a_verified_archive(alice, sandbox):
    job = jobs.export_job_create(owner=alice, platform_slug="github", formats=["json", "csv"], enqueue=False)
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.progress == 100
    # 1 profile + 12 records in each of repos, starred and gists (the sandbox fixture's size)
    assert job.records_count == 37
    path = links.archive_location(job)
    verify_archive(path, "github", "--csv")
    with zipfile.ZipFile(path) as archive:
        import json

        document = json.loads(archive.read(f"{job.base_name}.json"))
    assert document["account"]["login"] == "alice"
    assert [len(document["records"][r]) for r in ("user", "repos", "starred", "gists")] == [1, 12, 12, 12]
    assert document["records"]["starred"][0]["repo"]["full_name"]
    # Pages of 5: the sandbox saw every page of every resource.
    assert sandbox.sandbox.stats()["requests"]["/github/user/repos"] == 3


def test_the_date_range_and_max_records_limit_what_is_exported(alice, sandbox):
    job = jobs.export_job_create(
        owner=alice,
        platform_slug="github",
        options={"date_from": "2015-03-01", "date_to": "2015-04-30", "max_records": 5},
        enqueue=False,
    )
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.records_count == 5
    for record in job.records.all():
        assert record.timestamp == "" or "2015-03-01" <= record.timestamp[:10] <= "2015-04-30"


def test_a_revoked_token_fails_the_job_with_a_reconnect_message(make_user, platforms, connect, sandbox):
    bob = make_user("bob")
    connect(bob, "github", token="revoked-token")
    job = jobs.export_job_create(owner=bob, platform_slug="github", enqueue=False)
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.FAILED
    assert "Reconnect your GitHub account" in job.error


def test_the_owner_is_emailed_a_signed_link_when_the_export_is_done(alice, sandbox, mailoutbox):
    job = pipeline.run_inline(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    assert job.status == ExportJob.Status.SUCCEEDED
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert f"/exports/{job.id}/download?link=" in message.body
    token = message.body.split("link=")[1].split()[0]
    assert links.download_link_check(job, token) is None
    assert links.download_link_check(job, token[:-2] + "xx") is not None


def test_a_claimed_step_is_not_taken_twice_while_its_lease_lives(alice):
    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    first = claims.job_claim(job.id, statuses=("queued", "fetching"), to_status="fetching")
    assert first is not None
    assert claims.job_claim(job.id, statuses=("queued", "fetching"), to_status="fetching") is None


def test_a_step_whose_worker_keeps_dying_fails_after_the_attempt_cap(alice, settings):
    from django.utils import timezone

    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    for _ in range(settings.STAREXPORT["STEP_ATTEMPTS"]):
        assert claims.job_claim(job.id, statuses=("queued", "fetching"), to_status="fetching")
        ExportJob.objects.filter(id=job.id).update(lease_until=timezone.now())  # the worker died
    assert claims.job_claim(job.id, statuses=("queued", "fetching"), to_status="fetching") is None
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "Gave up after 3 attempts at the fetching step" in job.error
