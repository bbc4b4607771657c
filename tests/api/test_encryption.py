"""Archives encrypted with age as they are written: Debian's `age` decrypts them, and the result
is a valid archive (verify_archive)."""

import json
import subprocess

import pytest
from django.core import mail
from django.core.files.storage import default_storage

from exports import jobs, pipeline
from exports.archive import archive_build, archive_name_for
from exports.models import ExportJob, MediaFile
from tests.conftest import verify_archive

pytestmark = pytest.mark.django_db


def age_decrypt(key, encrypted: bytes, out) -> None:
    subprocess.run(["age", "-d", "-i", str(key), "-o", str(out)], input=encrypted, check=True, capture_output=True)


def test_an_export_encrypted_to_an_age_key_decrypts_to_a_valid_archive(alice, api_as, sandbox, age_key, tmp_path):
    key, public = age_key
    api = api_as(alice)
    created = api.post("/api/v1/exports", {"platform": "github", "formats": ["json", "csv"], "age_recipient": public})
    assert created.status_code == 201, created.content
    job = pipeline.run_inline(ExportJob.objects.get(id=created.json()["id"]))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.archive_name.endswith(".zip.age")

    status = api.get(f"/api/v1/exports/{job.id}").json()
    assert status["encrypted"] is True
    response = api.get(f"/api/v1/exports/{job.id}/archive")
    assert f"{job.base_name}.zip.age" in response["Content-Disposition"]
    encrypted = b"".join(response.streaming_content)
    assert encrypted.startswith(b"age-encryption.org/v1\n")
    assert b"PK\x03\x04" not in encrypted and b'"records"' not in encrypted  # nothing in clear
    assert len(encrypted) == job.archive_size

    plain = tmp_path / f"{job.base_name}.zip"
    age_decrypt(key, encrypted, plain)
    verify_archive(plain, "github", "--csv")
    # The owner's email says how to decrypt.
    assert "age -d -i your-key-file" in mail.outbox[-1].body


def test_the_site_form_takes_a_public_key_and_refuses_anything_else(alice, client, age_key):
    client.force_login(alice)
    page = client.get("/exports/new/?platform=github")
    assert 'name="age_recipient"' in page.content.decode()
    bad = client.post("/exports/new/", {"platform": "github", "formats": ["json"], "age_recipient": "my secret"})
    assert bad.status_code == 400
    assert "not an age public key" in bad.content.decode()
    good = client.post("/exports/new/", {"platform": "github", "formats": ["json"], "age_recipient": age_key[1]})
    assert good.status_code == 302
    assert ExportJob.objects.get(owner=alice).options["age_recipient"] == age_key[1]


def test_an_ssh_public_key_is_a_recipient_too(alice, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    public = (tmp_path / "id.pub").read_text().strip()
    job = jobs.export_job_create(owner=alice, platform_slug="github", options={"age_recipient": public}, enqueue=False)
    assert job.options["age_recipient"] == public


def test_a_failure_while_writing_leaves_no_cut_short_archive(alice, age_key, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    job = jobs.export_job_create(
        owner=alice, platform_slug="github", include_media=True, options={"age_recipient": age_key[1]}, enqueue=False
    )
    # A file the job counts as downloaded whose bytes are gone from storage: reading it fails
    # halfway through the encrypted archive.
    MediaFile.objects.create(
        job=job, media_id="m1", source_url="https://example.com/m1.zip", kind="file", ext="zip", status="done",
        stored_name="media/gone/m1", sha256="0" * 64, size=10, record_ids=[],
    )  # fmt: skip
    with pytest.raises(FileNotFoundError):
        archive_build(job)
    assert not (tmp_path / archive_name_for(job)).exists()


def age_decrypt_with_passphrase(key_file, encrypted_file, out, passphrase: str) -> bytes:
    """Debian's age, asking for the passphrase on a terminal as it does for a person."""
    import os
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover — the child becomes age
        os.execvp("age", ["age", "-d", "-i", str(key_file), "-o", str(out), str(encrypted_file)])
    said, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 1024)
        except OSError:
            break
        if not data:
            break
        said += data
        if b"passphrase" in said.lower() and not answered:
            os.write(fd, passphrase.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    return said


def test_an_export_encrypted_with_a_passphrase_opens_with_its_key_file_and_the_passphrase(
    alice, bob, api_as, client, sandbox, tmp_path
):
    passphrase = "correct horse battery staple"
    api = api_as(alice)
    created = api.post("/api/v1/exports", {"platform": "github", "age_passphrase": passphrase})
    assert created.status_code == 201, created.content
    job = pipeline.run_inline(ExportJob.objects.get(id=created.json()["id"]))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    # The passphrase is kept nowhere: only a new public key and the key file it protects.
    row = json.dumps(list(ExportJob.objects.filter(id=job.id).values()), default=str)
    assert passphrase not in row and job.options["age_recipient"].startswith("age1")

    archive = tmp_path / f"{job.base_name}.zip.age"
    archive.write_bytes(b"".join(api.get(f"/api/v1/exports/{job.id}/archive").streaming_content))
    key = api.get(f"/api/v1/exports/{job.id}/key")
    assert key.status_code == 200 and key.content.startswith(b"age-encryption.org/v1\n-> scrypt ")
    key_file = tmp_path / f"{job.base_name}.key.age"
    key_file.write_bytes(key.content)

    plain = tmp_path / f"{job.base_name}.zip"
    age_decrypt_with_passphrase(key_file, archive, plain, passphrase)
    verify_archive(plain, "github")

    client.force_login(alice)
    page = client.get(job.get_absolute_url()).content.decode()
    assert f"/exports/{job.id}/key" in page and "age asks for the passphrase" in page
    assert client.get(f"/exports/{job.id}/key").content == key.content
    client.force_login(bob)
    assert client.get(f"/exports/{job.id}/key").status_code == 404
    assert api_as(bob).get(f"/api/v1/exports/{job.id}/key").status_code == 404


def test_a_short_passphrase_or_both_a_key_and_a_passphrase_are_refused(alice, api_as, age_key):
    api = api_as(alice)
    short = api.post("/api/v1/exports", {"platform": "github", "age_passphrase": "short"})
    assert short.status_code == 400 and short.json()["field"] == "age_passphrase"
    both = api.post(
        "/api/v1/exports", {"platform": "github", "age_passphrase": "long enough", "age_recipient": age_key[1]}
    )
    assert both.status_code == 400 and "not both" in both.json()["detail"]


def test_an_everything_export_encrypts_its_one_archive_and_its_parts_carry_no_key(alice, sandbox, age_key, tmp_path):
    key, public = age_key
    job = jobs.export_job_create(owner=alice, platform_slug="all", options={"age_recipient": public}, enqueue=False)
    assert job.options["age_recipient"] == public
    assert all("age_recipient" not in part.options for part in job.parts.all())
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.archive_name.endswith(".zip.age")
    plain = tmp_path / "all.zip"
    with default_storage.open(job.archive_name, "rb") as f:
        age_decrypt(key, f.read(), plain)
    verify_archive(plain, "all")
