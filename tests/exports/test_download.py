"""The downloader against the live sandbox: real HTTP, real faults, real address checks."""

import hashlib
from datetime import timedelta

import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone

from exports.claims import leases_renew, media_claim_many
from exports.download import Downloader
from exports.models import ExportJob, MediaFile
from platforms.base import DownloadFailed
from platforms.mediatypes import sniff
from platforms.sandbox import media


@pytest.fixture
def job(make_user, platforms):
    return ExportJob.objects.create(owner=make_user("dora"), platform=platforms["reddit"], include_media=True)


@pytest.fixture
def fetch(job, sandbox, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "storage"},
        },
    }
    settings.VAR_DIR = tmp_path

    def run(path_or_url: str, *, kind="image", media_id="m1", ext="jpg", platform=None, attempts=4):
        url = path_or_url if "://" in path_or_url else f"{sandbox.base_url}/reddit/media/{path_or_url}"
        media_file = MediaFile.objects.create(
            job=job, media_id=media_id, source_url=url, kind=kind, ext=ext, record_ids=["t3_x"]
        )
        downloader = Downloader(
            platform=platform or job.platform, owner_id=job.owner_id, attempts=attempts, sleep=lambda s: None
        )
        downloader.download_and_save(media_file)
        media_file.refresh_from_db()
        return media_file

    return run


def served(sandbox, name: str) -> tuple[int, int]:
    stats = sandbox.sandbox.stats()
    path = f"/reddit/media/{name}"
    return stats["requests"].get(path, 0), stats["bytes_by_path"].get(path, 0)


def test_a_file_is_streamed_verified_and_stored_under_its_checksum(fetch, job):
    expected, _, _ = media.render("cat.jpg", {})
    media_file = fetch("cat.jpg")
    assert media_file.status == "done", media_file.last_error
    assert media_file.sha256 == hashlib.sha256(expected).hexdigest()
    assert media_file.size == len(expected)
    assert media_file.content_type == "image/jpeg"
    assert media_file.stored_name == f"media/{job.owner_id}/{media_file.sha256[:2]}/{media_file.sha256}"
    with default_storage.open(media_file.stored_name) as f:
        assert f.read() == expected


def test_429_with_retry_after_is_waited_out(fetch, sandbox):
    sandbox.sandbox.config.fault_429_every = 2
    sandbox.sandbox.config.retry_after = 1
    first = fetch("one.jpg", media_id="a")
    second = fetch("two.jpg", media_id="b")  # the sandbox's 2nd request answers 429
    assert first.status == second.status == "done"
    assert served(sandbox, "two.jpg")[0] == 2


def test_a_burst_of_server_errors_is_retried(fetch, sandbox):
    sandbox.sandbox.config.fault_5xx_rate = 0.3
    files = [fetch(f"burst{i}.png", media_id=f"p{i}", ext="png", attempts=10) for i in range(6)]
    assert all(f.status == "done" for f in files), [f.last_error for f in files]
    assert sum(served(sandbox, f"burst{i}.png")[0] for i in range(6)) > 6


def test_a_cut_off_body_is_detected_and_resumed_with_range(fetch, sandbox):
    size = 3 * 1024 * 1024
    media_file = fetch(f"big.jpg?bytes={size}&cut=1")
    assert media_file.status == "done", media_file.last_error
    assert media_file.size == size
    requests_made, bytes_sent = served(sandbox, "big.jpg")
    # The second request asked only for the missing half: every byte crossed the wire once.
    assert requests_made == 2
    assert bytes_sent == size


def test_a_resumed_file_is_checksummed_over_all_its_bytes(fetch, tmp_path):
    size = 3 * 1024 * 1024
    media_file = fetch(f"whole.jpg?bytes={size}&cut=1")
    assert media_file.status == "done", media_file.last_error
    with default_storage.open(media_file.stored_name) as f:
        stored = f.read()
    # Hashed while streaming, both halves: the checksum is the stored file's own.
    assert len(stored) == size
    assert media_file.sha256 == hashlib.sha256(stored).hexdigest()
    # The finished file was moved into storage: nothing is left behind in the partial folder.
    assert [p for p in (tmp_path / "partial").rglob("*") if p.is_file()] == []


