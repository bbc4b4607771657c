"""What the Import page takes: every part of a split download as one import, and nothing that is
not the platform's archive — refused at its first piece or at the finish, never a job."""

import io
import json
import os
import zipfile
from collections import Counter

import pytest
from django.core.files.storage import default_storage

from exports import pipeline, uploads
from exports.importing import job_import
from exports.models import ExportJob, Upload
from tests.exports.test_importing import split_takeout
from tests.exports.test_uploads import put, start, uma  # noqa: F401 — uma is a fixture
from tests.fixtures.archives import uploaded_job, zip_bytes
from tests.platforms.test_instagram_importer import members as instagram_members
from tests.platforms.test_youtube_importer import members as takeout_members


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path / "s"}},
    }


def start_with_tail(client, data: bytes, *, platform: str, filename: str):
    """As the page announces a file: its size, and its last bytes for the first piece's check."""
    tail = data[-uploads.TAIL_BYTES :]
    return client.post(
        "/exports/import/uploads",
        {"platform": platform, "filename": filename, "size": str(len(data)), "tail": _blob(tail)},
    )


def _blob(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("blob", data, content_type="application/octet-stream")


def send(client, upload_id: str, data: bytes, piece: int = 1 << 20):
    for offset in range(0, len(data), piece):
        answer = put(client, upload_id, offset, data[offset : offset + piece])
        assert answer.status_code == 200, answer.content
    return answer


def only_parts(parts):
    """The first two parts of the split Takeout: its data (ZIP) and two of its videos (ZIP)."""
    return parts[:2]


def records_of(job) -> set[tuple[str, str]]:
    return set(job.records.values_list("resource", "external_id"))


def test_a_takeout_in_two_zips_uploaded_from_the_page_is_one_import_of_both_parts(client, uma, storage, make_user):  # noqa: F811
    parts = only_parts(split_takeout())
    ids = []
    for name, data in parts:
        created = start_with_tail(client, data, platform="youtube", filename=name)
        assert created.status_code == 201, created.content
        send(client, created.json()["id"], data)
        ids.append(created.json()["id"])
    finished = client.post(
        f"/exports/import/uploads/{ids[0]}/finish", json.dumps({"parts": ids[1:]}), content_type="application/json"
    )
    assert finished.status_code == 200, finished.content
    job = ExportJob.objects.get()
    assert str(job.id) == finished.json()["job"]
    assert set(Upload.objects.values_list("job_id", flat=True)) == {job.id}
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error

    # Every record both parts hold, as the command's import of the same two files finds them.
    (name, data), *others = parts
    alone = uploaded_job(make_user("reference"), "youtube", data, name, parts=others)
    job_import(alone)
    assert records_of(job) == records_of(alone) and len(records_of(job)) == 9
    assert Counter(resource for resource, _ in records_of(job))["videos"] == 5
    # The second part's videos are stored from its bytes.
    second = zipfile.ZipFile(io.BytesIO(parts[1][1])).namelist()
    stored = set(job.media_files.filter(status="done").values_list("extra__archive_member", flat=True))
    assert second and set(second) <= stored
    # The part that is not uploaded is named as missing, not dropped.
    assert job.media_files.filter(kind="video", status="failed").count() >= 1
    assert not [n for n in uploads.uploads_dir().iterdir() if n.suffix in (".part", ".tail")]


def test_a_text_file_named_zip_is_refused_at_its_first_piece(client, uma):  # noqa: F811
    text = b"These are my notes, not an archive.\n" * 2000
    created = start(client, len(text), filename="notes.zip").json()
    answer = put(client, created["id"], 0, text[:10_000])
    assert answer.status_code == 415
    assert answer.json()["error"] == (
        "notes.zip is not an archive: it holds plain text, not a ZIP or tar.gz file. "
        "Upload the file the platform gave you."
    )
    assert answer.json()["removed"] is True
    assert not Upload.objects.exists() and not list(uploads.uploads_dir().iterdir())
    assert not ExportJob.objects.exists()


def test_a_truncated_zip_is_refused_at_the_finish_without_a_job_or_an_email(
    client,
    uma,  # noqa: F811
    storage,
    mailoutbox,
    tmp_path,
):
    data = zip_bytes(takeout_members(public=False))
    cut = data[: len(data) * 2 // 3]
    # Announced without its tail (as an API client may): only the whole file shows the damage.
    created = start(client, len(cut), platform="youtube", filename="takeout-001.zip").json()
    send(client, created["id"], cut)
    finished = client.post(f"/exports/import/uploads/{created['id']}/finish")
    assert finished.status_code == 422
    assert finished.json()["error"].startswith("takeout-001.zip: The archive is damaged: it is not a complete ZIP file")
    assert not ExportJob.objects.exists() and not mailoutbox
    assert not Upload.objects.exists() and not list(uploads.uploads_dir().iterdir())
    assert not default_storage.exists(f"uploads/{uma.pk}")


def test_a_truncated_zip_announced_with_its_tail_is_refused_at_its_first_piece(client, uma, settings):  # noqa: F811
    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_CHUNK_BYTES": 64 * 1024}
    members = takeout_members(public=False)
    members["Takeout/archive_browser.html"] = os.urandom(400 * 1024)
    data = zip_bytes(members, compression=zipfile.ZIP_STORED)
    cut = data[: len(data) // 2]
    assert len(cut) > 2 * 64 * 1024
    created = start_with_tail(client, cut, platform="youtube", filename="takeout.zip").json()
    answer = put(client, created["id"], 0, cut[: 64 * 1024])
    assert answer.status_code == 422
    assert "The archive is damaged: it is not a complete ZIP file" in answer.json()["error"]
    assert not Upload.objects.exists()


def test_another_platforms_archive_is_refused_before_the_rest_is_sent(client, uma, settings):  # noqa: F811
    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_CHUNK_BYTES": 64 * 1024}
    # Three megabytes before its directory: the 1 MiB tail holds the directory, not the whole file.
    members = {"media/posts/202401/padding.jpg": os.urandom(3 * 1024 * 1024), **instagram_members()}
    data = zip_bytes(members, compression=zipfile.ZIP_STORED)
    assert len(data) > 3 * uploads.TAIL_BYTES
    created = start_with_tail(client, data, platform="facebook", filename="meta-2025.zip")
    assert created.status_code == 201
    answer = put(client, created.json()["id"], 0, data[: 64 * 1024])
    assert answer.status_code == 422
    assert answer.json()["error"] == "meta-2025.zip: This looks like an Instagram archive, not a Facebook one."
    assert not Upload.objects.exists() and not list(uploads.uploads_dir().iterdir())
    # Nothing more can be sent to it.
    assert put(client, created.json()["id"], 64 * 1024, data[64 * 1024 : 128 * 1024]).status_code == 404


def test_a_damaged_part_of_a_split_download_is_named_and_no_part_becomes_a_job(client, uma, storage):  # noqa: F811
    (name, data), (name2, data2) = only_parts(split_takeout())
    ids = []
    for filename, content in ((name, data), (name2, data2[: len(data2) - 30])):
        created = start(client, len(content), platform="youtube", filename=filename).json()
        send(client, created["id"], content)
        ids.append(created["id"])
    finished = client.post(
        f"/exports/import/uploads/{ids[0]}/finish", json.dumps({"parts": ids[1:]}), content_type="application/json"
    )
    assert finished.status_code == 422
    assert finished.json()["error"].startswith(f"{name2}: The archive is damaged")
    assert not Upload.objects.exists() and not ExportJob.objects.exists()


def test_another_users_upload_cannot_be_joined(client, uma, make_user, storage):  # noqa: F811
    from django.test import Client

    other = Client()
    other.force_login(make_user("ivan"))
    (name, data), (name2, data2) = only_parts(split_takeout())
    theirs = start(other, len(data2), platform="youtube", filename=name2).json()
    send(other, theirs["id"], data2)
    mine = start(client, len(data), platform="youtube", filename=name).json()
    send(client, mine["id"], data)
    finished = client.post(
        f"/exports/import/uploads/{mine['id']}/finish",
        json.dumps({"parts": [theirs["id"]]}),
        content_type="application/json",
    )
    assert finished.status_code == 404 and not ExportJob.objects.exists()


def test_an_unfinished_upload_can_be_given_up_and_its_bytes_go_with_it(client, uma):  # noqa: F811
    (name, data), _ = only_parts(split_takeout())
    created = start_with_tail(client, data, platform="youtube", filename=name).json()
    put(client, created["id"], 0, data[:1000])
    assert client.delete(f"/exports/import/uploads/{created['id']}").status_code == 204
    assert not Upload.objects.exists() and not list(uploads.uploads_dir().iterdir())


def test_a_directory_longer_than_the_tail_is_judged_at_the_finish(client, uma, storage):  # noqa: F811
    data = zip_bytes(instagram_members())
    created = client.post(
        "/exports/import/uploads",
        {"platform": "facebook", "filename": "meta.zip", "size": str(len(data)), "tail": _blob(data[-40:])},
    ).json()
    assert put(client, created["id"], 0, data).status_code == 200
    finished = client.post(f"/exports/import/uploads/{created['id']}/finish")
    assert finished.status_code == 422
    assert finished.json()["error"] == "meta.zip: This looks like an Instagram archive, not a Facebook one."
    assert not Upload.objects.exists() and not ExportJob.objects.exists()
