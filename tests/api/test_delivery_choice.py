"""Where an archive goes: each destination receives every export or only those it is ticked for;
a destination's key encrypts the copy as it is streamed there; a schedule's key encrypts its
runs; the emails say where the archive goes and when a copy finally failed."""

import subprocess
import uuid

import boto3
import pytest
from django.core import mail
from django.core.files.storage import default_storage

from api import delivery
from api.models import ArchiveDelivery, Destination
from exports import jobs, pipeline, schedules
from exports.models import ExportJob, ExportSchedule
from tests.conftest import verify_archive

# Exports run against the sandbox platform.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox")]


def nas(user, dav, name="nas", password="webdav-secret", **choice):
    url, _ = dav
    folder = f"Backups/{uuid.uuid4().hex[:6]}"
    return delivery.destination_create(
        owner=user, name=name, kind="webdav", endpoint_url=url, prefix=folder, access_key="alice",
        secret_key=password, **choice,
    )  # fmt: skip


def run(job):
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def delivered_to(job) -> set[str]:
    return set(ArchiveDelivery.objects.filter(job=job).values_list("destination__name", flat=True))


def decrypt_and_verify(key, encrypted: bytes, tmp_path, platform: str) -> None:
    plain = tmp_path / "decrypted.zip"
    subprocess.run(["age", "-d", "-i", str(key), "-o", str(plain)], input=encrypted, check=True, capture_output=True)
    verify_archive(plain, platform)


def test_the_export_form_ticks_every_export_destinations_and_sends_only_to_those_ticked(alice, client, dav):
    every = nas(alice, dav, "nas")
    chosen = nas(alice, dav, "offsite", mode="chosen")
    client.force_login(alice)
    page = client.get("/exports/new/?platform=github").content.decode()
    assert "nas (WebDAV)" in page and "offsite (WebDAV)" in page
    assert f'value="{every.id}" id="id_destinations_0" checked' in page.replace('checked=""', "checked")
    assert f'value="{chosen.id}" id="id_destinations_1">' in page  # not ticked

    form = {"platform": "github", "formats": ["json"], "destinations_shown": "True"}
    response = client.post("/exports/new/", {**form, "destinations": [chosen.id], "request_key": "a"})
    assert response.status_code == 302, response.content.decode()
    job = ExportJob.objects.get(options__request_key="a")
    assert job.options["destinations"] == [chosen.id]
    assert delivered_to(run(job)) == {"offsite"}

    # Nothing ticked: no copy at all, not "the usual ones".
    client.post("/exports/new/", {**form, "request_key": "b"})
    job = ExportJob.objects.get(options__request_key="b")
    assert job.options["destinations"] == []
    assert delivered_to(run(job)) == set()


