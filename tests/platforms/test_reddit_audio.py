"""v.redd.it videos and their separate sound track: fetched, merged with ffmpeg, or explained."""

import json
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from django.core.files.storage import default_storage

from exports import jobs, links, pipeline
from exports.download import Downloader
from exports.models import ExportJob, MediaFile
from platforms.reddit import media as reddit_media
from platforms.reddit.sandbox import AUDIO_NAMES, aac_audio
from platforms.registry import get_extractor
from platforms.sandbox import media
from platforms.sandbox.core import SbRequest
from tests.conftest import verify_archive

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None,
    reason="Debian's ffmpeg is not installed (apt-get install ffmpeg): the audio merge cannot be tested",
)


@pytest.fixture
def reddit():
    return get_extractor("reddit")


@pytest.fixture
def reddit_sandbox(sandbox):
    return sandbox.sandbox.platforms["reddit"]


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "storage"},
        },
    }
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def without_ffmpeg(monkeypatch):
    """Neither FFmpeg's libraries in the process (PyAV) nor Debian's ffmpeg program."""
    monkeypatch.setattr(reddit_media, "pyav", lambda: None)
    real_which = shutil.which
    monkeypatch.setattr(
        reddit_media.shutil, "which", lambda name, *a, **k: None if name == "ffmpeg" else real_which(name)
    )


def post_id_with(reddit_sandbox, track):
    """A post id whose sandbox video has the given audio file (None: no sound at all)."""
    return next(f"p{i}" for i in range(1000) if reddit_sandbox.audio_track(f"vp{i}") == track)


@pytest.fixture
def download(reddit, reddit_sandbox, sandbox, storage, make_user, platforms):
    """Download the sandbox's video of a post, as an export does, with Reddit's finish step."""
    job = ExportJob.objects.create(owner=make_user("vera"), platform=platforms["reddit"], include_media=True)

    def run(post_id, **extra):
        req = SbRequest("GET", "/", {}, {}, b"", base_url=f"{sandbox.base_url}/reddit", user="vera")
        record = {"id": post_id, "name": f"t3_{post_id}", "kind": "t3", "title": "a video", "created_utc": 1.7e9}
        record.update(reddit_sandbox.video_post(req, post_id))
        (item,) = reddit.media_for(record)
        media_file = MediaFile.objects.create(
            job=job,
            media_id=item.media_id,
            source_url=item.url,
            kind=item.kind,
            ext=item.ext,
            record_ids=[item.record_id],
            extra={**item.extra, **extra},
        )
        downloader = Downloader(
            platform=job.platform, owner_id=job.owner_id, attempts=3, sleep=lambda s: None, finish=reddit.finish_media
        )
        downloader.download_and_save(media_file)
        media_file.refresh_from_db()
        return media_file

    return run


def stream_types(path_or_file) -> list[str]:
    with av.open(path_or_file) as container:
        return sorted(s.type for s in container.streams)


def stored(media_file) -> bytes:
    with default_storage.open(media_file.stored_name) as f:
        return f.read()


def served_video(post_id) -> bytes:
    """The silent video the media host served for the post, from the sandbox's cache: encoding it
    again may not give the same bytes."""
    return media.render(f"rd-v{post_id}-DASH_480.mp4", {"source": "fallback"})[0]


def audio_requests(sandbox) -> dict[str, int]:
    return {p: n for p, n in sandbox.sandbox.stats()["requests"].items() if "DASH_AUDIO" in p or "DASH_audio" in p}


def leftovers(storage) -> list[Path]:
    return [p for p in (storage / "partial").rglob("*") if p.is_file() or p.is_dir() and any(p.iterdir())]


# --- where the sound is -------------------------------------------------------------------------
def test_the_audio_is_in_the_videos_folder_under_each_of_reddits_names():
    assert reddit_media.audio_urls("https://v.redd.it/5ph4906syw261/DASH_240.mp4?source=fallback") == [
        "https://v.redd.it/5ph4906syw261/DASH_AUDIO_128.mp4",
        "https://v.redd.it/5ph4906syw261/DASH_audio.mp4",
    ]


