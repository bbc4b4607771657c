"""Finished archives copied to the user's own S3-compatible storage, against moto's S3 server."""

import hashlib
import uuid

import boto3
import pytest

from api import delivery
from api.models import ArchiveDelivery, Destination
from exports import jobs, pipeline
from exports.models import ExportJob
from tests.conftest import free_port

pytestmark = pytest.mark.django_db
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


@pytest.fixture
def s3(s3_server, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "DELIVERY_PRIVATE_ORIGINS": [s3_server]}
    return boto3.client("s3", endpoint_url=s3_server, **CREDENTIALS)


@pytest.fixture
def bucket(s3):
    name = f"backups-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def add_destination(client, user, s3_server, bucket_name):
    client.force_login(user)
    response = client.post(
        "/accounts/destinations/",
        {
            "kind": "s3",
            "name": "nas",
            "endpoint_url": s3_server,
            "region": "us-east-1",
            "bucket": bucket_name,
            "prefix": "Backups/star",
            "access_key": "test",
            "secret_key": "test",
        },
    )
    assert response.status_code == 302, response.content.decode()
    return Destination.objects.get(owner=user)


def finished_export(user):
    job = pipeline.run_inline(jobs.export_job_create(owner=user, platform_slug="github", enqueue=False))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def export_and_deliver(user):
    """A finished export and its one delivery, made once (no retry asked for)."""
    job = finished_export(user)
    queued = ArchiveDelivery.objects.get(job=job)
    assert delivery.delivery_run(queued.id) is None
    queued.refresh_from_db()
    return job, queued


def test_a_finished_export_is_copied_to_the_users_bucket_and_checked(
    alice, client, api_as, sandbox, s3, s3_server, bucket, settings
):
    destination = add_destination(client, alice, s3_server, bucket)
    assert destination.secret_key.startswith("fernet:")

    job = finished_export(alice)
    queued = ArchiveDelivery.objects.get(job=job)  # queued when the job ended
    assert queued.status == "pending" and queued.destination == destination
    assert delivery.delivery_run(queued.id) is None

    queued.refresh_from_db()
    key = f"Backups/star/{job.base_name}.zip"
    assert queued.status == "delivered" and queued.bytes_sent == job.archive_size
    assert queued.location == f"nas:/{bucket}/{key}"
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == job.archive_sha256

    status = api_as(alice).get(f"/api/v1/exports/{job.id}").json()
    assert status["deliveries"] == [
        {
            "destination": "nas",
            "status": "delivered",
            "bytes_sent": job.archive_size,
            "location": queued.location,
            "error": "",
        }
    ]
    assert (
        f'Delivered to <span class="mono">nas:/{bucket}/{key}' in client.get("/accounts/destinations/").content.decode()
    )
    # Queued once per archive: ending the same job again adds nothing.
    assert delivery.deliveries_queue(job) == 0


def test_a_bucket_that_is_gone_fails_the_delivery_with_the_reason_and_keeps_the_archive(
    alice, client, api_as, sandbox, s3, s3_server
):
    add_destination(client, alice, s3_server, "no-such-bucket-here")
    job, queued = export_and_deliver(alice)
    assert queued.status == "failed" and queued.error == "The bucket does not exist (any more)."
    assert api_as(alice).get(f"/api/v1/exports/{job.id}/archive").status_code == 200


def test_a_destination_that_does_not_answer_is_tried_again_then_given_up(alice, sandbox, settings):
    gone = f"http://127.0.0.1:{free_port()}"
    settings.STAREXPORT = {**settings.STAREXPORT, "DELIVERY_PRIVATE_ORIGINS": [gone], "DELIVERY_ATTEMPTS": 2}
    delivery.destination_create(owner=alice, name="gone", endpoint_url=gone, bucket="b", access_key="k", secret_key="s")
    job = finished_export(alice)
    queued = ArchiveDelivery.objects.get(job=job)
    assert delivery.delivery_run(queued.id) == 30.0
    queued.refresh_from_db()
    assert queued.status == "pending" and "Could not reach the destination" in queued.error
    assert delivery.delivery_run(queued.id) is None
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.attempts == 2
    assert delivery.delivery_run(queued.id) is None  # no third attempt


@pytest.mark.parametrize("endpoint", ["http://10.0.0.5:9000", "http://169.254.169.254", "http://127.0.0.1:9000"])
def test_storage_on_a_private_network_is_refused_unless_the_operator_allows_it(alice, client, endpoint):
    client.force_login(alice)
    response = client.post(
        "/accounts/destinations/",
        {"kind": "s3", "name": "x", "endpoint_url": endpoint, "bucket": "b", "access_key": "k", "secret_key": "s"},
    )
    assert response.status_code == 400
    assert "private, loopback or link-local" in response.content.decode()
    assert not Destination.objects.exists()


