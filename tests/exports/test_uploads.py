"""Uploading an official archive from the browser: in pieces, resumable, then an import job."""

import io
import json

import pytest
from django.core.files.storage import default_storage

from exports.models import ExportJob, Upload
from tests.fixtures.archives import x_archive_members, zip_bytes

# An X archive without media: a few kilobytes that every check of an upload accepts.
ARCHIVE = zip_bytes(x_archive_members(media=False))


@pytest.fixture
def uma(make_user, platforms, client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    user = make_user("uma")
    client.force_login(user)
    return user


def start(client, size, platform="twitter", filename="twitter-2024.zip"):
    body = json.dumps({"platform": platform, "filename": filename, "size": size})
    return client.post("/exports/import/uploads", body, content_type="application/json")


def put(client, upload_id, offset, data: bytes):
    return client.put(
        f"/exports/import/uploads/{upload_id}?offset={offset}", data, content_type="application/octet-stream"
    )


def test_an_archive_arrives_in_pieces_and_becomes_an_import_job(client, uma):
    data = zip_bytes(x_archive_members())
    assert len(data) > 80_000
    created = start(client, len(data)).json()
    for offset in range(0, len(data), 40_000):
        response = put(client, created["id"], offset, data[offset : offset + 40_000])
        assert response.status_code == 200
    finished = client.post(f"/exports/import/uploads/{created['id']}/finish")
    assert finished.status_code == 200, finished.content
    job = ExportJob.objects.get(id=finished.json()["job"])
    assert job.source == ExportJob.Source.ARCHIVE and job.owner == uma and job.platform_id == "twitter"
    assert job.upload_size == len(data)
    with default_storage.open(job.upload_name) as f:
        assert f.read() == data
    assert finished.json()["job_url"] == f"/exports/{job.id}/"


def test_after_a_dropped_connection_the_upload_resumes_where_the_server_stopped(client, uma):
    data = zip_bytes(x_archive_members())
    created = start(client, len(data)).json()
    assert put(client, created["id"], 0, data[:10_000]).json()["received"] == 10_000
    # The next piece was lost in transit; the browser asks where to go on.
    assert client.get(f"/exports/import/uploads/{created['id']}").json()["received"] == 10_000
    # A piece sent at the wrong offset is refused with where to resume.
    wrong = put(client, created["id"], 20_000, data[20_000:])
    assert wrong.status_code == 409 and wrong.json()["received"] == 10_000
    assert put(client, created["id"], 10_000, data[10_000:]).json()["received"] == len(data)
    assert client.post(f"/exports/import/uploads/{created['id']}/finish").status_code == 200


def test_a_file_over_the_limit_is_refused_before_any_byte_is_sent(client, uma, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_MAX_BYTES": 1000}
    response = start(client, 5000)
    assert response.status_code == 413
    assert "archives up to" in response.json()["error"]
    assert not Upload.objects.exists()


def test_an_unfinished_upload_cannot_start_an_import(client, uma):
    created = start(client, len(ARCHIVE)).json()
    put(client, created["id"], 0, ARCHIVE[:50])
    response = client.post(f"/exports/import/uploads/{created['id']}/finish")
    assert response.status_code == 409
    assert not ExportJob.objects.exists()


def test_another_user_cannot_see_or_feed_an_upload(client, uma, make_user):
    created = start(client, 100).json()
    client.force_login(make_user("ivan"))
    assert client.get(f"/exports/import/uploads/{created['id']}").status_code == 404
    assert put(client, created["id"], 0, b"a" * 100).status_code == 404
    assert client.post(f"/exports/import/uploads/{created['id']}/finish").status_code == 404


def test_a_visitor_gets_401_and_a_post_without_csrf_is_refused(uma):
    from django.test import Client

    assert Client().post("/exports/import/uploads", "{}", content_type="application/json").status_code == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(uma)
    body = json.dumps({"platform": "twitter", "filename": "a.zip", "size": 10})
    assert strict.post("/exports/import/uploads", body, content_type="application/json").status_code == 403


def test_the_import_page_lists_the_platforms_that_can_be_imported(client, uma):
    html = client.get("/exports/import/").content.decode()
    assert 'value="twitter"' in html and "Upload and import" in html


def test_a_piece_is_read_as_a_stream(client, uma):
    created = start(client, 3 * 1024 * 1024).json()
    big = io.BytesIO(b"PK\x03\x04" + b"z" * (3 * 1024 * 1024 - 4)).getvalue()
    # Above Django's in-memory request body limit: only streaming reads can take it.
    assert put(client, created["id"], 0, big).json()["received"] == len(big)