def test_a_slow_body_still_arrives_whole(fetch, sandbox):
    sandbox.sandbox.config.slow_body_ms = 20
    media_file = fetch("slow.jpg?bytes=400000")
    assert media_file.status == "done"
    assert media_file.size == 400000


def test_a_file_over_the_platforms_limit_is_stopped_with_the_reason(fetch, platforms):
    reddit = platforms["reddit"]
    reddit.max_file_size_mb = 1
    reddit.save()
    media_file = fetch("huge.jpg?bytes=3000000", platform=reddit)
    assert media_file.status == "failed"
    assert "over Reddit's limit of 1.0 MB" in media_file.last_error


def test_an_html_page_served_as_an_image_is_rejected(fetch):
    media_file = fetch("login.jpg?html=1")
    assert media_file.status == "failed"
    assert "web page (HTML)" in media_file.last_error


def test_a_format_the_platform_does_not_allow_is_rejected(fetch):
    media_file = fetch("photo.webp", ext="webp")
    assert media_file.status == "failed"
    assert "WEBP" in media_file.last_error


def test_a_missing_file_is_recorded_as_gone(fetch):
    media_file = fetch("gone.jpg?status=404")
    assert media_file.status == "failed"
    assert "404" in media_file.last_error


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:9/secret.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/x.jpg",
        "http://10.0.0.5/x.jpg",
    ],
)
def test_a_redirect_to_a_private_address_is_refused(fetch, sandbox, target):
    media_file = fetch(f"bounce.jpg?redirect={target}")
    assert media_file.status == "failed"
    assert "refused" in media_file.last_error


def test_a_media_host_that_resolves_to_a_private_address_is_refused(fetch, platforms):
    reddit = platforms["reddit"]
    reddit.media_hosts = [*reddit.media_hosts, "localhost"]
    reddit.save()
    media_file = fetch("https://localhost:9/a.jpg", platform=reddit)
    assert media_file.status == "failed"
    assert "private address" in media_file.last_error


def test_a_host_that_is_not_the_platforms_is_refused_before_any_request(fetch):
    media_file = fetch("https://example.org/a.jpg")
    assert media_file.status == "failed"
    assert "not a Reddit media host" in media_file.last_error


def test_the_same_url_in_one_job_is_fetched_once(fetch, sandbox):
    first = fetch("shared.jpg", media_id="x1")
    second = fetch("shared.jpg", media_id="x2")
    assert first.sha256 == second.sha256
    assert served(sandbox, "shared.jpg")[0] == 1


