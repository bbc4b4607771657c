"""The REST API at /api/v1/ as a script meets it: tokens, the 401/403/404 rules, exports from
start to archive, the library, rate limits."""

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from api.models import ApiToken
from exports import jobs, pipeline
from exports.models import ExportJob, LibraryMedia, LibraryRecord, MediaFile
from tests.api.conftest import ApiClient
from tests.conftest import verify_archive

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- tokens ----------------------------------------------------------------------------------
def test_the_api_token_command_prints_a_working_token_on_its_last_line(alice):
    out = io.StringIO()
    call_command("api_token", "--user", "alice", "--scopes", "read", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    response = ApiClient(token).get("/api/v1/platforms")
    assert response.status_code == 200
    assert {"slug": "github", "connection": "connected"}.items() <= {
        k: v for p in response.json() if p["slug"] == "github" for k, v in p.items()
    }.items()
    assert ApiToken.objects.get(owner=alice).scopes == ["read"]


def test_the_api_token_command_refuses_an_unknown_user_with_exit_status_2(alice):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as err:
        call_command("api_token", "--user", "nobody", stdout=io.StringIO(), stderr=io.StringIO())
    assert err.value.returncode == 2


def test_a_token_is_shown_once_on_the_page_and_only_its_checksum_is_stored(alice, client):
    client.force_login(alice)
    response = client.post("/accounts/api-tokens/", {"name": "backup", "scopes": ["read"], "expires_in": "30"})
    assert response.status_code == 201
    token = response.context["created"]
    assert token.startswith("se_") and token in response.content.decode()
    row = ApiToken.objects.get(owner=alice)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.name, row.prefix, row.token_hash}
    assert 29 <= (row.expires_at - timezone.now()).days <= 30
    again = client.get("/accounts/api-tokens/")
    assert token not in again.content.decode() and "backup" in again.content.decode()
    assert ApiClient(token).get("/api/v1/exports").status_code == 200


def test_a_revoked_token_gets_401_at_once(alice, client):
    client.force_login(alice)
    created = client.post("/accounts/api-tokens/", {"name": "x", "scopes": ["read"]})
    api = ApiClient(created.context["created"])
    assert api.get("/api/v1/exports").status_code == 200
    row = ApiToken.objects.get(owner=alice)
    client.post(f"/accounts/api-tokens/{row.id}/revoke")
    assert api.get("/api/v1/exports").status_code == 401


def test_no_token_a_bad_token_and_an_expired_token_get_401(alice, api_as):
    expired = api_as(alice, expires_at=timezone.now() + timedelta(seconds=1))
    ApiToken.objects.filter(owner=alice).update(expires_at=timezone.now() - timedelta(seconds=1))
    for api in (ApiClient(None), ApiClient("se_not-a-token"), ApiClient("garbage"), expired):
        response = api.get("/api/v1/exports")
        assert response.status_code == 401
        assert response.json()["detail"]


def test_every_use_of_a_token_updates_last_used(alice, api_as):
    api = api_as(alice)
    assert ApiToken.objects.get(owner=alice).last_used_at is None
    api.get("/api/v1/platforms")
    first = ApiToken.objects.get(owner=alice).last_used_at
    assert first is not None
    api.get("/api/v1/platforms")
    assert ApiToken.objects.get(owner=alice).last_used_at > first


def test_a_read_token_cannot_start_an_export_or_cancel_one(alice, api_as):
    api = api_as(alice, scopes=["read"])
    response = api.post("/api/v1/exports", {"platform": "github"})
    assert response.status_code == 403
    assert "export" in response.json()["detail"]
    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    assert api.post(f"/api/v1/exports/{job.id}/cancel").status_code == 403
    assert api.get(f"/api/v1/exports/{job.id}").status_code == 200
    assert ExportJob.objects.count() == 1


def test_another_users_job_is_404_on_every_address(alice, bob, api_as):
    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    api = api_as(bob)
    for method, path in [
        ("get", f"/api/v1/exports/{job.id}"),
        ("post", f"/api/v1/exports/{job.id}/cancel"),
        ("post", f"/api/v1/exports/{job.id}/retry"),
        ("get", f"/api/v1/exports/{job.id}/archive"),
    ]:
        response = getattr(api, method)(path)
        assert response.status_code == 404, path
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED
    assert api.get("/api/v1/exports").json()["items"] == []