def test_a_url_without_a_dash_name_gives_no_audio_address():
    assert reddit_media.audio_urls("https://i.imgur.com/AbCd123.mp4") == []


def test_other_media_are_left_alone(tmp_path):
    def fetch(url, dest):
        raise AssertionError("nothing should be fetched")

    image = SimpleNamespace(kind="image", extra={"width": 10}, source_url="https://i.redd.it/a.jpg")
    gif_video = SimpleNamespace(kind="video", extra={"width": 10}, source_url="https://i.redd.it/a.mp4")
    assert reddit_media.merge_audio(image, tmp_path / "x", fetch) is None
    assert reddit_media.merge_audio(gif_video, tmp_path / "x", fetch) is None


# --- the sandbox's audio files ------------------------------------------------------------------
def test_the_sandbox_serves_an_aac_track_alone_in_an_mp4(tmp_path):
    path = tmp_path / "audio.mp4"
    path.write_bytes(aac_audio("rd-vx"))
    with av.open(str(path)) as container:
        assert [(s.type, s.codec_context.name) for s in container.streams] == [("audio", "aac")]


def test_a_sandbox_video_has_one_audio_file_or_none(reddit_sandbox, sandbox):
    import requests

    for track in (*AUDIO_NAMES, None):
        post_id = post_id_with(reddit_sandbox, track)
        statuses = {
            name: requests.get(f"{sandbox.base_url}/reddit/media/rd-v{post_id}-{name}", timeout=10).status_code
            for name in AUDIO_NAMES
        }
        assert statuses == {name: 200 if name == track else 404 for name in AUDIO_NAMES}


# --- the downloader's finish step ---------------------------------------------------------------
@needs_ffmpeg
def test_a_video_with_sound_is_stored_with_its_audio_track_merged(download, reddit_sandbox, sandbox, storage):
    post_id = post_id_with(reddit_sandbox, "DASH_AUDIO_128.mp4")
    media_file = download(post_id)
    assert media_file.status == "done", media_file.last_error
    assert media_file.extra["audio"] == "merged"
    assert media_file.extra["audio_source"] == f"{sandbox.base_url}/reddit/media/rd-v{post_id}-DASH_AUDIO_128.mp4"
    assert media_file.content_type == "video/mp4"
    merged = storage / "merged.mp4"
    merged.write_bytes(stored(media_file))
    assert stream_types(str(merged)) == ["audio", "video"]
    assert media_file.size == merged.stat().st_size
    assert leftovers(storage) == []


@needs_ffmpeg
def test_an_older_video_gets_its_sound_from_the_older_audio_name(download, reddit_sandbox, sandbox, storage):
    post_id = post_id_with(reddit_sandbox, "DASH_audio.mp4")
    media_file = download(post_id)
    assert media_file.extra["audio"] == "merged"
    assert media_file.extra["audio_source"].endswith(f"rd-v{post_id}-DASH_audio.mp4")
    assert audio_requests(sandbox) == {
        f"/reddit/media/rd-v{post_id}-DASH_AUDIO_128.mp4": 1,
        f"/reddit/media/rd-v{post_id}-DASH_audio.mp4": 1,
    }
    merged = storage / "merged.mp4"
    merged.write_bytes(stored(media_file))
    assert stream_types(str(merged)) == ["audio", "video"]


def test_without_ffmpeg_the_video_is_stored_silent_and_says_so(
    download, reddit_sandbox, sandbox, storage, without_ffmpeg
):
    post_id = post_id_with(reddit_sandbox, "DASH_AUDIO_128.mp4")
    media_file = download(post_id)
    assert media_file.status == "done", media_file.last_error
    assert stored(media_file) == served_video(post_id)
    assert media_file.extra["audio"] == "none"
    assert media_file.extra["audio_note"] == (
        "This video has no sound track: ffmpeg was not available to merge Reddit's separate audio stream."
    )
    assert media_file.extra["has_audio"] is True
    # Without a way to merge it, the sound is not downloaded at all.
    assert audio_requests(sandbox) == {}