def test_a_chunk_fetches_each_url_once_and_leaves_files_another_worker_holds(
    transactional_db, job, sandbox, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    base = f"{sandbox.base_url}/reddit/media"

    def row(media_id, name, **fields):
        return MediaFile.objects.create(
            job=job, media_id=media_id, source_url=f"{base}/{name}", kind="image", ext="jpg", **fields
        )

    done_before = Downloader(platform=job.platform, owner_id=job.owner_id).download_and_save(row("d0", "old.jpg"))
    rows = [
        row("a1", "pair.jpg"),
        row("a2", "pair.jpg"),
        row("b1", "single.jpg"),
        row("o1", "old.jpg"),  # the job fetched this URL in an earlier chunk
        row(
            "h1",
            "held.jpg",
            status="downloading",
            lease_owner="elsewhere:1",
            lease_until=timezone.now() + timedelta(minutes=5),
        ),
        row("f1", "finished.jpg", status="done", sha256="f" * 64, size=1),
    ]
    downloader = Downloader(platform=job.platform, owner_id=job.owner_id, concurrency=4)
    downloader.run(job, [r.id for r in rows], claim=media_claim_many)

    after = {m.media_id: m for m in job.media_files.all()}
    assert {k: after[k].status for k in ("a1", "a2", "b1", "o1")} == dict.fromkeys(("a1", "a2", "b1", "o1"), "done")
    assert after["a1"].sha256 == after["a2"].sha256 and after["a1"].stored_name == after["a2"].stored_name
    assert after["o1"].sha256 == done_before.sha256
    # Each URL crossed the wire once; the file another worker holds and the done one were left alone.
    assert served(sandbox, "pair.jpg")[0] == 1
    assert served(sandbox, "old.jpg")[0] == 1
    assert served(sandbox, "held.jpg")[0] == 0 and served(sandbox, "finished.jpg")[0] == 0
    assert (after["h1"].status, after["h1"].lease_owner) == ("downloading", "elsewhere:1")
    assert (after["f1"].status, after["f1"].sha256) == ("done", "f" * 64)
    assert all(after[k].lease_until is None and after[k].attempts == 1 for k in ("a1", "a2", "b1", "o1"))


def test_a_claimed_chunk_is_kept_alive_by_the_heartbeat(job, sandbox):
    base = f"{sandbox.base_url}/reddit/media"
    ids = [
        MediaFile.objects.create(job=job, media_id=f"k{i}", source_url=f"{base}/k{i}.jpg", kind="image").id
        for i in range(3)
    ]
    claimed = media_claim_many(job, ids)
    assert [m.id for m in claimed] == ids
    assert media_claim_many(job, ids) == []  # held now: a second worker takes none of them
    first = MediaFile.objects.get(id=ids[0]).lease_until
    job.status = ExportJob.Status.DOWNLOADING
    job.save(update_fields=["status"])
    leases_renew(job.id, job.status, files=True)
    assert all(m.lease_until > first for m in MediaFile.objects.filter(id__in=ids))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jpg", "jpg"), ("a.png", "png"), ("a.gif", "gif"), ("a.mp4", "mp4"), ("a.zip", "zip")],
)
def test_the_real_type_is_read_from_the_first_bytes(name, expected):
    head, _, _ = media.render(name, {})
    assert sniff(head[:4096])[0] == expected


# --- one retry policy: each attempt is one request -------------------------------------------------
def stats_over_http(sandbox) -> dict:
    return requests.get(f"{sandbox.base_url}/_stats", timeout=10).json()


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
def test_a_dead_file_costs_exactly_the_configured_attempts(job, sandbox, settings, tmp_path, attempts):
    settings.VAR_DIR = tmp_path
    settings.STAREXPORT = {**settings.STAREXPORT, "DOWNLOAD_ATTEMPTS": attempts}
    url = f"{sandbox.base_url}/reddit/media/dead.jpg?status=503"
    media_file = MediaFile.objects.create(job=job, media_id="dead", source_url=url, kind="image", ext="jpg")
    Downloader(platform=job.platform, owner_id=job.owner_id, sleep=lambda s: None).download_and_save(media_file)
    media_file.refresh_from_db()
    assert stats_over_http(sandbox)["requests"]["/reddit/media/dead.jpg"] == attempts
    assert media_file.status == "failed"
    plural = "attempt" if attempts == 1 else "attempts"
    assert media_file.last_error == f"the server kept answering 503 (gave up after {attempts} {plural})"


def test_a_dead_companion_file_costs_exactly_the_configured_attempts(job, sandbox, settings, tmp_path):
    settings.STAREXPORT = {**settings.STAREXPORT, "DOWNLOAD_ATTEMPTS": 3}
    downloader = Downloader(platform=job.platform, owner_id=job.owner_id, sleep=lambda s: None)
    with pytest.raises(DownloadFailed) as failed:
        downloader.fetch_companion(f"{sandbox.base_url}/reddit/media/v1-DASH_AUDIO_128.mp4?status=502", tmp_path / "a")
    assert stats_over_http(sandbox)["requests"]["/reddit/media/v1-DASH_AUDIO_128.mp4"] == 3
    assert failed.value.reason == "the server kept answering 502 (gave up after 3 attempts)"


