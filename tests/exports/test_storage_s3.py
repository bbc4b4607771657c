"""Storage on S3, against a real S3-compatible server process (moto's server mode).

The same code paths as on local disk — the downloader, the archive, `archive_location` — with
Django's default storage pointed at django-storages' S3 backend, as `AWS_STORAGE_BUCKET_NAME` does.
"""

import hashlib
import json
import os
import runpy
import socket
import threading
import uuid
import zipfile
from pathlib import Path
from unittest import mock

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from storages.backends.s3 import S3Storage

from exports import jobs, links, pipeline
from exports.archive import archive_build, archive_name_for
from exports.download import Downloader
from exports.models import ExportJob, ExportRecord, MediaFile
from exports.writer import stored_name_for
from platforms.sandbox import media
from tests.conftest import free_port, verify_archive

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "starexport" / "settings.py"


def s3_options(endpoint_url: str, bucket: str) -> dict:
    """The OPTIONS settings.py itself gives S3Storage for these AWS_* variables, so the tests run
    with production's storage configuration, whatever it grows to."""
    env = {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint_url,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    with mock.patch.dict(os.environ, env):
        storage = runpy.run_path(str(SETTINGS_FILE))["STORAGES"]["default"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    expected = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url,
        "access_key": "test",
        "secret_key": "test",
        "region_name": "us-east-1",
        "default_acl": None,
        "file_overwrite": True,
        "querystring_auth": True,
    }
    assert {key: options.get(key) for key in expected} == expected
    return options


@pytest.fixture
def s3(s3_server):
    return boto3.client("s3", endpoint_url=s3_server, **CREDENTIALS)


@pytest.fixture
def bucket(s3):
    """A fresh bucket per test, so one test's objects never satisfy another's assertions."""
    name = f"starexport-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def on_s3(settings, s3_server, bucket, tmp_path):
    """Django's default storage on the S3 server; partial downloads in a temporary directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options(s3_server, bucket)},
    }
    settings.VAR_DIR = tmp_path
    # Changing STORAGES resets default_storage; make sure the code under test really sees S3.
    assert isinstance(default_storage, S3Storage)
    assert default_storage.bucket_name == bucket
    return bucket


def head(s3, bucket: str, key: str) -> dict | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def download_media(job: ExportJob, sandbox, name: str, *, media_id: str = "m1") -> MediaFile:
    media_file = MediaFile.objects.create(
        job=job,
        media_id=media_id,
        source_url=f"{sandbox.base_url}/reddit/media/{name}",
        kind="image",
        ext="jpg",
        record_ids=["t3_x"],
    )
    Downloader(platform=job.platform, owner_id=job.owner_id, attempts=3, sleep=lambda s: None).download_and_save(
        media_file
    )
    media_file.refresh_from_db()
    assert media_file.status == MediaFile.Status.DONE, media_file.last_error
    return media_file


@pytest.fixture
def reddit_job(make_user, platforms):
    return ExportJob.objects.create(owner=make_user("dora"), platform=platforms["reddit"], include_media=True)


def test_a_github_export_writes_its_archive_to_the_bucket(on_s3, s3, make_user, platforms, connect, sandbox, tmp_path):
    alice = make_user("alice")
    connect(alice, "github")
    job = jobs.export_job_create(owner=alice, platform_slug="github", formats=["json", "csv"], enqueue=False)
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error

    assert job.archive_name == archive_name_for(job)
    stored = head(s3, on_s3, job.archive_name)
    assert stored is not None, keys(s3, on_s3)
    assert stored["ContentLength"] == job.archive_size

    local = tmp_path / "from-s3.zip"
    local.write_bytes(s3.get_object(Bucket=on_s3, Key=job.archive_name)["Body"].read())
    assert hashlib.sha256(local.read_bytes()).hexdigest() == job.archive_sha256
    verify_archive(local, "github", "--csv")
    with zipfile.ZipFile(local) as archive:
        document = json.loads(archive.read(f"{job.base_name}.json"))
        assert f"{job.base_name}.csv" in archive.namelist()
    # 1 profile + 12 records in each of repos, starred and gists (the sandbox fixture's size)
    assert {name: len(records) for name, records in document["records"].items()} == {
        "user": 1,
        "repos": 12,
        "starred": 12,
        "gists": 12,
    }

    location = links.archive_location(job)
    assert location.startswith(f"{default_storage.endpoint_url}/{on_s3}/{job.archive_name}?"), location
    assert "X-Amz-Signature=" in location
    response = requests.get(location, timeout=30)
    assert response.status_code == 200
    assert response.content == local.read_bytes()


def test_the_archive_stream_is_read_on_the_callers_thread_and_connection(on_s3, s3, reddit_job, tmp_path):
    # With s3transfer's thread pool the records query would run on another thread, with another
    # database connection that cannot see this (uncommitted) record: the JSON would come out empty.
    ExportRecord.objects.create(
        job=reddit_job, resource="submitted", external_id="t3_x", position=1, data={"id": "x", "title": "Hello"}
    )
    result = archive_build(reddit_job)
    local = tmp_path / "a.zip"
    local.write_bytes(s3.get_object(Bucket=on_s3, Key=result.name)["Body"].read())
    with zipfile.ZipFile(local) as archive:
        document = json.loads(archive.read(f"{reddit_job.base_name}.json"))
    assert document["records"] == {"submitted": [{"id": "x", "title": "Hello"}]}


def test_the_presigned_archive_url_uses_signature_version_4(on_s3, reddit_job):
    # botocore would presign with SigV2 for us-east-1, which AWS refuses for buckets made since 2020.
    reddit_job.archive_name = archive_name_for(reddit_job)
    default_storage.save(reddit_job.archive_name, ContentFile(b"PK\x05\x06" + bytes(18)))
    location = links.archive_location(reddit_job)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location, location
    assert requests.get(location, timeout=30).status_code == 200


def test_downloaded_media_land_in_the_bucket_under_their_content_address(on_s3, s3, reddit_job, sandbox):
    expected, _, _ = media.render("cat.jpg", {})
    media_file = download_media(reddit_job, sandbox, "cat.jpg")

    sha256 = hashlib.sha256(expected).hexdigest()
    address = f"media/{reddit_job.owner_id}/{sha256[:2]}/{sha256}"
    assert media_file.sha256 == sha256
    assert media_file.stored_name == address == stored_name_for(reddit_job.owner_id, sha256)
    assert s3.get_object(Bucket=on_s3, Key=address)["Body"].read() == expected
    # Nothing else was left behind: no temporary name, no second copy.
    assert keys(s3, on_s3) == [address]


def test_the_archive_is_uploaded_in_parts(on_s3, s3, reddit_job, sandbox):
    size = 12_000_000
    media_file = download_media(reddit_job, sandbox, f"big.jpg?bytes={size}")
    assert media_file.size == size

    result = archive_build(reddit_job)
    stored = head(s3, on_s3, result.name)
    assert stored is not None
    assert stored["ContentLength"] == result.size > size
    # A multipart upload's ETag is "<md5 of the part md5s>-<number of parts>"; boto3's default
    # threshold and part size are 8 MB, so this archive goes up in two parts.
    assert stored["ETag"].strip('"').endswith("-2"), stored["ETag"]


def test_the_archive_upload_streams_whatever_its_size(on_s3, s3, reddit_job, sandbox, tmp_path):
    # Whatever way boto3 sends it, the object is the whole archive, byte for byte.
    size = 12_000_000
    download_media(reddit_job, sandbox, f"big.jpg?bytes={size}")
    result = archive_build(reddit_job)
    local = tmp_path / "big.zip"
    local.write_bytes(s3.get_object(Bucket=on_s3, Key=result.name)["Body"].read())
    assert local.stat().st_size == result.size
    assert hashlib.sha256(local.read_bytes()).hexdigest() == result.sha256
    verify_archive(local, "reddit", "--media")


def closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_an_unreachable_s3_server_fails_the_archive_and_leaves_no_object(on_s3, s3, reddit_job, sandbox):
    download_media(reddit_job, sandbox, "cat.jpg")
    unreachable = S3Storage(**s3_options(f"http://127.0.0.1:{closed_port()}", on_s3))

    with pytest.raises(BotoConnectionError, match="Could not connect to the endpoint URL"):
        archive_build(reddit_job, storage=unreachable)
    assert keys(s3, on_s3, f"archives/{reddit_job.owner_id}/") == []


class CuttingProxy:
    """A TCP proxy in front of the S3 server that, once it has passed `limit` bytes towards the
    server, drops every connection and stops listening: the server goes away mid-upload."""

    def __init__(self, target: str, limit: int):
        self.target = ("127.0.0.1", int(target.rsplit(":", 1)[1]))
        self.limit, self.sent = limit, 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self.pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source: socket.socket, target: socket.socket, towards_server: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if towards_server:
                    with self.lock:
                        self.sent += len(data)
                        over = self.sent > self.limit
                    if over:
                        self.cut()
                        return
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def test_a_server_that_goes_away_mid_upload_leaves_no_archive_object(on_s3, s3, s3_server, reddit_job, sandbox):
    download_media(reddit_job, sandbox, "big.jpg?bytes=6000000")
    proxy = CuttingProxy(s3_server, limit=2_000_000)
    flaky = S3Storage(**s3_options(proxy.url, on_s3))

    with pytest.raises(BotoConnectionError):
        archive_build(reddit_job, storage=flaky)
    assert proxy.sent > 2_000_000  # the upload had really started
    assert keys(s3, on_s3, f"archives/{reddit_job.owner_id}/") == []
