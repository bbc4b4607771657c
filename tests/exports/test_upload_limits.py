"""One user cannot fill the disk with uploads: limits on open uploads and reserved bytes, the free
disk, the advertised piece size, and a sweep of abandoned uploads."""

import os
import shutil
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from exports import uploads
from exports.models import ExportJob, Upload
from tests.exports.test_uploads import ARCHIVE, put, start, uma  # noqa: F401 — uma is a fixture

GB = 1024**3


def limits(settings, **values):
    settings.STAREXPORT = {**settings.STAREXPORT, **values}


def test_forty_uploads_of_20_gb_each_are_not_all_accepted(client, uma, settings):  # noqa: F811
    """The attack as found: 40 uploads announcing 20 GB each. Only what the limits and the disk allow is accepted."""
    answers = [start(client, 20 * GB, filename=f"a{i}.zip") for i in range(40)]
    accepted = [a for a in answers if a.status_code == 201]
    promised = sum(a.json()["size"] for a in accepted)
    assert promised <= settings.STAREXPORT["UPLOAD_MAX_RESERVED_BYTES_PER_USER"]
    assert promised <= shutil.disk_usage(uploads.uploads_dir()).free
    assert len(accepted) <= settings.STAREXPORT["UPLOAD_MAX_OPEN_PER_USER"]
    refused = [a for a in answers if a.status_code != 201]
    assert len(refused) >= 39 and {a.status_code for a in refused} <= {413, 429, 507}
    assert all(a.json()["error"] for a in refused)
    assert Upload.objects.filter(owner=uma).count() == len(accepted)


def test_a_user_may_have_only_so_many_unfinished_uploads(client, uma, settings):  # noqa: F811
    limits(settings, UPLOAD_MAX_OPEN_PER_USER=3)
    size = len(ARCHIVE)
    assert [start(client, size).status_code for _ in range(3)] == [201] * 3
    fourth = start(client, size)
    assert fourth.status_code == 429
    assert "3 unfinished uploads (the limit is 3)" in fourth.json()["error"]
    # Finishing one frees its place.
    done = Upload.objects.filter(owner=uma).first()
    put(client, done.id, 0, ARCHIVE)
    assert client.post(f"/exports/import/uploads/{done.id}/finish").status_code == 200
    assert start(client, size).status_code == 201


def test_the_bytes_a_user_reserves_are_limited(client, uma, settings):  # noqa: F811
    limits(settings, UPLOAD_MAX_RESERVED_BYTES_PER_USER=10_000)
    assert start(client, 6000).status_code == 201
    second = start(client, 6000)
    assert second.status_code == 413 and "take 0.0 GB" in second.json()["error"]
    assert start(client, 4000).status_code == 201


def test_an_upload_that_would_not_fit_on_the_disk_is_refused(client, uma, settings, make_user):  # noqa: F811
    uploads.uploads_dir().mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(uploads.uploads_dir()).free
    # The margin leaves room for about 1 GB more (other programs write to this disk meanwhile).
    limits(settings, UPLOAD_DISK_MARGIN_BYTES=free - GB, UPLOAD_MAX_RESERVED_BYTES_PER_USER=100 * GB)
    first = start(client, 600 * 1024**2)
    assert first.status_code == 201
    # Another user's 600 MB would fit alone, but not beside the first: the disk is shared.
    other = Client()
    other.force_login(make_user("olga"))
    refused = start(other, 600 * 1024**2)
    assert refused.status_code == 507 and "disk space" in refused.json()["error"]
    Upload.objects.filter(id=first.json()["id"]).delete()
    assert start(other, 600 * 1024**2).status_code == 201


def test_a_piece_larger_than_the_advertised_size_is_refused_unread(client, uma, settings):  # noqa: F811
    limits(settings, UPLOAD_CHUNK_BYTES=64 * 1024)
    created = start(client, 1024 * 1024).json()
    assert created["chunk_size"] == 64 * 1024
    response = put(client, created["id"], 0, b"PK\x03\x04" + b"z" * (100 * 1024))
    assert response.status_code == 413 and "at most 65536 bytes" in response.json()["error"]
    assert response.json()["received"] == 0
    assert uploads.partial_path(Upload.objects.get(id=created["id"])).stat().st_size == 0
    piece = b"PK\x03\x04" + b"z" * (64 * 1024 - 4)
    assert put(client, created["id"], 0, piece).json()["received"] == 64 * 1024


def age(upload: Upload, hours: float) -> None:
    then = timezone.now() - timedelta(hours=hours)
    Upload.objects.filter(id=upload.id).update(updated_at=then)
    path = uploads.partial_path(upload)
    if path.exists():
        os.utime(path, (then.timestamp(), then.timestamp()))


def test_the_sweep_removes_abandoned_uploads_and_their_partial_files(client, uma, settings):  # noqa: F811
    limits(settings, UPLOAD_ABANDONED_HOURS=24)
    abandoned, moving, finished = (Upload.objects.get(id=start(client, len(ARCHIVE)).json()["id"]) for _ in range(3))
    for upload in (abandoned, moving, finished):
        put(client, upload.id, 0, ARCHIVE if upload is finished else ARCHIVE[:40])
    assert client.post(f"/exports/import/uploads/{finished.id}/finish").status_code == 200
    orphan = uploads.uploads_dir() / f"{uuid.uuid4()}.part"
    orphan.write_bytes(b"left by a crash")
    for upload in (abandoned, finished):
        age(upload, 30)
    age(moving, 30)
    os.utime(uploads.partial_path(moving))  # a piece arrived just now
    os.utime(orphan, (time.time() - 30 * 3600,) * 2)

    assert uploads.upload_sweep() == 2
    assert not Upload.objects.filter(id=abandoned.id).exists()
    assert not uploads.partial_path(abandoned).exists() and not orphan.exists()
    assert Upload.objects.filter(id=moving.id).exists() and uploads.partial_path(moving).exists()
    assert ExportJob.objects.filter(uploads__id=finished.id).exists()
    # Uploading moves updated_at on: a slow upload is never taken for abandoned.
    before = Upload.objects.get(id=moving.id).updated_at
    put(client, moving.id, 40, ARCHIVE[40:50])
    assert Upload.objects.get(id=moving.id).updated_at > before
    assert uploads.upload_sweep() == 0


@pytest.mark.pipeline
def test_the_worker_runs_the_sweep_as_beat_schedules_it(live, make_user, settings):
    from exports.upload_tasks import sweep_abandoned_uploads
    from platforms.models import Platform

    assert settings.CELERY_BEAT_SCHEDULE["sweep-abandoned-uploads"]["task"] == sweep_abandoned_uploads.name
    upload = Upload.objects.create(
        owner=make_user("wera"), platform=Platform.objects.get(slug="twitter"), filename="x.zip", size=10
    )
    uploads.partial_path(upload).parent.mkdir(parents=True, exist_ok=True)
    uploads.partial_path(upload).write_bytes(b"12345")
    age(upload, 48)
    # Run by the real worker (which imports exports.upload_tasks), not in this process.
    assert sweep_abandoned_uploads.delay().get(timeout=60) >= 1
    assert not Upload.objects.filter(id=upload.id).exists() and not uploads.partial_path(upload).exists()