# --- exports ---------------------------------------------------------------------------------
def test_post_exports_takes_the_forms_fields_and_answers_201_with_the_status_json(alice, api_as):
    api = api_as(alice)
    response = api.post(
        "/api/v1/exports",
        {
            "platform": "github",
            "formats": ["json", "csv"],
            "date_from": "2015-01-01",
            "date_to": "2015-12-31",
            "max_records": 5,
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    job = ExportJob.objects.get(owner=alice)
    assert data["id"] == str(job.id)
    for key in ("status", "progress", "step", "records", "media", "failures", "download_url", "error"):
        assert key in data
    assert data["status"] == "queued" and data["download_url"] is None
    assert {"total", "done", "failed", "bytes", "expected_bytes", "bytes_per_second"} <= set(data["media"])
    assert job.formats == ["json", "csv"]
    assert job.options == {"date_from": "2015-01-01", "date_to": "2015-12-31", "max_records": 5}
    assert api.get(f"/api/v1/exports/{job.id}").json() == data


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"platform": "reddit"}, "platform", "no connected Reddit account"),
        ({"platform": "myspace"}, "platform", "Unknown platform"),
        ({"platform": "github", "date_from": "2024-05-01", "date_to": "2024-01-01"}, "date_to", "after the end"),
        ({"platform": "github", "date_from": "May"}, "date_from", ""),
        ({"platform": "github", "max_records": 0}, "max_records", ""),
        ({}, "platform", ""),
    ],
)
def test_a_refused_export_is_400_with_the_reason_and_field(alice, api_as, payload, field, words):
    response = api_as(alice).post("/api/v1/exports", payload)
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert response.json().get("field") == field
    assert not ExportJob.objects.exists()


def test_platform_all_starts_one_everything_export(alice, api_as):
    response = api_as(alice).post("/api/v1/exports", {"platform": "all", "formats": ["json"]})
    assert response.status_code == 201, response.content
    job = ExportJob.objects.get(id=response.json()["id"])
    assert job.platform_id == "all" and job.parts.exists()


