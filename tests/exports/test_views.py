import io
import time
import zipfile

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tokens import store_token
from exports import jobs, links, progress
from exports.models import ExportJob, MediaFile
from platforms.models import Platform

pytestmark = pytest.mark.django_db


class NoLocalPathStorage(FileSystemStorage):
    """Behaves like S3 for the download view: no local path, a presigned URL instead."""

    def path(self, name):
        raise NotImplementedError("no local path")

    def url(self, name):
        return f"https://bucket.s3.example.com/{name}?X-Amz-Signature=abc"


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


def make_user(name):
    return get_user_model().objects.create_user(name, f"{name}@example.com", "a-long-password-1")


def connect(user, provider="github"):
    account = SocialAccount.objects.create(user=user, provider=provider, uid=f"{provider}-{user.pk}")
    store_token(account, access="x")
    return account


@pytest.fixture
def alice():
    user = make_user("alice")
    connect(user, "github")
    return user


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def make_job(owner, **fields):
    fields.setdefault("platform_id", "github")
    fields.setdefault("formats", ["json"])
    return ExportJob.objects.create(owner=owner, **fields)


def finished_job(owner, content=b"PK-not-really-a-zip"):
    job = make_job(owner, status=ExportJob.Status.SUCCEEDED, progress=100, step="Done: 3 records", records_count=3)
    name = default_storage.save(f"archives/{job.base_name}.zip", ContentFile(content))
    job.archive_name, job.archive_size = name, len(content)
    job.expires_at = timezone.now() + timezone.timedelta(days=7)
    job.succeeded_at = timezone.now()
    job.save()
    return job


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("github-export.json", '{"records": {}}')
    return buffer.getvalue()


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