# --- WebDAV (wsgidav) and rclone -----------------------------------------------------------------
def test_a_finished_export_is_copied_to_a_webdav_folder(alice, client, sandbox, dav):
    url, root = dav
    folder = f"Backups/{uuid.uuid4().hex[:6]}"
    client.force_login(alice)
    response = client.post(
        "/accounts/destinations/",
        {"kind": "webdav", "name": "nextcloud", "endpoint_url": url + "/", "prefix": folder,
         "access_key": "alice", "secret_key": "webdav-secret"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    job, queued = export_and_deliver(alice)
    assert queued.status == "delivered", queued.error
    assert queued.location == f"nextcloud:/{folder}/{job.base_name}.zip"
    copy = root / folder / f"{job.base_name}.zip"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == job.archive_sha256
    assert queued.bytes_sent == job.archive_size


def test_a_webdav_server_that_refuses_the_password_fails_the_delivery_with_the_reason(alice, api_as, sandbox, dav):
    url, _ = dav
    delivery.destination_create(
        owner=alice, name="nc", kind="webdav", endpoint_url=url, access_key="alice", secret_key="wrong"
    )
    job, queued = export_and_deliver(alice)
    assert queued.status == "failed" and queued.error == "The server refused the user name or password."
    assert api_as(alice).get(f"/api/v1/exports/{job.id}/archive").status_code == 200


def obscured(secret: str) -> str:
    import subprocess

    return subprocess.run(["rclone", "obscure", secret], capture_output=True, text=True, check=True).stdout.strip()


def rclone_destination(user, config: str, target: str):
    return delivery.destination_create(owner=user, name="remote", kind="rclone", prefix=target, secret_key=config)


def test_rclone_copies_the_archive_to_a_webdav_remote(alice, sandbox, dav):
    url, root = dav
    folder = uuid.uuid4().hex[:6]
    config = f"[dav]\ntype = webdav\nurl = {url}/\nvendor = other\nuser = alice\npass = {obscured('webdav-secret')}\n"
    rclone_destination(alice, config, f"dav:{folder}")
    job, queued = export_and_deliver(alice)
    assert queued.status == "delivered", queued.error
    assert queued.location == f"remote:/{folder}/{job.base_name}.zip"
    assert hashlib.sha256((root / folder / f"{job.base_name}.zip").read_bytes()).hexdigest() == job.archive_sha256


def test_rclone_copies_the_archive_to_an_s3_remote(alice, sandbox, s3, s3_server, bucket):
    config = (
        f"[moto]\ntype = s3\nprovider = Other\nendpoint = {s3_server}\naccess_key_id = test\n"
        "secret_access_key = test\nregion = us-east-1\n"
    )
    rclone_destination(alice, config, f"moto:{bucket}/Backups")
    job, queued = export_and_deliver(alice)
    assert queued.status == "delivered", queued.error
    stored = s3.get_object(Bucket=bucket, Key=f"Backups/{job.base_name}.zip")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == job.archive_sha256


def test_rclone_reports_why_a_remote_refused(alice, sandbox, dav):
    url, _ = dav
    config = f"[dav]\ntype = webdav\nurl = {url}/\nvendor = other\nuser = alice\npass = {obscured('wrong')}\n"
    rclone_destination(alice, config, "dav:x")
    job, queued = export_and_deliver(alice)
    assert queued.status == "failed" and queued.error.startswith("rclone: ") and "401" in queued.error


@pytest.mark.parametrize(
    ("config", "target", "words"),
    [
        ("[mine]\ntype = local\n", "mine:/etc", "type 'local' are not allowed"),
        ("[a]\ntype = alias\nremote = /var\n", "a:x", "type 'alias' are not allowed"),
        ("[dav]\ntype = webdav\nurl = http://169.254.169.254/\n", "dav:x", "private, loopback or link-local"),
        ("[dav]\ntype = webdav\nurl = https://dav.example.com/\n", "other:x", "no remote called 'other'"),
        ("not a config", "dav:x", "not an rclone config"),
    ],
)
def test_rclone_configs_that_reach_this_server_are_refused(alice, config, target, words):
    with pytest.raises(delivery.DestinationError, match=words):
        rclone_destination(alice, config, target)


def test_the_job_page_says_where_the_archive_was_delivered(alice, client, sandbox, dav):
    url, _ = dav
    delivery.destination_create(
        owner=alice, name="nextcloud", kind="webdav", endpoint_url=url, prefix="Backups", access_key="alice",
        secret_key="webdav-secret",
    )  # fmt: skip
    job, queued = export_and_deliver(alice)
    client.force_login(alice)
    page = client.get(job.get_absolute_url()).content.decode()
    assert f'Delivered to <span class="mono">nextcloud:/Backups/{job.base_name}.zip</span>' in page