def test_cancel_stops_a_running_export_and_a_second_cancel_is_409(alice, api_as):
    api = api_as(alice)
    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    response = api.post(f"/api/v1/exports/{job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    again = api.post(f"/api/v1/exports/{job.id}/cancel")
    assert again.status_code == 409
    assert "already finished (canceled)" in again.json()["detail"]


def test_retry_queues_the_failed_files_again(alice, api_as):
    job = jobs.export_job_create(owner=alice, platform_slug="github", include_media=True, enqueue=False)
    ExportJob.objects.filter(id=job.id).update(status=ExportJob.Status.SUCCEEDED, archive_name="x.zip")
    MediaFile.objects.create(
        job=job, media_id="m1", source_url="https://example.com/a.jpg", kind="image", status="failed", last_error="404"
    )
    api = api_as(alice)
    response = api.post(f"/api/v1/exports/{job.id}/retry")
    assert response.status_code == 200
    assert response.json()["retried"] == 1
    assert response.json()["job"]["status"] == "downloading"
    assert api.post(f"/api/v1/exports/{job.id}/retry").status_code == 409


def test_the_archive_is_streamed_whole_or_from_a_byte_range(alice, api_as, sandbox, tmp_path):
    job = pipeline.run_inline(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    api = api_as(alice)
    status = api.get(f"/api/v1/exports/{job.id}").json()
    assert status["download_url"].endswith(f"/api/v1/exports/{job.id}/archive")

    whole = api.get(f"/api/v1/exports/{job.id}/archive")
    assert whole.status_code == 200
    assert whole["Content-Type"] == "application/zip" and whole["Accept-Ranges"] == "bytes"
    assert f"{job.base_name}.zip" in whole["Content-Disposition"]
    data = body(whole)
    assert len(data) == int(whole["Content-Length"]) == job.archive_size
    assert hashlib.sha256(data).hexdigest() == job.archive_sha256

    part = api.get(f"/api/v1/exports/{job.id}/archive", HTTP_RANGE="bytes=100-")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    assert data[:100] + body(part) == data
    tail = api.get(f"/api/v1/exports/{job.id}/archive", HTTP_RANGE="bytes=-10")
    assert body(tail) == data[-10:]
    outside = api.get(f"/api/v1/exports/{job.id}/archive", HTTP_RANGE=f"bytes={len(data)}-")
    assert outside.status_code == 416 and outside["Content-Range"] == f"bytes */{len(data)}"

    copy = tmp_path / f"{job.base_name}.zip"
    copy.write_bytes(data)
    verify_archive(copy, "github")
    assert zipfile.ZipFile(io.BytesIO(data)).read(f"{job.base_name}.json")


def test_an_export_without_an_archive_answers_404_for_it(alice, api_as):
    job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
    response = api_as(alice).get(f"/api/v1/exports/{job.id}/archive")
    assert response.status_code == 404
    assert "no archive (queued)" in response.json()["detail"]


def test_the_exports_list_pages_by_cursor_newest_first(alice, api_as):
    made = []
    for _ in range(5):
        job = jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False)
        ExportJob.objects.filter(id=job.id).update(status=ExportJob.Status.SUCCEEDED)
        made.append(str(job.id))
    api, seen, cursor = api_as(alice), [], ""
    while True:
        page = api.get("/api/v1/exports", {"limit": 2, "cursor": cursor}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made[::-1]
    assert api.get("/api/v1/exports", {"cursor": "forged"}).status_code == 400


# --- the library -----------------------------------------------------------------------------
def library_rows(user, platforms):
    rows = [
        ("github", "repos", "1", "2021-03-01T10:00:00Z", {"name": "starexport", "description": "backups"}),
        ("github", "repos", "2", "2022-06-15T09:00:00Z", {"name": "dotfiles"}),
        ("github", "starred", "3", "2023-01-02T00:00:00Z", {"repo": {"full_name": "django/django"}}),
        ("reddit", "submitted", "t3_a", "2023-05-05T12:00:00Z", {"title": "My cat", "kind": "t3"}),
        ("reddit", "saved", "t3_b", "", {"title": "Undated backups post"}),
    ]
    for slug, kind, external_id, timestamp, data in rows:
        LibraryRecord.objects.create(
            owner=user, platform=platforms[slug], kind=kind, external_id=external_id, timestamp=timestamp, data=data
        )
    LibraryMedia.objects.create(
        owner=user, platform=platforms["reddit"], media_id="img1", kind="image", record_ids=["t3_a"],
        sha256="0" * 64, size=1, stored_name="x",
    )  # fmt: skip


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_the_library_is_newest_first_and_pages_by_cursor(alice, bob, api_as, platforms):
    library_rows(alice, platforms)
    library_rows(bob, platforms)
    api, seen, cursor = api_as(alice), [], ""
    while True:
        page = api.get("/api/v1/library", {"limit": 2, "cursor": cursor}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["t3_a", "3", "2", "1", "t3_b"]
    first = api.get("/api/v1/library", {"limit": 1}).json()["items"][0]
    assert first["platform"] == "reddit" and first["data"]["title"] == "My cat"
    assert first["url"].endswith("/library/reddit/t3_a/")


def test_the_library_searches_and_filters(alice, api_as, platforms):
    library_rows(alice, platforms)
    api = api_as(alice)
    assert ids(api.get("/api/v1/library", {"q": "BACKUPS"})) == ["1", "t3_b"]
    assert ids(api.get("/api/v1/library", {"q": "django/django"})) == ["3"]
    assert ids(api.get("/api/v1/library", {"platform": "github"})) == ["3", "2", "1"]
    assert ids(api.get("/api/v1/library", {"date_from": "2022-01-01", "date_to": "2023-01-02"})) == ["3", "2"]
    assert ids(api.get("/api/v1/library", {"media": "1"})) == ["t3_a"]
    assert ids(api.get("/api/v1/library", {"q": "nothing like this"})) == []
    assert api.get("/api/v1/library", {"date_from": "yesterday"}).status_code == 400


# --- limits and the schema -------------------------------------------------------------------
def test_each_token_has_its_own_rate_limit(alice, api_as, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "API_RATE": "3/m"}
    first, second = api_as(alice), api_as(alice)
    assert [first.get("/api/v1/platforms").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/platforms")
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert second.get("/api/v1/platforms").status_code == 200


def test_the_schema_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/exports", "/api/v1/exports/{job_id}/archive", "/api/v1/library", "/api/v1/webhooks"} <= set(
        schema["paths"]
    )
    assert client.get("/api/v1/docs").status_code == 200


# --- imports ---------------------------------------------------------------------------------
def test_an_official_archive_uploaded_in_pieces_becomes_an_import_job(alice, api_as, settings, tmp_path):
    from tests.fixtures.archives import x_archive_members, zip_bytes

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    data = zip_bytes(x_archive_members())
    # Pieces of half the file: within the advertised piece size, as the server insists.
    chunk = len(data) // 2 + 1
    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_CHUNK_BYTES": chunk}
    api = api_as(alice)
    started = api.post("/api/v1/imports", {"platform": "twitter", "filename": "twitter.zip", "size": len(data)})
    assert started.status_code == 201, started.content
    upload = started.json()
    assert upload["received"] == 0 and upload["chunk_size"] == chunk and upload["job"] is None
    url = f"/api/v1/imports/{upload['id']}"

    half = len(data) // 2
    first = api.put(f"{url}?offset=0", data[:half], content_type="application/octet-stream")
    assert first.status_code == 200 and first.json()["received"] == half
    # A piece sent again after a dropped answer is refused, and says where to go on from.
    again = api.put(f"{url}?offset=0", data[:half], content_type="application/octet-stream")
    assert again.status_code == 409 and f"offset {half}" in again.json()["detail"]
    assert api.get(url).json()["received"] == half
    assert api.post(f"{url}/finish").status_code == 409
    assert api.put(f"{url}?offset={half}", data[half:], content_type="application/octet-stream").status_code == 200

    finished = api.post(f"{url}/finish")
    assert finished.status_code == 201, finished.content
    job = ExportJob.objects.get(id=finished.json()["id"])
    assert job.source == ExportJob.Source.ARCHIVE and job.platform_id == "twitter"
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert api.get(url).json()["job"] == str(job.id)


def test_several_uploads_of_one_download_are_one_import(alice, api_as, settings, tmp_path):
    import base64

    from exports import uploads
    from tests.exports.test_importing import split_takeout

    settings.VAR_DIR = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path / "s"}},
    }
    api = api_as(alice)
    parts = split_takeout()[:2]
    ids = []
    for name, data in parts:
        tail = base64.b64encode(data[-uploads.TAIL_BYTES :]).decode()
        created = api.post(
            "/api/v1/imports", {"platform": "youtube", "filename": name, "size": len(data), "tail": tail}
        )
        assert created.status_code == 201, created.content
        url = f"/api/v1/imports/{created.json()['id']}"
        assert api.put(f"{url}?offset=0", data, content_type="application/octet-stream").status_code == 200
        ids.append(created.json()["id"])
    finished = api.post(f"/api/v1/imports/{ids[0]}/finish", {"parts": ids[1:]})
    assert finished.status_code == 201, finished.content
    job = pipeline.run_inline(ExportJob.objects.get(id=finished.json()["id"]))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    # The second part's videos are in the import, stored from its bytes.
    with zipfile.ZipFile(io.BytesIO(parts[1][1])) as second:
        videos = set(second.namelist())
    stored = set(job.media_files.filter(status="done").values_list("extra__archive_member", flat=True))
    assert videos and videos <= stored
    assert job.records.filter(resource="videos").count() == 5
    assert [api.get(f"/api/v1/imports/{i}").json()["job"] for i in ids] == [str(job.id)] * 2
    # Finishing again answers with the same job.
    assert api.post(f"/api/v1/imports/{ids[0]}/finish").json()["id"] == str(job.id)


def test_an_upload_that_is_not_an_archive_is_refused_at_its_first_piece(alice, api_as, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    api = api_as(alice)
    text = b"not an archive\n" * 100
    created = api.post("/api/v1/imports", {"platform": "twitter", "filename": "x.zip", "size": len(text)})
    refused = api.put(f"/api/v1/imports/{created.json()['id']}?offset=0", text, content_type="application/octet-stream")
    assert refused.status_code == 415 and "not an archive" in refused.json()["detail"]
    assert api.get(f"/api/v1/imports/{created.json()['id']}").status_code == 404


def test_imports_follow_the_same_rules_as_exports(alice, bob, api_as):
    started = api_as(alice).post("/api/v1/imports", {"platform": "twitter", "size": 10})
    assert (
        api_as(alice, scopes=["read"]).post("/api/v1/imports", {"platform": "twitter", "size": 10}).status_code == 403
    )
    assert api_as(bob).get(f"/api/v1/imports/{started.json()['id']}").status_code == 404
    refused = api_as(alice).post("/api/v1/imports", {"platform": "myspace", "size": 10})
    assert refused.status_code == 400 and refused.json()["field"] == "platform"