# --- visitors --------------------------------------------------------------------------------
def test_visitor_is_sent_to_sign_in_for_the_export_pages(client, alice):
    job = make_job(alice)
    for url in [
        reverse("exports:list"),
        reverse("exports:new") + "?platform=github",
        reverse("exports:detail", args=[job.id]),
        reverse("exports:progress", args=[job.id]),
        reverse("exports:download", args=[job.id]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url


def test_status_json_tells_a_visitor_to_sign_in(client, alice):
    job = make_job(alice)
    response = client.get(reverse("exports:status", args=[job.id]))
    assert response.status_code == 401
    assert response.json() == {"error": "sign in"}


# --- another user ----------------------------------------------------------------------------
def test_another_user_gets_404_for_every_job_url(alice, bob_client):
    job = finished_job(alice)
    for name in ["detail", "progress", "status", "download"]:
        response = bob_client.get(reverse(f"exports:{name}", args=[job.id]))
        assert response.status_code == 404, name
    assert bob_client.post(reverse("exports:cancel", args=[job.id])).status_code == 404
    link = links.download_link(job)
    response = bob_client.get(link)
    assert response.status_code == 404
    assert not hasattr(response, "streaming_content")


def test_another_user_cannot_cancel_a_running_job(alice, bob_client):
    job = make_job(alice, status=ExportJob.Status.FETCHING)
    bob_client.post(reverse("exports:cancel", args=[job.id]))
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FETCHING


def test_a_job_id_that_does_not_exist_is_404(alice_client):
    url = reverse("exports:detail", args=["00000000-0000-0000-0000-000000000000"])
    assert alice_client.get(url).status_code == 404


# --- the export form -------------------------------------------------------------------------
def metadata_only(slug):
    Platform.objects.filter(slug=slug).update(supports_media=False, image_formats=[], video_formats=[], file_formats=[])


def test_form_offers_media_only_for_a_platform_that_has_media(alice_client):
    metadata_only("github")
    reddit = alice_client.get(reverse("exports:new") + "?platform=reddit")
    github = alice_client.get(reverse("exports:new") + "?platform=github")
    assert reddit.status_code == github.status_code == 200
    reddit_html, github_html = reddit.content.decode(), github.content.decode()

    assert 'name="include_media"' in reddit_html
    assert "Include media files (images and videos)" in reddit_html
    assert 'name="media_types" value="image"' in reddit_html
    assert 'name="media_types" value="video"' in reddit_html
    assert 'name="media_types" value="file"' not in reddit_html
    assert "100" in reddit_html and "MB" in reddit_html  # Reddit's largest file

    assert 'name="include_media"' not in github_html
    assert 'name="media_types"' not in github_html


def test_form_has_the_fields_checks_outside_the_project_fill_in(alice_client):
    html = alice_client.get(reverse("exports:new") + "?platform=reddit").content.decode()
    for name in ["platform", "formats", "include_media", "date_from", "date_to", "media_types", "max_records"]:
        assert f'name="{name}"' in html, name
    assert 'name="formats" value="json"' in html
    assert 'name="formats" value="csv"' in html


def test_form_only_offers_the_formats_the_platform_has(alice_client):
    Platform.objects.filter(slug="github").update(export_formats=["json"])
    html = alice_client.get(reverse("exports:new") + "?platform=github").content.decode()
    assert 'name="formats" value="json"' in html
    assert 'name="formats" value="csv"' not in html


def test_form_without_a_platform_lets_the_user_choose_one(alice_client):
    response = alice_client.get(reverse("exports:new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "?platform=github" in html
    assert "Which platform" in html


def test_an_end_date_before_the_start_date_is_refused_beside_the_end_date(alice_client):
    response = alice_client.post(
        reverse("exports:new"),
        {"platform": "github", "formats": ["json"], "date_from": "2024-05-01", "date_to": "2024-01-01"},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["date_to"] == ["The start date is after the end date."]
    html = response.content.decode()
    assert 'id="id_date_to_error"' in html
    assert "The start date is after the end date." in html
    assert not ExportJob.objects.exists()


def test_csv_is_refused_for_a_platform_without_csv(alice_client):
    Platform.objects.filter(slug="github").update(export_formats=["json"])
    response = alice_client.post(reverse("exports:new"), {"platform": "github", "formats": ["json", "csv"]})
    assert response.status_code == 400
    assert "Unknown format csv" in response.context["form"].errors["formats"][0]
    assert 'id="id_formats_error"' in response.content.decode()
    assert not ExportJob.objects.exists()


def test_media_is_refused_for_a_platform_without_media(alice_client):
    metadata_only("github")
    response = alice_client.post(reverse("exports:new"), {"platform": "github", "include_media": "on"})
    assert response.status_code == 400
    assert response.context["form"].errors["include_media"] == ["GitHub has no media files to export."]


def test_a_platform_that_is_not_connected_is_refused_with_a_reason(alice_client):
    response = alice_client.post(reverse("exports:new"), {"platform": "reddit", "include_media": "on"})
    assert response.status_code == 400
    errors = response.context["form"].errors["platform"]
    assert "no connected Reddit account" in errors[0]
    assert "no connected Reddit account" in response.content.decode()


def test_a_valid_form_creates_the_job_and_opens_its_page(alice_client, alice):
    response = alice_client.post(
        reverse("exports:new"),
        {
            "platform": "github",
            "formats": ["json", "csv"],
            "date_from": "2024-01-01",
            "date_to": "2024-12-31",
            "max_records": "50",
        },
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:detail", args=[job.id])
    assert job.owner == alice
    assert job.platform_id == "github"
    assert job.formats == ["json", "csv"]
    assert job.include_media is False
    assert job.options == {"date_from": "2024-01-01", "date_to": "2024-12-31", "max_records": 50}
    assert job.status == ExportJob.Status.QUEUED


def test_the_media_label_names_the_kinds_the_platform_has(alice_client):
    Platform.objects.filter(slug="youtube").update(supports_media=True, image_formats=["jpg"], video_formats=[])
    Platform.objects.filter(slug="github").update(supports_media=True, file_formats=["zip", "txt", "md", "py", "js"])
    youtube = alice_client.get(reverse("exports:new") + "?platform=youtube").content.decode()
    github = alice_client.get(reverse("exports:new") + "?platform=github").content.decode()
    assert "Include media files (images)" in youtube
    assert "Include files (zip, txt, md, py, …)" in github
    assert 'name="media_types" value="file"' in github


def test_a_media_export_keeps_the_chosen_kinds(alice_client, alice):
    connect(alice, "reddit")
    response = alice_client.post(
        reverse("exports:new"),
        {"platform": "reddit", "formats": ["json"], "include_media": "on", "media_types": ["image"]},
    )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.include_media is True
    assert job.options == {"media_types": ["image"]}


def test_a_user_at_the_job_limit_is_told_so(alice_client, alice, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "MAX_ACTIVE_JOBS_PER_USER": 1}
    make_job(alice, status=ExportJob.Status.DOWNLOADING)
    response = alice_client.post(reverse("exports:new"), {"platform": "github", "formats": ["json"]})
    assert response.status_code == 400
    assert "limit is 1" in response.context["form"].non_field_errors()[0]
    assert ExportJob.objects.count() == 1


def test_a_post_without_a_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("exports:new"), {"platform": "github", "formats": ["json"]})
    assert response.status_code == 403
    assert not ExportJob.objects.exists()
    job = make_job(alice, status=ExportJob.Status.FETCHING)
    assert client.post(reverse("exports:cancel", args=[job.id])).status_code == 403
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FETCHING


# --- the job page, its progress and its JSON -------------------------------------------------
def test_job_page_shows_progress_counters_and_failures(alice_client, alice):
    job = make_job(
        alice,
        platform_id="reddit",
        include_media=True,
        status=ExportJob.Status.DOWNLOADING,
        progress=40,
        step="Downloading media: 3/5 files · 2.0 MB · 1 failed",
        records_count=12,
        media_total=5,
        media_done=2,
        media_failed=1,
        media_bytes=2_000_000,
        notes=["Reddit's listings stop at 1,000 items each."],
    )
    MediaFile.objects.create(
        job=job,
        media_id="t3_abc_0",
        source_url="https://i.redd.it/abc.jpg",
        kind="image",
        record_ids=["t3_abc"],
        status=MediaFile.Status.FAILED,
        last_error="HTTP 404 from i.redd.it",
    )
    for number, status in enumerate([MediaFile.Status.DONE] * 2 + [MediaFile.Status.PENDING] * 2):
        MediaFile.objects.create(
            job=job,
            media_id=f"t3_ok_{number}",
            source_url=f"https://i.redd.it/{number}.jpg",
            kind="image",
            status=status,
            size=1_000_000 if status == MediaFile.Status.DONE else None,
        )
    html = alice_client.get(reverse("exports:detail", args=[job.id])).content.decode()
    # Counted from the file rows, as the tiles and the failures list are.
    assert "Downloading media: 2 of 5 files downloaded · 1 failed" in html
    assert 'value="64"' in html
    assert "t3_abc_0" in html and "HTTP 404 from i.redd.it" in html
    assert "Reddit&#x27;s listings stop at 1,000 items each." in html
    assert reverse("exports:cancel", args=[job.id]) in html
    assert 'hx-trigger="every 2s"' in html
    assert reverse("exports:download", args=[job.id]) not in html


def test_progress_polls_while_running_and_stops_when_finished(alice_client, alice):
    job = make_job(alice, status=ExportJob.Status.FETCHING, step="Fetching repos: page 2", progress=10)
    url = reverse("exports:progress", args=[job.id])
    running = alice_client.get(url, headers={"HX-Request": "true"})
    assert running.status_code == 200
    html = running.content.decode()
    assert html.lstrip().startswith('<div id="job-progress"')
    assert "<html" not in html
    assert f'hx-get="{url}"' in html and 'hx-trigger="every 2s"' in html
    assert "Fetching repos: page 2" in html

    ExportJob.objects.filter(id=job.id).update(status=ExportJob.Status.FAILED, error="GitHub said no.", step="Failed")
    finished = alice_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in finished
    assert "GitHub said no." in finished


def test_succeeded_job_page_offers_the_download_and_its_expiry(alice_client, alice):
    job = finished_job(alice)
    html = alice_client.get(reverse("exports:detail", args=[job.id])).content.decode()
    assert reverse("exports:download", args=[job.id]) in html
    assert "Kept until" in html
    assert "hx-trigger" not in html
    assert reverse("exports:cancel", args=[job.id]) not in html


def test_status_json_for_the_owner(alice_client, alice):
    job = make_job(alice, status=ExportJob.Status.FETCHING, progress=12, step="Fetching starred: page 1")
    data = alice_client.get(reverse("exports:status", args=[job.id])).json()
    assert data["status"] == "fetching"
    assert data["progress"] == 12
    assert data["step"] == "Fetching starred: page 1"
    assert {k: data["media"][k] for k in ("total", "done", "failed", "bytes")} == {
        "total": 0,
        "done": 0,
        "failed": 0,
        "bytes": 0,
    }
    assert data["failures"] == []
    assert data["download_url"] is None
    assert data["error"] is None


def test_status_json_gives_an_absolute_download_url_once_succeeded(alice_client, alice):
    job = finished_job(alice)
    data = alice_client.get(reverse("exports:status", args=[job.id])).json()
    assert data["status"] == "succeeded"
    assert data["download_url"] == f"http://testserver{reverse('exports:download', args=[job.id])}"


def with_failures(job, failed=3, done=2):
    for i in range(failed + done):
        MediaFile.objects.create(
            job=job,
            media_id=f"m{i}",
            source_url=f"https://example.com/m{i}.jpg",
            kind="image",
            status=MediaFile.Status.FAILED if i < failed else MediaFile.Status.DONE,
            last_error="HTTP 404" if i < failed else "",
        )
    progress.media_counters_update(job)
    return job


def test_status_json_of_a_finished_job_costs_two_queries(alice_client, alice, django_assert_max_num_queries):
    job = finished_job(alice)
    url = reverse("exports:status", args=[job.id])
    alice_client.get(url)  # the session is now in the cache
    # The user, and the job alone: no join, and no failures query when none failed.
    with django_assert_max_num_queries(2):
        assert alice_client.get(url).json()["status"] == "succeeded"


def test_status_json_lists_the_failures_of_a_running_job_as_they_come(alice_client, alice):
    job = with_failures(make_job(alice, status=ExportJob.Status.DOWNLOADING, include_media=True))
    url = reverse("exports:status", args=[job.id])
    data = alice_client.get(url).json()
    assert data["media"]["failed"] == 3
    assert data["failures"] == [{"media_id": f"m{i}", "reason": "HTTP 404"} for i in range(3)]
    job.media_files.filter(media_id="m3").update(status=MediaFile.Status.FAILED, last_error="timed out")
    progress.media_counters_update(job)
    data = alice_client.get(url).json()
    assert data["media"]["failed"] == 4 and data["failures"][-1] == {"media_id": "m3", "reason": "timed out"}


def test_status_json_of_a_finished_job_shows_a_retry_at_once(alice_client, alice):
    job = with_failures(finished_job(alice))
    url = reverse("exports:status", args=[job.id])
    first = alice_client.get(url).json()
    assert first["status"] == "succeeded" and len(first["failures"]) == 3
    assert alice_client.get(url).json() == first
    assert jobs.job_retry_failed(job, enqueue=False) == 3
    again = alice_client.get(url).json()
    assert again["status"] == "downloading" and again["failures"] == [] and again["download_url"] is None


def test_status_json_links_to_the_host_each_request_came_to(alice, settings):
    settings.ALLOWED_HOSTS = ["a.example", "b.example"]
    job = with_failures(finished_job(alice))
    client = Client()
    client.force_login(alice)
    url = reverse("exports:status", args=[job.id])
    for host in ("a.example", "b.example"):
        data = client.get(url, HTTP_HOST=host).json()
        assert data["download_url"] == f"http://{host}{reverse('exports:download', args=[job.id])}"
        assert len(data["failures"]) == 3


def test_status_json_kept_for_its_owner_is_still_not_found_for_another_user(alice_client, alice, bob_client):
    job = with_failures(finished_job(alice))
    url = reverse("exports:status", args=[job.id])
    assert alice_client.get(url).status_code == 200
    assert bob_client.get(url).status_code == 404


def test_cancel_stops_a_running_job(alice_client, alice):
    job = make_job(alice, status=ExportJob.Status.DOWNLOADING)
    response = alice_client.post(reverse("exports:cancel", args=[job.id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:detail", args=[job.id])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.CANCELED


def test_cancel_needs_a_post(alice_client, alice):
    job = make_job(alice, status=ExportJob.Status.DOWNLOADING)
    assert alice_client.get(reverse("exports:cancel", args=[job.id])).status_code == 405


def test_list_filters_by_platform_and_status(alice_client, alice):
    connect(alice, "reddit")
    make_job(alice, platform_id="github", status=ExportJob.Status.SUCCEEDED)
    make_job(alice, platform_id="reddit", status=ExportJob.Status.FAILED)
    make_job(alice, platform_id="reddit", status=ExportJob.Status.SUCCEEDED)

    def shown(query):
        response = alice_client.get(reverse("exports:list") + query)
        assert response.status_code == 200
        return [(job.platform_id, job.status) for job in response.context["page"].object_list]

    assert len(shown("")) == 3
    assert shown("?platform=github") == [("github", "succeeded")]
    assert sorted(shown("?platform=reddit")) == [("reddit", "failed"), ("reddit", "succeeded")]
    assert shown("?platform=reddit&status=failed") == [("reddit", "failed")]
    assert shown("?status=canceled") == []


def test_list_shows_only_my_exports(alice_client, alice, bob):
    make_job(bob)
    mine = make_job(alice)
    response = alice_client.get(reverse("exports:list"))
    assert [job.id for job in response.context["page"].object_list] == [mine.id]


# --- download --------------------------------------------------------------------------------
def test_download_streams_the_zip_to_its_owner(alice_client, alice):
    content = zip_bytes()
    job = finished_job(alice, content)
    response = alice_client.get(reverse("exports:download", args=[job.id]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.base_name}.zip"'
    assert response["Content-Type"] == "application/zip"
    body = streamed(response)
    assert body == content
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["github-export.json"]


def test_download_with_the_signed_link_from_the_email(alice_client, alice):
    content = zip_bytes()  # made once: a ZIP made a second later carries another time
    job = finished_job(alice, content)
    response = alice_client.get(links.download_link(job))
    assert response.status_code == 200
    assert streamed(response) == content


def test_download_with_a_tampered_link_is_400_and_no_file(alice_client, alice):
    job = finished_job(alice)
    link = links.download_link(job)
    response = alice_client.get(link[:-3] + "xyz")
    assert response.status_code == 400
    assert not hasattr(response, "streaming_content")
    assert "not valid" in response.content.decode()


def test_a_link_for_another_export_is_400(alice_client, alice):
    job, other = finished_job(alice), finished_job(alice)
    token = links.download_link(other).split("link=")[1]
    response = alice_client.get(reverse("exports:download", args=[job.id]) + f"?link={token}")
    assert response.status_code == 400
    assert not hasattr(response, "streaming_content")


def test_download_with_an_expired_link_is_410(alice_client, alice):
    job = finished_job(alice)

    class LongAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 60 * 86400)

    token = LongAgo(salt=links.LINK_SALT).sign(str(job.id))
    response = alice_client.get(reverse("exports:download", args=[job.id]) + f"?link={token}")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not hasattr(response, "streaming_content")


def test_download_of_an_unfinished_job_is_404(alice_client, alice):
    job = make_job(alice, status=ExportJob.Status.ARCHIVING)
    response = alice_client.get(reverse("exports:download", args=[job.id]))
    assert response.status_code == 404
    assert "still running" in response.content.decode()


def test_download_of_an_archive_gone_from_storage_is_404(alice_client, alice):
    job = finished_job(alice)
    default_storage.delete(job.archive_name)
    assert alice_client.get(reverse("exports:download", args=[job.id])).status_code == 404


def test_download_from_object_storage_redirects_to_a_presigned_url(alice_client, alice, settings, tmp_path):
    job = finished_job(alice)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.NoLocalPathStorage", "OPTIONS": {"location": tmp_path}},
    }
    response = alice_client.get(reverse("exports:download", args=[job.id]))
    assert response.status_code == 302
    assert response["Location"] == f"https://bucket.s3.example.com/{job.archive_name}?X-Amz-Signature=abc"


def test_starting_exports_too_quickly_is_refused_with_a_message(client, make_user, platforms, connect, settings):
    from django.core.cache import cache

    cache.clear()  # counters of an earlier run must not count here
    settings.STAREXPORT = {**settings.STAREXPORT, "CREATE_RATE": "2/m", "MAX_ACTIVE_JOBS_PER_USER": 50}
    user = make_user("speedy")
    connect(user, "github")
    client.force_login(user)
    codes = [client.post("/exports/new/", {"platform": "github", "formats": ["json"]}).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    third = client.post("/exports/new/", {"platform": "github", "formats": ["json"]})
    assert "many exports in a short time" in third.content.decode()


def test_only_new_is_offered_and_on_by_default_for_a_repeat_export(client, make_user, platforms, connect):
    user = make_user("again")
    connect(user, "github")
    client.force_login(user)

    def only_new_input() -> str:
        html = client.get("/exports/new/?platform=github").content.decode()
        start = html.rindex("<input", 0, html.index('name="only_new"'))
        return html[start : html.index(">", start)]

    assert "checked" not in only_new_input()
    ExportJob.objects.create(owner=user, platform_id="github", status=ExportJob.Status.SUCCEEDED)
    assert "checked" in only_new_input()
    response = client.post("/exports/new/", {"platform": "github", "formats": ["json"], "only_new": "on"})
    job = ExportJob.objects.filter(owner=user).latest("created_at")
    assert response.status_code == 302 and job.options == {"only_new": True}