def test_the_wait_between_attempts_is_the_servers_retry_after(job, sandbox, tmp_path):
    sandbox.sandbox.config.fault_429_every = 1  # every request is refused with Retry-After
    sandbox.sandbox.config.retry_after = 7
    waits = []
    downloader = Downloader(platform=job.platform, owner_id=job.owner_id, attempts=3, sleep=waits.append)
    with pytest.raises(DownloadFailed):
        downloader.fetch_companion(f"{sandbox.base_url}/reddit/media/busy.jpg", tmp_path / "b")
    # At least what Retry-After asked; Reddit's own reset header may ask a second more.
    assert len(waits) == 2 and all(7.0 <= wait <= 8.0 for wait in waits), waits
    assert stats_over_http(sandbox)["requests"]["/reddit/media/busy.jpg"] == 3


# --- a platform that looks down is paused, not spent file by file ------------------------------
@pytest.fixture
def outage_settings(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.STAREXPORT = {
        **settings.STAREXPORT,
        "DOWNLOAD_ATTEMPTS": 5,
        "OUTAGE_REQUESTS": 4,
        "OUTAGE_PAUSE_SECONDS": 1.5,
    }


def test_a_platform_that_looks_down_is_paused_instead_of_spending_every_files_attempts(job, sandbox, outage_settings):
    from platforms.outage import health_for

    files = [
        MediaFile.objects.create(
            job=job, media_id=f"m{i}", source_url=f"{sandbox.base_url}/reddit/media/p{i}.jpg", kind="image", ext="jpg"
        )
        for i in range(12)
    ]
    ids = [f.id for f in files]
    sandbox.sandbox.config.fault_5xx_rate = 1.0
    downloader = Downloader(platform=job.platform, owner_id=job.owner_id, concurrency=1, sleep=lambda s: None)
    downloader.run(job, ids, claim=media_claim_many)
    media_requests = sum(n for path, n in stats_over_http(sandbox)["requests"].items() if "/media/" in path)
    # Four failed requests in a row and the platform is paused: not 12 files × 5 attempts.
    assert media_requests == 4
    assert set(MediaFile.objects.filter(id__in=ids).values_list("status", "attempts")) == {("pending", 0)}
    pause = health_for("reddit").paused()
    assert pause is not None and 0 < pause.seconds_left <= 1.5
    assert pause.sentence("Reddit").startswith("Reddit is not answering; trying again at ")

    # The platform answers again; once the pause is over every file arrives, none failed.
    sandbox.sandbox.config.fault_5xx_rate = 0.0
    import time

    time.sleep(pause.seconds_left + 0.1)
    downloader.run(job, ids, claim=media_claim_many)
    assert set(MediaFile.objects.filter(id__in=ids).values_list("status", flat=True)) == {"done"}
    assert health_for("reddit").paused() is None


def test_a_platform_still_down_after_the_pause_is_paused_for_longer(job, sandbox, outage_settings):
    import time

    from platforms.outage import health_for

    files = [
        MediaFile.objects.create(
            job=job, media_id=f"d{i}", source_url=f"{sandbox.base_url}/reddit/media/d{i}.jpg", kind="image", ext="jpg"
        )
        for i in range(3)
    ]
    sandbox.sandbox.config.fault_5xx_rate = 1.0
    downloader = Downloader(platform=job.platform, owner_id=job.owner_id, concurrency=1, sleep=lambda s: None)
    downloader.run(job, [f.id for f in files], claim=media_claim_many)
    first = health_for("reddit").paused()
    time.sleep(first.seconds_left + 0.1)
    downloader.run(job, [f.id for f in files], claim=media_claim_many)
    second = health_for("reddit").paused()
    # One more try failed: paused again, twice as long; still nothing failed for good.
    assert second is not None and second.until - first.until >= 2.5
    assert stats_over_http(sandbox)["requests"]["/reddit/media/d0.jpg"] == 5
    assert set(MediaFile.objects.filter(job=job).values_list("status", flat=True)) == {"pending"}
