import io
import json
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from exports import importing
from exports.importing import import_job_create, job_import
from exports.jobs import ExportRequestError
from exports.models import ExportJob, MediaFile
from exports.pipeline import run_inline as job_run_inline
from platforms import importer as platform_importer
from platforms import registry
from platforms.base import ExtractorError
from platforms.importer import ImportedMedia, archive_open
from tests.conftest import ROOT, seed_platforms, verify_archive, worker_env
from tests.fixtures.archives import (
    tar_gz_bytes,
    unaccounted,
    uploaded_job,
    x_archive_members,
    x_media_count,
    x_tweets,
    ytd,
    zip_bytes,
)

MB = 1024 * 1024


@pytest.fixture
def storage_dir(settings, tmp_path):
    """Storage of this test alone, so that what an import writes (and does not) can be listed."""
    root = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def empty_tmp(tmp_path, monkeypatch):
    """The process's temporary folder, which an import must leave empty."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def alice(make_user, platforms):
    return make_user("alice")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def refused_message(data: bytes) -> str:
    with pytest.raises(ExtractorError) as err:
        archive_open(io.BytesIO(data))
    return err.value.message


def with_info(info: zipfile.ZipInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data/tweets.js", ytd("tweets", []))
        archive.writestr(info, data)
    return buffer.getvalue()


# --- an X archive, recorded --------------------------------------------------------------------
def test_an_x_archive_becomes_records_and_stored_media(alice, storage_dir, empty_tmp):
    data = zip_bytes(x_archive_members())
    job = uploaded_job(alice, "twitter", data)
    job_import(job)
    job.refresh_from_db()

    assert job.records_count == len(x_tweets()) + 1  # and the profile, with its avatar
    assert job.skipped_records == []
    images, videos = x_media_count()
    files = list(job.media_files.all())
    assert (sum(f.kind == "image" for f in files), sum(f.kind == "video" for f in files)) == (images, videos)
    assert {f.status for f in files} == {MediaFile.Status.DONE}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for f in files:
            stored = default_storage.open(f.stored_name).read()
            assert stored == archive.read(f.extra["archive_member"])
            assert f.stored_name == f"media/{alice.pk}/{f.sha256[:2]}/{f.sha256}"
            assert f.size == len(stored)
    assert {f.content_type for f in files} == {"image/jpeg", "video/mp4"}
    assert job.account["username"] == "andreruffert"
    assert "archive covers 2015-03-30 to 2022-11-03" in job.notes
    # Only content-addressed media remain: the upload is deleted, nothing was unpacked anywhere.
    assert all(name.startswith(f"media/{alice.pk}/") for name in files_under(storage_dir))
    assert files_under(empty_tmp) == []


def test_media_the_archive_lacks_are_left_to_the_downloader(alice, storage_dir):
    job = uploaded_job(alice, "twitter", zip_bytes(x_archive_members(media=False)))
    job_import(job)
    files = list(job.media_files.all())
    assert files and {f.status for f in files} == {MediaFile.Status.PENDING}
    assert all(f.source_url.startswith(("https://pbs.twimg.com/", "https://video.twimg.com/")) for f in files)


def test_a_file_that_is_not_the_image_its_tweet_says_is_failed_with_the_reason(alice, storage_dir):
    members = x_archive_members()
    photo = next(n for n in members if "tweets_media" in n and n.endswith(".jpg"))
    members[photo] = b"<!doctype html><html><body>not a photo</body></html>"
    job = uploaded_job(alice, "twitter", zip_bytes(members))
    job_import(job)
    failed = job.media_files.get(status=MediaFile.Status.FAILED)
    assert failed.extra["archive_member"] == photo
    assert "HTML" in failed.last_error
    assert job.media_files.exclude(status=MediaFile.Status.DONE).count() == 1


def test_the_same_file_reached_from_two_records_is_one_media_file_with_both_ids(alice, storage_dir):
    tweet = next(t for t in x_tweets() if (t["tweet"].get("extended_entities") or {}).get("media"))
    twin = {"tweet": {**tweet["tweet"], "id_str": "1", "id": "1"}}
    job = uploaded_job(alice, "twitter", zip_bytes({"data/tweets.js": ytd("tweets", [tweet, twin])}))
    job_import(job)
    first = job.media_files.order_by("id").first()
    assert first.record_ids == [tweet["tweet"]["id_str"], "1"]
    assert job.media_files.count() == len(tweet["tweet"]["extended_entities"]["media"]) * 2


def test_media_neither_in_the_archive_nor_at_a_url_are_failed_with_that_reason(alice, storage_dir):
    recorder = importing.ImportRecorder(
        uploaded_job(alice, "twitter", zip_bytes({"data/tweets.js": ytd("tweets", [])})),
        archive_open(io.BytesIO(zip_bytes({"data/tweets.js": "[]"}))),
        registry.get_importer("twitter"),
    )
    recorder.add_media(ImportedMedia(member="data/tweets_media/gone.jpg", media_id="m1", record_id="r1"))
    recorder.add_media(ImportedMedia(member=None, url="https://pbs.twimg.com/media/a.jpg", media_id="m2"))
    recorder.flush()
    rows = {m.media_id: m for m in recorder.job.media_files.all()}
    assert (rows["m1"].status, rows["m1"].last_error) == (
        "failed",
        "data/tweets_media/gone.jpg: not in the archive and no URL to fetch it from",
    )
    assert (rows["m2"].status, rows["m2"].source_url) == ("pending", "https://pbs.twimg.com/media/a.jpg")


def test_a_record_that_cannot_be_read_is_skipped_and_listed(alice, storage_dir):
    tweets = x_tweets()[:2]
    broken = {"tweet": {**tweets[0]["tweet"], "id_str": "not-a-number", "id": "x"}}
    job = uploaded_job(alice, "twitter", zip_bytes({"data/tweets.js": ytd("tweets", [broken, *tweets])}))
    job_import(job)
    job.refresh_from_db()
    assert job.records_count == 2
    assert job.skipped_records == [
        {"resource": "tweets", "record_id": "not-a-number", "reason": job.skipped_records[0]["reason"]}
    ]
    assert "not a number" in job.skipped_records[0]["reason"]


def test_an_import_runs_to_a_verified_export_archive(alice, storage_dir, connect):
    connect(alice, "twitter")  # see test_an_import_needs_no_connected_account
    job = job_run_inline(uploaded_job(alice, "twitter", zip_bytes(x_archive_members())))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    images, videos = x_media_count()
    assert (job.media_done, job.media_failed) == (images + videos, 0)
    output = verify_archive(storage_dir / job.archive_name, "twitter", "--media", "--csv")
    assert f"'images': {images}, 'videos': {videos}" in output


def every_platform():
    from tests.platforms import (
        test_facebook_importer,
        test_github_importer,
        test_instagram_importer,
        test_reddit_importer,
        test_youtube_importer,
    )

    return [
        ("twitter", lambda: zip_bytes(x_archive_members())),
        ("facebook", lambda: zip_bytes(test_facebook_importer.sample_members(posters=False))),
        ("instagram", lambda: zip_bytes(test_instagram_importer.members())),
        ("youtube", lambda: zip_bytes(test_youtube_importer.members(public=False))),
        ("reddit", lambda: zip_bytes(test_reddit_importer.members(links=False))),
        ("github", lambda: test_github_importer.tar_gz(test_github_importer.members(all_git=True))),
        # Each platform's other content files, in the newer layouts.
        ("twitter", lambda: zip_bytes(x_archive_with_everything())),
        ("facebook", lambda: zip_bytes(test_facebook_importer.activity_members())),
        ("instagram", lambda: zip_bytes(test_instagram_importer.activity_members())),
        ("youtube", lambda: zip_bytes(test_youtube_importer.everything())),
        ("reddit", lambda: zip_bytes(test_reddit_importer.everything())),
        ("github", lambda: test_github_importer.tar_gz(test_github_importer.everything())),
    ]


def platform_ids() -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for slug, _ in every_platform():
        seen[slug] = seen.get(slug, 0) + 1
        ids.append(slug if seen[slug] == 1 else f"{slug}-everything")
    return ids


@pytest.mark.parametrize("slug, build", every_platform(), ids=platform_ids())
def test_every_platform_s_archive_becomes_a_verified_export_archive(alice, storage_dir, connect, slug, build):
    connect(alice, slug)  # see test_an_import_needs_no_connected_account
    data = build()
    job = job_run_inline(uploaded_job(alice, slug, data))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.records_count > 0 and job.media_files.filter(status="pending").count() == 0
    flags = ["--csv", *(["--media"] if job.media_done else [])]
    verify_archive(storage_dir / job.archive_name, slug, *flags)
    with zipfile.ZipFile(storage_dir / job.archive_name) as archive:
        document = json.loads(archive.read(f"{job.base_name}.json"))
        failures = archive.read("failures.csv").decode()
    assert sum(len(r) for r in document["records"].values()) == job.records_count
    assert len(document["media"]) == job.media_done and len(document["failures"]) == job.media_failed
    assert document["notes"] == job.notes
    original = archive_open(io.BytesIO(data))
    # Every file the archive holds is kept byte for byte; every absent one is named in failures.csv.
    for media in job.media_files.all():
        if media.status == MediaFile.Status.DONE and media.extra.get("archive_member"):
            stored = default_storage.open(media.stored_name).read()
            assert stored == original.open(media.extra["archive_member"]).read()
        if media.status == MediaFile.Status.FAILED and not media.extra.get("archive_member"):
            assert media.extra.get("missing_from_archive") and media.extra["missing_from_archive"] in failures
    # Every other member is named in the notes: what is left are the data files the import read.
    folders = [m.extra["archive_folder"] for m in job.media_files.exclude(extra__archive_folder=None)]
    left = {n for n in unaccounted(job, original.namelist()) if not any(n.startswith(f) for f in folders)}
    assert all(n.endswith((".json", ".js", ".csv", ".html")) for n in left), left


def test_an_import_needs_no_connected_account(alice, storage_dir):
    job = job_run_inline(uploaded_job(alice, "twitter", zip_bytes(x_archive_members())))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error


# --- hostile archives --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, problem",
    [
        ("../evil.sh", "climbs out of its folder"),
        ("data/../../evil.sh", "climbs out of its folder"),
        ("/etc/cron.d/evil", "is an absolute path"),
        ("C:/Windows/evil.exe", "starts with a drive letter"),
        ("data\\..\\evil.sh", "contains a backslash"),
    ],
)
def test_unsafe_member_names_are_refused(name, problem):
    message = refused_message(with_info(zipfile.ZipInfo(name)))
    assert message.startswith("The archive was refused: ")
    assert repr(name) in message and problem in message


def test_a_nul_in_a_member_name_is_refused():
    # Python's own readers cut a name at NUL; the check still refuses it should another reader not.
    assert platform_importer.check_member_name("data/a\x00.js") == "contains a NUL character"


def test_a_symbolic_link_is_refused():
    link = zipfile.ZipInfo("data/tweets_media/1-a.jpg")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert "is a symbolic link" in refused_message(with_info(link, b"/etc/passwd"))


def test_an_encrypted_member_is_refused():
    data = bytearray(with_info(zipfile.ZipInfo("data/account.js")))
    # zipfile writes no encrypted members: set the flag in the central directory entry.
    entry = data.rindex(b"PK\x01\x02")
    data[entry + 8] |= 0x1
    assert "data/account.js is encrypted" in refused_message(bytes(data))


def test_a_truncated_archive_is_refused_as_damaged():
    data = zip_bytes(x_archive_members())
    for cut in (data[: len(data) // 2], data[:-10]):
        assert refused_message(cut).startswith("The archive is damaged: it is not a complete ZIP file")


def test_a_file_that_is_no_archive_at_all_is_refused():
    assert refused_message(b"<html>hello</html>") == "The archive is damaged: it is neither a ZIP nor a tar.gz file."


def test_a_member_that_expands_hugely_is_a_zip_bomb(settings):
    bomb = zip_bytes({"data/tweets.js": "[]", "data/tweets_media/1-a.jpg": b"\0" * (4 * MB)})
    assert "a zip bomb" in refused_message(bomb)
    assert "data/tweets_media/1-a.jpg unpacks to 4.0 MB" in refused_message(bomb)
    # The ratio is a setting: allowing more lets the same member through.
    settings.STAREXPORT = {**settings.STAREXPORT, "IMPORT_MAX_RATIO": 10_000}
    archive_open(io.BytesIO(bomb))


def test_many_small_members_that_expand_hugely_together_are_a_zip_bomb(settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "IMPORT_MAX_RATIO": 20}
    members = {f"data/tweets_media/{n}-a.jpg": b"\0" * (MB - 1) for n in range(3)}
    message = refused_message(zip_bytes({"data/tweets.js": "[]", **members}))
    assert message.startswith("The archive was refused: it unpacks to 3.0 MB from")
    assert "more than 20:1 — a zip bomb" in message


def test_an_archive_too_large_unpacked_or_with_too_many_files_is_refused(settings):
    data = zip_bytes({"data/tweets.js": "[]", "a.txt": "a" * 2000, "b.txt": "b"})
    settings.STAREXPORT = {**settings.STAREXPORT, "IMPORT_MAX_BYTES": 1000}
    assert "more than the 1000 bytes allowed (STAREXPORT_IMPORT_MAX_BYTES)" in refused_message(data)
    settings.STAREXPORT = {**settings.STAREXPORT, "IMPORT_MAX_BYTES": 10**9, "IMPORT_MAX_MEMBERS": 2}
    assert "it has 3 files, more than the 2 allowed" in refused_message(data)


def test_limits_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STAREXPORT_IMPORT_MAX_MEMBERS", "1")
    assert platform_importer.limit("IMPORT_MAX_MEMBERS") == 1
    assert "more than the 1 allowed" in refused_message(zip_bytes({"a": "1", "b": "2"}))


def test_a_data_file_too_large_to_read_fails_the_import_and_its_upload_is_deleted(alice, storage_dir, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "IMPORT_MAX_JSON_BYTES": 100}
    # tweets.js is read item by item; the other data files are read whole, within the limit.
    members = x_archive_members(media=False)
    members["data/tweets.js"] = ytd("tweets", [])
    job = uploaded_job(alice, "twitter", zip_bytes(members))
    with pytest.raises(ExtractorError, match="one data file may be at most 100 bytes"):
        job_import(job)
    assert files_under(storage_dir) == []


def test_a_refused_upload_is_deleted_and_nothing_is_written(alice, storage_dir, empty_tmp):
    members = x_archive_members()
    members["data/tweets_media/../../../escape.jpg"] = b"x"
    job = uploaded_job(alice, "twitter", zip_bytes(members))
    with pytest.raises(ExtractorError, match="climbs out of its folder"):
        job_import(job)
    assert files_under(storage_dir) == []
    assert files_under(empty_tmp) == []
    assert job.records.count() == 0 and job.media_files.count() == 0


def test_an_archive_of_another_platform_is_refused_by_name(alice, storage_dir):
    x = zip_bytes(x_archive_members(media=False))
    job = uploaded_job(alice, "facebook", x)
    with pytest.raises(platform_importer.WrongPlatform, match="^This looks like an X archive, not a Facebook one.$"):
        job_import(job)
    assert files_under(storage_dir) == []

    facebook = zip_bytes({"posts/your_posts_1.json": "[]"})
    with pytest.raises(platform_importer.WrongPlatform, match="^This looks like a Facebook archive, not an X one.$"):
        platform_importer.archive_inspect(io.BytesIO(facebook), platform_slug="twitter")
    with pytest.raises(
        platform_importer.WrongPlatform, match="does not look like an X archive: it has no data/tweets.js"
    ):
        platform_importer.archive_inspect(io.BytesIO(zip_bytes({"notes.txt": "hi"})), platform_slug="twitter")


def tar_gz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def test_a_tar_gz_is_read_and_its_links_and_escapes_are_refused():
    plain = tarfile.TarInfo("repositories_000001.json")
    reader = archive_open(io.BytesIO(tar_gz((plain, b"[]"))))
    assert reader.kind == "tar" and reader.read("repositories_000001.json") == b"[]"

    link = tarfile.TarInfo("schema.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    assert "schema.json is a link" in refused_message(tar_gz((plain, b"[]"), (link, b"")))
    escape = tarfile.TarInfo("../../evil.sh")
    assert "climbs out of its folder" in refused_message(tar_gz((escape, b"x")))
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    assert "dev is not a plain file" in refused_message(tar_gz((device, b"")))


def test_a_tar_gz_bomb_is_refused_before_its_body_is_unpacked():
    message = refused_message(tar_gz((tarfile.TarInfo("issues_000001.json"), b" " * (8 * MB))))
    assert "issues_000001.json would unpack to 8.0 MB" in message and "a zip bomb" in message


def test_a_truncated_tar_gz_is_refused_as_damaged():
    data = tar_gz((tarfile.TarInfo("users_000001.json"), b"[" + b"1," * 50_000 + b"1]"))
    assert refused_message(data[: len(data) // 2]).startswith("The archive is damaged: it is not a complete tar")


# --- creating an import ------------------------------------------------------------------------
def test_an_import_job_needs_no_connected_account_and_asks_for_json_csv_and_media(alice):
    job = import_job_create(owner=alice, platform_slug="twitter", upload_name="u", upload_size=1, enqueue=False)
    assert (job.source, job.formats, job.include_media) == ("archive", ["json", "csv"], True)


def test_an_import_counts_against_the_running_jobs_limit(alice, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "MAX_ACTIVE_JOBS_PER_USER": 1}
    import_job_create(owner=alice, platform_slug="twitter", upload_name="u", upload_size=1, enqueue=False)
    with pytest.raises(ExportRequestError, match="already have 1 exports running"):
        import_job_create(owner=alice, platform_slug="twitter", upload_name="u", upload_size=1, enqueue=False)


def test_an_import_from_an_unknown_platform_is_refused(alice):
    with pytest.raises(ExportRequestError, match="Unknown platform 'myspace'"):
        import_job_create(owner=alice, platform_slug="myspace", upload_name="u", upload_size=1, enqueue=False)


# --- the command -------------------------------------------------------------------------------
@pytest.fixture
def command(transactional_db, tmp_path, settings):
    """Runs `manage.py import_archive` as its own process against the test database."""
    seed_platforms()
    media_root, tmp = tmp_path / "storage", tmp_path / "tmp"
    tmp.mkdir()
    env = worker_env("")
    env.update(MEDIA_ROOT=str(media_root), TMPDIR=str(tmp), EMAIL_URL="", AWS_STORAGE_BUCKET_NAME="")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_archive", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    run.media_root, run.tmp = media_root, tmp
    return run


@pytest.fixture
def bob(command, make_user, connect):
    user = make_user("bob")
    connect(user, "twitter")  # see test_an_import_needs_no_connected_account
    return user


def test_the_command_turns_an_x_archive_into_a_verified_export_archive(command, bob, tmp_path):
    path = tmp_path / "twitter-2024-05-30.zip"
    path.write_bytes(zip_bytes(x_archive_members()))
    result = command("--user", "bob", "--platform", "twitter", str(path))
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip().splitlines()[-1])
    assert archive.is_file() and archive.is_relative_to(command.media_root)
    assert "Done: 57 records" in result.stderr

    images, videos = x_media_count()
    output = verify_archive(archive, "twitter", "--media", "--csv")
    assert f"media {{'images': {images}, 'videos': {videos}, 'files': 0}}" in output
    with zipfile.ZipFile(archive) as z:
        document = json.loads(z.read(next(n for n in z.namelist() if n.endswith(".json") and "/" not in n)))
    assert [t["id"] for t in document["records"]["tweets"]] == [t["tweet"]["id_str"] for t in x_tweets()]
    assert len(document["media"]) == images + videos and document["failures"] == []
    assert document["account"]["username"] == "andreruffert"
    assert files_under(command.tmp) == []
    assert not list(command.media_root.glob("uploads/**/*.zip"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "nobody", "--platform", "twitter", "{x}"], "No user named 'nobody'."),
        (["--user", "bob", "--platform", "myspace", "{x}"], "Unknown platform 'myspace'"),
        (["--user", "bob", "--platform", "twitter", "{missing}"], "No such file:"),
        (["--user", "bob", "{x}"], "the following arguments are required: --platform"),
        (["--user", "bob", "--platform", "facebook", "{x}"], "This looks like an X archive, not a Facebook one."),
    ],
)
def test_bad_arguments_exit_2(command, bob, tmp_path, args, message):
    x = tmp_path / "x.zip"
    x.write_bytes(zip_bytes({"data/tweets.js": ytd("tweets", [])}))
    args = [a.format(x=x, missing=tmp_path / "missing.zip") for a in args]
    result = command(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "members, message",
    [
        ({"data/tweets.js": "[]", "../../etc/evil": "x"}, "climbs out of its folder"),
        ({"data/tweets.js": "[]", "data/tweets_media/1-a.jpg": b"\0" * (4 * MB)}, "a zip bomb"),
        (None, "The archive is damaged"),
    ],
)
def test_a_refused_archive_exits_1_with_the_reason_and_is_not_stored(command, bob, tmp_path, members, message):
    path = tmp_path / "x.zip"
    data = zip_bytes(members) if members else zip_bytes(x_archive_members(media=False))[:-40]
    path.write_bytes(data)
    result = command("--user", "bob", "--platform", "twitter", str(path))
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert files_under(command.media_root) == [] and files_under(command.tmp) == []
    assert not ExportJob.objects.exists()


def x_archive_with_everything() -> dict:
    from platforms.sandbox.media import image

    members = x_archive_members()
    members["data/like.js"] = ytd("like", [{"like": {"tweetId": "111", "fullText": "Liked this", "expandedUrl": "u"}}])
    members["data/direct-messages.js"] = ytd(
        "direct_messages",
        [
            {
                "dmConversation": {
                    "conversationId": "1-2",
                    "messages": [
                        {
                            "messageCreate": {
                                "id": "900",
                                "senderId": "1",
                                "recipientId": "2",
                                "text": "hi",
                                "mediaUrls": ["https://ton.twitter.com/dm/900/1/photo.jpg"],
                                "createdAt": "2022-01-01T00:00:00.000Z",
                            }
                        }
                    ],
                }
            }
        ],
    )
    members["data/direct_messages_media/900-photo.jpg"] = image("dm")
    members["data/ip-audit.js"] = ytd("ip_audit", [{"ipAudit": {"loginIp": "10.0.0.1"}}])
    members["data/tweets_media/1-orphan.jpg"] = image("orphan")
    return members


def test_an_import_accounts_for_every_member_of_the_archive(alice, storage_dir):
    members = x_archive_with_everything()
    job = uploaded_job(alice, "twitter", zip_bytes(members))
    job_import(job)
    job.refresh_from_db()
    resources = Counter(job.records.values_list("resource", flat=True))
    assert resources == {"tweets": len(x_tweets()), "profile": 1, "likes": 1, "direct_messages": 1}
    dm = job.media_files.get(media_id="dm_900_0")
    assert (
        dm.status == MediaFile.Status.DONE and dm.extra["archive_member"] == "data/direct_messages_media/900-photo.jpg"
    )
    assert "data/ip-audit.js: sign-in and device records, not content" in job.notes
    assert "data/tweets_media/1-orphan.jpg: a file no data file of the archive refers to" in job.notes
    # Every member is read, used by a record, or named in a note with its reason.
    used = set(job.media_files.exclude(extra__archive_member=None).values_list("extra__archive_member", flat=True))
    data = {n for n in members if n.endswith(".js")}
    named = {n for n in members if any(note.startswith(f"{n}: ") for note in job.notes)}
    assert used | data | named == set(members)


def test_messages_and_history_can_be_left_out(alice, storage_dir):
    job = uploaded_job(alice, "twitter", zip_bytes(x_archive_with_everything()), skip_sensitive=True)
    job_import(job)
    job.refresh_from_db()
    assert not job.records.filter(resource="direct_messages").exists()
    assert not job.media_files.filter(media_id="dm_900_0").exists()
    assert "data/direct-messages.js: left out, as asked (messages and history)" in job.notes
    assert "data/direct_messages_media/900-photo.jpg: left out, as asked (messages and history)" in job.notes


def split_takeout() -> list[tuple[str, bytes]]:
    """A Takeout in three parts: the data in a ZIP, the videos in a second ZIP and a .tgz."""
    from tests.platforms.test_youtube_importer import members

    whole = members(public=False)
    data = {k: v for k, v in whole.items() if "/videos/" not in k}
    videos = sorted(k for k in whole if "/videos/" in k)
    return [
        ("takeout-20250102T030405Z-001.zip", zip_bytes(data)),
        ("takeout-20250102T030405Z-002.zip", zip_bytes({k: whole[k] for k in videos[:2]})),
        ("takeout-20250102T030405Z-003.tgz", tar_gz_bytes({k: whole[k] for k in videos[2:]})),
    ]


def test_a_takeout_split_into_parts_imports_as_one(alice, storage_dir):
    (first, data), *others = split_takeout()
    job = uploaded_job(alice, "youtube", data, first, parts=others)
    job_import(job)
    job.refresh_from_db()
    videos = {m.media_id: m for m in job.media_files.filter(kind="video")}
    assert {k: m.status for k, m in videos.items()} == {
        "abc123def45": "done",
        "xyz987uvw65": "done",
        "dup00000001": "done",
        "dup00000002": "done",
        "gone0000001": "failed",
        next(k for k in videos if k.startswith("takeout_")): "done",
    }
    assert {m.extra["archive_member"].rsplit("/", 1)[-1] for m in videos.values() if m.status == "done"} == {
        "Demo_ part 1.mp4",
        "A very long title about cooking pasta at.mp4",
        "Same name.mp4",
        "Same name(1).mp4",
        "Live stream 2024.webm",
    }
    assert job.records.filter(resource="videos").count() == 6
    # Every part is deleted once read.
    assert [n for n in files_under(storage_dir) if n.startswith("uploads/")] == []


def test_the_command_imports_every_part_of_a_split_takeout(command, bob, tmp_path):
    paths = []
    for name, data in split_takeout():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    result = command("--user", "bob", "--platform", "youtube", *paths)
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip().splitlines()[-1])
    output = verify_archive(archive, "youtube", "--media", "--csv")
    assert "'videos': 5" in output
    with zipfile.ZipFile(archive) as z:
        failures = z.read("failures.csv").decode().splitlines()
    assert failures[1:] == [
        "gone0000001,gone0000001,,Takeout/YouTube and YouTube Music/videos/Not in this part.mp4: "
        "not in the archive and no URL to fetch it from"
    ]


def test_the_import_page_offers_to_leave_out_messages_and_history_and_the_upload_keeps_the_choice(
    alice, client, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    client.force_login(alice)
    page = client.get("/exports/import/").content.decode()
    assert 'name="skip_sensitive"' in page and "Leave out messages and history" in page
    jobs = []
    for choice in (True, False):
        data = zip_bytes(x_archive_members(media=False))
        body = json.dumps({"platform": "twitter", "filename": "twitter.zip", "size": len(data)})
        created = client.post("/exports/import/uploads", body, content_type="application/json").json()
        put = client.put(
            f"/exports/import/uploads/{created['id']}?offset=0", data, content_type="application/octet-stream"
        )
        assert put.status_code == 200
        finished = client.post(
            f"/exports/import/uploads/{created['id']}/finish",
            json.dumps({"skip_sensitive": choice}),
            content_type="application/json",
        )
        assert finished.status_code == 200, finished.content
        jobs.append(ExportJob.objects.get(id=finished.json()["job"]))
    assert [j.options.get("skip_sensitive", False) for j in jobs] == [True, False]


def test_a_file_of_the_archive_is_read_once_on_its_way_into_storage(alice, storage_dir, tmp_path):
    import hashlib

    from exports.writer import MediaRefused, media_verify_and_store
    from platforms.models import Platform
    from platforms.sandbox.media import image

    photo = image("read-once")
    opened = []

    def member(data: bytes):
        def open_bytes():
            opened.append(1)
            return io.BytesIO(data)

        return open_bytes

    spool = tmp_path / "spool"
    check = {"kind": "image", "ext": "jpg", "platform": Platform.objects.get(slug="twitter"), "owner_id": alice.pk}
    stored = media_verify_and_store(member(photo), origin="the archive holds", spool_dir=spool, **check)
    assert len(opened) == 1
    assert stored.sha256 == hashlib.sha256(photo).hexdigest() and stored.size == len(photo)
    with default_storage.open(stored.stored_name) as f:
        assert f.read() == photo
    # The same bytes again: stored once; a web page named .jpg: refused. Nothing stays behind.
    assert media_verify_and_store(member(photo), origin="", spool_dir=spool, **check).stored_name == stored.stored_name
    with pytest.raises(MediaRefused, match="a web page"):
        media_verify_and_store(member(b"<html>no</html>"), origin="the archive holds", spool_dir=spool, **check)
    assert list(spool.iterdir()) == []
    assert files_under(storage_dir) == [stored.stored_name]
