"""What a person reads about a job: an honest state on every page, the email and status.json."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from exports import notify
from exports.models import ExportJob, MediaFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(platforms):
    return get_user_model().objects.create_user("alice", "alice@example.com", "a-long-password-1")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def job_with_files(owner, *, done: int, failed: int, pending: int = 0, **fields) -> ExportJob:
    fields.setdefault("status", ExportJob.Status.SUCCEEDED)
    job = ExportJob.objects.create(owner=owner, platform_id="reddit", include_media=True, formats=["json"], **fields)
    statuses = (
        [MediaFile.Status.DONE] * done + [MediaFile.Status.FAILED] * failed + [MediaFile.Status.PENDING] * pending
    )
    for number, status in enumerate(statuses):
        MediaFile.objects.create(
            job=job,
            media_id=f"m{number}",
            source_url=f"https://i.redd.it/{number}.jpg",
            kind="image",
            record_ids=[f"t3_{number}"],
            status=status,
            size=1000 if status == MediaFile.Status.DONE else None,
            last_error="HTTP 404 from i.redd.it" if status == MediaFile.Status.FAILED else "",
        )
    if job.status != ExportJob.Status.DOWNLOADING:
        ExportJob.objects.filter(id=job.id).update(
            media_total=done + failed + pending, media_done=done, media_failed=failed, media_bytes=1000 * done
        )
    job.refresh_from_db()
    return job


def test_a_job_with_missing_files_says_so_in_a_warning_colour_everywhere(alice_client, alice):
    job = job_with_files(alice, done=73, failed=3, records_count=10)
    detail = alice_client.get(job.get_absolute_url()).content.decode()
    assert '<span class="badge badge-partial">Completed — 3 of 76 files missing</span>' in detail
    assert "Succeeded" not in detail
    assert "3 of 76 media files could not be downloaded" in detail
    for url in [reverse("exports:list"), reverse("dashboard")]:
        html = alice_client.get(url).content.decode()
        assert '<span class="badge badge-partial">Completed — 3 of 76 files missing</span>' in html, url
    status = alice_client.get(reverse("exports:status", args=[job.id])).json()
    assert status["missing"] == 3
    for field in ["status", "progress", "step", "records", "media", "failures", "download_url", "error"]:
        assert field in status
    assert status["media"] == {
        **{"total": 76, "done": 73, "failed": 3, "bytes": 73000},
        **{"expected_bytes": None, "expected_files": 0, "bytes_per_second": None, "retrying": 0},
    }


def test_a_complete_job_is_green_and_says_completed(alice_client, alice):
    job = job_with_files(alice, done=2, failed=0)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert '<span class="badge badge-complete">Completed</span>' in html
    assert alice_client.get(reverse("exports:status", args=[job.id])).json()["missing"] == 0


def test_a_job_where_every_file_failed_says_so_plainly(alice_client, alice):
    job = job_with_files(alice, done=0, failed=4, records_count=4)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert "Completed — 4 of 4 files missing" in html
    assert "None of the 4 media files could be downloaded" in html


def test_the_email_subject_counts_the_missing_files(alice, mailoutbox):
    job = job_with_files(alice, done=73, failed=3)
    assert notify.job_notify(job)
    [message] = mailoutbox
    assert message.subject == "Your Reddit export is complete — 3 of 76 files missing"
    assert "Your Reddit export is complete, but 3 of 76 files are missing." in message.body
    assert "complete — 3 of 76 files missing</h1>" in message.alternatives[0][0]


def test_while_files_download_the_step_line_tiles_and_failures_list_agree(alice_client, alice):
    # The job row's counters are behind its file rows (saved before the last files finished):
    # the page counts from the rows, like the failures list does.
    job = job_with_files(alice, done=0, failed=4, pending=72, status=ExportJob.Status.DOWNLOADING)
    ExportJob.objects.filter(id=job.id).update(
        media_total=76, media_failed=3, step="Downloading media: 3/76 files · 0 bytes · 3 failed", progress=27
    )
    html = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    assert "Downloading media: 0 of 76 files downloaded · 4 failed" in html
    assert "<dt>Failed</dt><dd>4</dd>" in html
    assert "Media that could not be downloaded (4)" in html
    assert html.count('data-label="Reason"') == 4


def test_numbers_read_in_the_singular_when_there_is_one(alice, platforms):
    from exports.progress import finished_text, media_step_text

    job = job_with_files(alice, done=1, failed=0, records_count=1)
    assert finished_text(job) == "Done: 1 record, 1 media file"
    job.media_total = 1
    assert media_step_text(job).startswith("Downloading media: 1 of 1 file downloaded")


def test_a_cancelled_job_is_grey_without_a_bar_and_offers_to_start_again(alice_client, alice):
    job = job_with_files(alice, done=0, failed=0, status=ExportJob.Status.CANCELED, step="Canceled", progress=40)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert '<span class="badge badge-cancelled">Cancelled</span>' in html
    assert "<progress" not in html
    assert f'href="{reverse("exports:new")}?platform=reddit">Start again</a>' in html
    table = alice_client.get(reverse("exports:list")).content.decode()
    assert "badge-cancelled" in table and "<progress" not in table


def test_the_has_started_line_shows_while_running_and_goes_when_the_job_ends(alice_client, alice):
    job = job_with_files(alice, done=0, failed=0, status=ExportJob.Status.FETCHING)
    assert "Your Reddit export has started" in alice_client.get(job.get_absolute_url()).content.decode()
    ExportJob.objects.filter(id=job.id).update(status=ExportJob.Status.SUCCEEDED, step="Done: 0 records")
    finished = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    assert "has started" not in finished


def test_a_failed_job_shows_its_reason_once_and_no_zero_tiles(alice_client, alice):
    job = ExportJob.objects.create(
        owner=alice,
        platform_id="reddit",
        include_media=True,
        status=ExportJob.Status.FAILED,
        step="Failed: Reddit refused the token.",
        error="Reddit refused the token.",
    )
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert html.count("Reddit refused the token.") == 1
    assert 'class="counters"' not in html
    assert "Start again" in html


def test_cancel_and_remove_ask_for_confirmation(alice_client, alice):
    job = job_with_files(alice, done=0, failed=0, status=ExportJob.Status.FETCHING)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert 'data-confirm="Cancel this Reddit export?' in html
    assert "js/forms.js" in html


def test_an_import_is_called_an_archive_import_everywhere(alice_client, alice, mailoutbox):
    job = ExportJob.objects.create(
        owner=alice,
        platform_id="twitter",
        source=ExportJob.Source.ARCHIVE,
        include_media=True,
        formats=["json", "csv"],
        status=ExportJob.Status.SUCCEEDED,
        records_count=3,
    )
    detail = alice_client.get(job.get_absolute_url()).content.decode()
    assert "<title>Twitter / X archive import · Star Export</title>" in detail
    assert "The official Twitter / X archive you uploaded" in detail
    assert "<dt>Formats</dt>" not in detail
    history = alice_client.get(reverse("exports:list")).content.decode()
    assert "Twitter / X archive import" in history and "+ media" not in history
    assert notify.job_notify(job)
    assert mailoutbox[0].subject == "Your Twitter / X archive import is complete"


def test_the_import_page_says_how_to_request_each_archive_and_how_long_it_takes(alice_client):
    html = alice_client.get(reverse("exports:import") + "?platform=reddit").content.decode()
    assert '<details class="import-how" id="how-reddit" open>' in html
    assert "https://www.reddit.com/settings/data-request" in html and "up to 30 days" in html
    assert "https://takeout.google.com/" in html
    assert "Download an archive of your data" in html and "24 hours or more" in html
    assert "Download your information" in html


def test_during_a_retry_the_bar_follows_the_retry_not_a_full_bar(alice_client, alice):
    from exports import jobs

    job = job_with_files(alice, done=73, failed=3, progress=100, step="Done: 0 records, 73 media files")
    assert jobs.job_retry_failed(job, enqueue=False) == 3
    html = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    # The bar counts the 3 retried files, from empty: not the 73 already there.
    assert 'value="0"' in html
    assert "Retrying failed files: 0 of 3 files tried" in html
    retried = list(job.media_files.filter(status=MediaFile.Status.PENDING).order_by("id"))
    MediaFile.objects.filter(id=retried[0].id).update(status=MediaFile.Status.DONE, size=500)
    MediaFile.objects.filter(id=retried[1].id).update(status=MediaFile.Status.FAILED, last_error="HTTP 404")
    html = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    assert 'value="60"' in html  # 2 of 3 tried: two thirds of the download's share of the bar
    assert "Retrying failed files: 2 of 3 files tried · 1 failed again" in html
    status = alice_client.get(reverse("exports:status", args=[job.id])).json()
    assert status["media"]["retrying"] == 3


def test_the_download_shows_its_speed(alice_client, alice):
    from datetime import timedelta

    from django.utils import timezone

    job = job_with_files(alice, done=4, failed=0, pending=4, status=ExportJob.Status.DOWNLOADING)
    # As the downloader's last progress save left it.
    ExportJob.objects.filter(id=job.id).update(
        downloading_at=timezone.now() - timedelta(seconds=10), media_total=8, media_done=4, media_bytes=4000
    )
    html = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    # 4,000 bytes in the 10 s since the download began (and the moments of this test).
    speed = re.search(r"4 of 8 files downloaded · 3.9\xa0KB · (\d+)\xa0bytes/s", html)
    assert speed and 250 <= int(speed.group(1)) <= 400
    assert 250 <= alice_client.get(reverse("exports:status", args=[job.id])).json()["media"]["bytes_per_second"] <= 400


def test_the_size_to_download_is_shown_before_the_first_file(alice_client, alice):
    job = job_with_files(alice, done=0, failed=0, pending=5, status=ExportJob.Status.DOWNLOADING)
    ExportJob.objects.filter(id=job.id).update(media_bytes_expected=3 * 1024**2, media_sized=2)
    html = alice_client.get(reverse("exports:progress", args=[job.id])).content.decode()
    assert "About 3.0\xa0MB to download (the platform gave sizes for 2 of 5 files)." in html
    media = alice_client.get(reverse("exports:status", args=[job.id])).json()["media"]
    assert (media["expected_bytes"], media["expected_files"]) == (3 * 1024**2, 2)
