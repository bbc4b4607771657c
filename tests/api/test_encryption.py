"""Archives encrypted with age as they are written: Debian's `age` decrypts them, and the result
is a valid archive (verify_archive)."""

import subprocess

import pytest
from django.core import mail

from exports import jobs, pipeline
from exports.archive import archive_build, archive_name_for
from exports.models import ExportJob, MediaFile
from tests.conftest import verify_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def age_key(tmp_path):
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return key, public


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
