"""The library: records and media kept across jobs; "only what is new"."""

import json
import zipfile

import pytest

from exports import jobs, links, pipeline
from exports.models import ExportJob, LibraryMedia, LibraryRecord
from tests.conftest import verify_archive


@pytest.fixture
def lena(transactional_db, make_user, platforms, connect, sandbox):
    user = make_user("lena")
    connect(user, "reddit")
    return user


def run(user, **options):
    job = jobs.export_job_create(
        owner=user, platform_slug="reddit", include_media=True, formats=["json"], options=options, enqueue=False
    )
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def listing_requests(stats: dict) -> dict:
    return {path: n for path, n in stats["requests"].items() if path.startswith("/reddit/user/")}


def media_bytes(stats: dict) -> int:
    return sum(n for path, n in stats["bytes_by_path"].items() if path.startswith("/reddit/media/"))


def test_an_export_fills_the_library(lena):
    job = run(lena)
    assert LibraryRecord.objects.filter(owner=lena, platform_id="reddit").count() == job.records_count
    assert LibraryMedia.objects.filter(owner=lena, platform_id="reddit").count() == job.media_done
    assert job.new_records == job.records_count
    assert set(LibraryRecord.objects.values_list("sources", flat=True).distinct()[0]) == {"api"}


def test_a_repeat_export_of_an_unchanged_account_fetches_one_page_per_resource_and_no_bytes(lena, sandbox):
    first = run(lena)
    sandbox.sandbox.reset()
    second = run(lena, only_new=True)
    stats = sandbox.sandbox.stats()
    assert listing_requests(stats) and all(n <= 1 for n in listing_requests(stats).values()), listing_requests(stats)
    assert media_bytes(stats) == 0
    assert second.new_records == 0
    # The archive is still the whole collection, its media taken from the library.
    assert second.records_count == first.records_count
    assert second.media_done == first.media_done == second.media_reused
    assert second.media_reused_bytes == first.media_bytes
    path = links.archive_location(second)
    verify_archive(path, "reddit", "--media")
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read(f"{second.base_name}.json"))
    assert sum(len(v) for v in document["records"].values()) == first.records_count


def test_a_partial_first_export_does_not_make_the_next_one_stop_early(lena, sandbox):
    run(lena, max_records=3)
    full = run(lena, only_new=True)
    assert full.records_count == 36
    assert full.new_records == 33


def test_a_date_range_of_a_repeat_export_selects_from_the_library(lena):
    everything = run(lena)
    dates = sorted(everything.records.values_list("timestamp", flat=True))
    middle = dates[len(dates) // 2][:10]
    later = run(lena, only_new=True, date_from=middle)
    assert 0 < later.records_count < everything.records_count
    assert all(r.timestamp[:10] >= middle for r in later.records.all() if r.timestamp)


def test_new_items_since_the_last_export_are_fetched_and_the_rest_is_not(
    transactional_db, make_user, platforms, connect, sandbox
):
    user = make_user("gina")
    connect(user, "github")

    def github(**options):
        job = jobs.export_job_create(owner=user, platform_slug="github", options=options, enqueue=False)
        return pipeline.run_inline(job)

    first = github()
    assert first.records_count == 37
    sandbox.sandbox.config.records = 14  # two new repositories, stars and gists since then
    sandbox.sandbox.reset()
    second = github(only_new=True)
    assert second.status == ExportJob.Status.SUCCEEDED, second.error
    assert second.new_records == 6
    assert second.records_count == 43
    requests = sandbox.sandbox.stats()["requests"]
    # Pages of 5, newest first: the first page holds the 2 new items, the second is all known.
    assert requests["/github/user/repos"] == requests["/github/user/starred"] == requests["/github/gists"] == 2