def test_without_a_choice_only_every_export_destinations_receive_the_archive(alice, dav):
    nas(alice, dav, "nas")
    nas(alice, dav, "offsite", mode="chosen")
    job = run(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    assert delivered_to(job) == {"nas"}


def test_the_api_chooses_destinations_and_refuses_another_users(alice, bob, api_as, dav):
    mine = nas(alice, dav, "offsite", mode="chosen")
    theirs = nas(bob, dav, "bobs")
    api = api_as(alice)
    refused = api.post("/api/v1/exports", {"platform": "github", "destinations": [theirs.id]})
    assert refused.status_code == 400 and refused.json()["field"] == "destinations"
    assert f"You have no destination {theirs.id}" in refused.json()["detail"]
    with pytest.raises(jobs.ExportRequestError, match=f"You have no destination {theirs.id}"):
        jobs.export_job_create(owner=alice, platform_slug="github", options={"destinations": [theirs.id]})

    created = api.post("/api/v1/exports", {"platform": "github", "destinations": [mine.id]})
    assert created.status_code == 201, created.content
    assert ExportJob.objects.get(id=created.json()["id"]).options["destinations"] == [mine.id]
    # Left out: no choice recorded, so the destinations' own setting decides.
    default = api.post("/api/v1/exports", {"platform": "all"})
    assert default.status_code == 201, default.content
    assert "destinations" not in ExportJob.objects.get(id=default.json()["id"]).options


def test_a_destination_with_a_key_receives_a_copy_age_decrypts_to_a_valid_archive(alice, dav, age_key, tmp_path):
    key, public = age_key
    destination = nas(alice, dav, age_recipient=public)
    job = run(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    queued = ArchiveDelivery.objects.get(job=job)
    assert delivery.delivery_run(queued.id) is None
    queued.refresh_from_db()
    assert queued.status == "delivered", queued.error
    assert queued.location == f"nas:/{destination.prefix}/{job.base_name}.zip.age"

    copy = (dav[1] / destination.prefix / f"{job.base_name}.zip.age").read_bytes()
    assert copy.startswith(b"age-encryption.org/v1\n") and b"PK\x03\x04" not in copy  # never in clear there
    assert queued.bytes_sent == len(copy) > job.archive_size
    assert not job.archive_name.endswith(".age")  # the server's own copy is as the export asked
    decrypt_and_verify(key, copy, tmp_path, "github")


def test_a_key_encrypts_the_copy_to_s3_as_well(alice, s3_server, settings, age_key, tmp_path):
    settings.STAREXPORT = {**settings.STAREXPORT, "DELIVERY_PRIVATE_ORIGINS": [s3_server]}
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1"
    )
    bucket = f"keyed-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    delivery.destination_create(
        owner=alice, name="b2", endpoint_url=s3_server, region="us-east-1", bucket=bucket, access_key="t",
        secret_key="t", age_recipient=age_key[1],
    )  # fmt: skip
    job = run(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    queued = ArchiveDelivery.objects.get(job=job)
    delivery.delivery_run(queued.id)
    queued.refresh_from_db()
    assert queued.status == "delivered", queued.error
    copy = s3.get_object(Bucket=bucket, Key=f"{job.base_name}.zip.age")["Body"].read()
    decrypt_and_verify(age_key[0], copy, tmp_path, "github")


def test_a_destination_refuses_a_key_that_is_not_one(alice, client):
    client.force_login(alice)
    response = client.post(
        "/accounts/destinations/",
        {"kind": "s3", "name": "x", "bucket": "b", "access_key": "k", "secret_key": "s", "age_recipient": "hunter2"},
    )
    assert response.status_code == 400 and "not an age public key" in response.content.decode()
    assert not Destination.objects.exists()


def test_the_storage_page_changes_when_a_destination_is_used(alice, bob, client, dav, age_key):
    destination = nas(alice, dav)
    client.force_login(alice)
    page = client.get("/accounts/destinations/").content.decode()
    assert f'name="d{destination.id}-mode"' in page
    response = client.post(
        f"/accounts/destinations/{destination.id}/",
        {f"d{destination.id}-mode": "chosen", f"d{destination.id}-age_recipient": age_key[1]},
    )
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.mode == "chosen" and destination.age_recipient == age_key[1]
    client.force_login(bob)
    assert (
        client.post(f"/accounts/destinations/{destination.id}/", {f"d{destination.id}-mode": "every"}).status_code
        == 404
    )


def test_a_scheduled_run_with_a_key_produces_an_encrypted_archive(alice, age_key, tmp_path):
    key, public = age_key
    schedule = schedules.schedule_save(
        owner=alice, platform_slug="github", frequency="daily", include_media=False, age_recipient=public
    )
    job = run(schedules.schedule_run(schedule))
    assert job.options["age_recipient"] == public and job.archive_name.endswith(".zip.age")
    with default_storage.open(job.archive_name, "rb") as f:
        decrypt_and_verify(key, f.read(), tmp_path, "github")


def test_a_schedule_with_a_passphrase_keeps_only_the_key_file_it_protects(alice):
    passphrase = "correct horse battery staple"
    schedule = schedules.schedule_save(
        owner=alice, platform_slug="github", frequency="daily", age_passphrase=passphrase
    )
    assert passphrase not in str(ExportSchedule.objects.filter(id=schedule.id).values().get())
    job = schedules.schedule_run(schedule)
    assert job.options["age_recipient"] == schedule.options["age_recipient"]
    assert job.options["age_key"] == schedule.options["age_key"]


def test_a_schedule_sends_where_it_was_told_and_to_every_export_destinations_added_later(alice, dav):
    every = nas(alice, dav, "nas")
    chosen = nas(alice, dav, "offsite", mode="chosen")
    schedule = schedules.schedule_save(
        owner=alice, platform_slug="github", frequency="daily", include_media=False, destinations=[chosen.id]
    )
    assert schedule.options["destinations_skipped"] == [every.id]
    nas(alice, dav, "later")  # added after the schedule was saved
    job = run(schedules.schedule_run(schedule))
    assert delivered_to(job) == {"offsite", "later"}


def test_the_schedules_page_offers_destinations_and_encryption(alice, client, dav, age_key):
    chosen = nas(alice, dav, "offsite", mode="chosen")
    client.force_login(alice)
    page = client.get("/exports/schedules/").content.decode()
    assert "offsite (WebDAV)" in page and 'name="age_recipient"' in page and 'name="age_passphrase"' in page
    response = client.post(
        "/exports/schedules/",
        {"platform_slug": "github", "frequency": "daily", "destinations": [chosen.id], "age_recipient": age_key[1]},
    )
    assert response.status_code == 302, response.content.decode()
    schedule = ExportSchedule.objects.get(owner=alice)
    assert schedule.options["destinations"] == [chosen.id] and schedule.options["age_recipient"] == age_key[1]
    assert "To your public key" in client.get("/exports/schedules/").content.decode()


def test_the_email_names_the_destinations_and_a_failed_copy_is_emailed_with_the_reason(alice, dav):
    nas(alice, dav, "nas")
    nas(alice, dav, "nc", password="wrong")
    job = run(jobs.export_job_create(owner=alice, platform_slug="github", enqueue=False))
    finished = mail.outbox[-1]
    assert "Also being delivered to: nas (WebDAV), nc (WebDAV)." in finished.body
    assert "Also being delivered to: nas (WebDAV), nc (WebDAV)." in finished.alternatives[0][0]

    for queued in ArchiveDelivery.objects.filter(job=job):
        delivery.delivery_run(queued.id)
    failed = [m for m in mail.outbox if "could not be delivered" in m.subject]
    assert len(failed) == 1  # only the copy that failed
    assert failed[0].subject == "Your GitHub export could not be delivered to nc"
    assert "The server refused the user name or password." in failed[0].body
    assert f"/exports/{job.id}/download?link=" in failed[0].body
    assert failed[0].to == [alice.email]