def test_a_missing_audio_file_keeps_the_video_and_says_why(download, reddit_sandbox, monkeypatch, storage):
    # The fetches fail before any merge, so this runs with or without a real ffmpeg.
    monkeypatch.setattr(reddit_media.shutil, "which", lambda name, *a, **k: "/usr/bin/ffmpeg")
    post_id = post_id_with(reddit_sandbox, None)
    media_file = download(post_id, has_audio=True)  # the API said there is sound; the host has none
    assert media_file.status == "done", media_file.last_error
    assert stored(media_file) == served_video(post_id)
    assert media_file.extra["audio"] == "none"
    assert media_file.extra["audio_note"] == (
        "This video has no sound track: Reddit's separate audio stream could not be fetched "
        f"(rd-v{post_id}-DASH_AUDIO_128.mp4: the file is gone (404 Not Found); "
        f"rd-v{post_id}-DASH_audio.mp4: the file is gone (404 Not Found))."
    )
    assert leftovers(storage) == []


def test_a_post_without_sound_is_not_asked_for_its_audio(download, reddit_sandbox, sandbox):
    post_id = post_id_with(reddit_sandbox, None)
    media_file = download(post_id)
    assert media_file.extra["has_audio"] is False
    assert media_file.extra["audio"] == "none"
    assert media_file.extra["audio_note"] == "The post has no sound."
    assert audio_requests(sandbox) == {}


@needs_ffmpeg
def test_an_audio_file_ffmpeg_cannot_read_keeps_the_video(tmp_path):
    video = tmp_path / "video.part"
    video.write_bytes(media.video("rd-vbroken-DASH_480"))
    original = video.read_bytes()

    def fetch(url, dest):
        dest.write_bytes(b"\x00\x00\x00\x18ftypdash" + b"not really audio" * 64)

    media_file = SimpleNamespace(
        kind="video", extra={"has_audio": True}, source_url="https://v.redd.it/broken/DASH_480.mp4?source=fallback"
    )
    result = reddit_media.merge_audio(media_file, video, fetch)
    assert result["audio"] == "none"
    assert result["audio_note"].startswith(
        "This video has no sound track: ffmpeg could not merge Reddit's separate audio stream ("
    )
    assert video.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.part"]


# --- a whole export -----------------------------------------------------------------------------
def export_sidecars(job) -> dict[str, tuple[dict, list[str]]]:
    """Each v.redd.it video of the archive: its sidecar and the kinds of stream in the file."""
    path = links.archive_location(job)
    found = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("media/videos/reddit/") and not name.endswith(".meta.json"):
                sidecar = json.loads(archive.read(name + ".meta.json"))
                if "has_audio" in sidecar:
                    with archive.open(name) as member:
                        found[name] = (sidecar, stream_types(member))
    return found


def run_export(user, connect):
    connect(user, "reddit")
    job = jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_failed == 0
    verify_archive(links.archive_location(job), "reddit", "--media")
    return job


@needs_ffmpeg
def test_an_export_carries_each_videos_sound_and_says_so_in_its_sidecar(
    transactional_db, make_user, platforms, connect, sandbox
):
    videos = export_sidecars(run_export(make_user("remy"), connect))
    with_sound = {n: v for n, v in videos.items() if v[0]["has_audio"]}
    silent = {n: v for n, v in videos.items() if not v[0]["has_audio"]}
    assert with_sound and silent
    for sidecar, streams in with_sound.values():
        assert sidecar["audio"] == "merged"
        assert sidecar["audio_source"].rsplit("-", 1)[1] in AUDIO_NAMES
        assert streams == ["audio", "video"]
    for sidecar, streams in silent.values():
        assert (sidecar["audio"], sidecar["audio_note"]) == ("none", "The post has no sound.")
        assert streams == ["video"]


def test_an_export_without_ffmpeg_keeps_every_video_and_says_why_it_is_silent(
    transactional_db, make_user, platforms, connect, sandbox, without_ffmpeg
):
    videos = export_sidecars(run_export(make_user("sid"), connect))
    assert any(sidecar["has_audio"] for sidecar, _ in videos.values())
    for sidecar, streams in videos.values():
        assert sidecar["audio"] == "none"
        assert sidecar["audio_note"] == (reddit_media.NO_FFMPEG if sidecar["has_audio"] else reddit_media.NO_SOUND)
        assert streams == ["video"]
