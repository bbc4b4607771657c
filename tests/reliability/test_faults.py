"""Faults on real processes: workers SIGKILLed, Redis restarted, PostgreSQL connections dropped,
S3 gone, a full disk, and a platform that misbehaves. Each test records what it measured."""

import functools
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.db.models import Q

from exports import jobs, links
from exports.models import ExportJob, ExportRecord, MediaFile
from tests.conftest import seed_platforms, verify_archive, wait_for_job
from tests.reliability.conftest import (
    RedisServer,
    RelWorker,
    broker_at,
    reliability_env,
    sandbox_config,
    sandbox_requests,
    sandbox_reset,
    wait_until,
)

pytestmark = pytest.mark.pipeline

# The shipped defaults (20 s leases kept alive by a heartbeat, a sweep every 5 s): a dead worker's
# step is free again within seconds, and a restarted worker finishes the job within a minute.
LEASE_SECONDS = 20
FAULT_KNOBS = {"LEASE_SECONDS": LEASE_SECONDS, "SWEEP_SECONDS": 5}
RECOVERY_SECONDS = 60


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("fault-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_worker(django_db_setup, sandbox_process, fault_redis, sole_sweeper, tmp_path_factory):
    """One worker on a Redis of the module's own, so no other test run's worker takes its tasks.
    Started by `shared`, stopped by `solo` (its sweeper would take over the steps of a test's own
    worker with other settings)."""
    worker = RelWorker(
        reliability_env(sandbox_process, fault_redis.url, **FAULT_KNOBS),
        f"relfault-{uuid.uuid4().hex[:8]}",
        tmp_path_factory.mktemp("fault-worker"),
    )
    with broker_at(fault_redis.url):
        yield worker
        worker.stop()


@pytest.fixture
def rig(transactional_db, sandbox_process, settings):
    settings.STAREXPORT_SANDBOX = sandbox_process
    seed_platforms()
    sandbox_reset(sandbox_process)
    yield sandbox_process
    sandbox_reset(sandbox_process)


@pytest.fixture
def shared(rig, fault_worker):
    """The module's worker, running."""
    if not fault_worker.running():
        fault_worker.start()
    return fault_worker


@pytest.fixture
def solo(rig, fault_worker):
    """No worker but the test's own."""
    fault_worker.stop()


@pytest.fixture
def frank(shared, make_user, connect):
    user = make_user("frank")
    for slug in ("reddit", "github"):
        connect(user, slug)
    return user


def media_paths(job) -> dict[str, str]:
    return {
        m.media_id: requests.utils.urlparse(m.source_url).path
        for m in MediaFile.objects.filter(job=job).only("media_id", "source_url")
    }


def assert_complete_once(job, slug: str) -> None:
    """The archive verifies, every media file is in it exactly once, and no record is doubled."""
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_done == job.media_total, list(
        job.media_files.exclude(status="done").values_list("media_id", "last_error")
    )
    ids = list(MediaFile.objects.filter(job=job).values_list("media_id", flat=True))
    assert len(ids) == len(set(ids))
    keys = list(ExportRecord.objects.filter(job=job).values_list("resource", "external_id"))
    assert len(keys) == len(set(keys)) == job.records_count
    verify_archive(links.archive_location(job), slug, "--media")


# Half a minute each of real SIGKILL recovery, timed: make reliability (test_pipeline keeps a
# worker killed mid-download in every run).
@pytest.mark.load
def test_a_worker_killed_during_fetch_is_replaced_and_the_job_finishes(frank, rig, fault_worker, measured):
    """SIGKILL the worker while it pages through the API; a new worker finishes the export."""
    sandbox_config(rig, latency_ms=400)
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    wait_until(lambda: ExportRecord.objects.filter(job=job).exists(), timeout=60, what="the first page")
    fault_worker.kill()
    killed = time.monotonic()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FETCHING
    sandbox_config(rig, latency_ms=0)
    fault_worker.start()
    job = wait_for_job(job, timeout=120)
    recovered = time.monotonic() - killed
    assert_complete_once(job, "reddit")
    paths = set(media_paths(job).values())
    served = sandbox_requests(rig)
    assert {path: served.get(path) for path in paths} == dict.fromkeys(paths, 1)
    measured("seconds from SIGKILL during fetch to a verified archive", round(recovered, 1))
    assert recovered < RECOVERY_SECONDS, f"{recovered:.0f} s from the kill during fetch to the end"


# Half a minute each of real SIGKILL recovery, timed: make reliability (test_pipeline keeps a
# worker killed mid-download in every run).
@pytest.mark.load
def test_a_worker_killed_during_download_finishes_without_fetching_a_verified_file_again(
    frank, rig, fault_worker, measured
):
    """SIGKILL the worker mid-download; files verified before the kill are not fetched again."""
    sandbox_config(rig, latency_ms=300)
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    wait_until(
        lambda: MediaFile.objects.filter(job=job, status="done").count() >= 3, timeout=90, what="3 verified files"
    )
    fault_worker.kill()
    killed = time.monotonic()
    done_before = list(MediaFile.objects.filter(job=job, status="done").values_list("media_id", flat=True))
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DOWNLOADING
    assert len(done_before) < job.media_total
    sandbox_config(rig, latency_ms=0)
    fault_worker.start()
    job = wait_for_job(job, timeout=120)
    recovered = time.monotonic() - killed
    assert_complete_once(job, "reddit")
    served = sandbox_requests(rig)
    paths = media_paths(job)
    again = [media_id for media_id in done_before if served.get(paths[media_id]) != 1]
    measured("seconds from SIGKILL during download to a verified archive", round(recovered, 1))
    assert recovered < RECOVERY_SECONDS, f"{recovered:.0f} s from the kill during download to the end"
    measured("files verified before the kill / fetched again after it", f"{len(done_before)} / {len(again)}")
    assert again == []


# Half a minute each of real SIGKILL recovery, timed: make reliability (test_pipeline keeps a
# worker killed mid-download in every run).
@pytest.mark.load
def test_a_worker_killed_while_writing_the_archive_finishes_it_from_stored_media(
    frank, rig, fault_worker, measured, purge_files
):
    """SIGKILL the worker while it writes a large archive; the next worker writes it again."""
    from django.conf import settings

    from exports.archive import archive_name_for

    purge_files(frank)
    sandbox_config(rig, media_bytes=16 << 20)
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    zip_path = Path(settings.MEDIA_ROOT) / archive_name_for(job)

    def writing() -> int:
        return zip_path.stat().st_size if zip_path.exists() else 0

    wait_until(writing, timeout=180, every=0.01, what="the archive being written")
    fault_worker.kill()
    killed = time.monotonic()
    written = writing()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.ARCHIVING, "the archive was done before the kill; make media bigger"
    fault_worker.start()
    job = wait_for_job(job, timeout=120)
    recovered = time.monotonic() - killed
    assert_complete_once(job, "reddit")
    paths = set(media_paths(job).values())
    served = sandbox_requests(rig)
    assert {path: served.get(path) for path in paths} == dict.fromkeys(paths, 1)
    measured("seconds from SIGKILL during archive to a verified archive", round(recovered, 1))
    assert recovered < RECOVERY_SECONDS, f"{recovered:.0f} s from the kill during archive to the end"
    measured("bytes of the ZIP written when the worker died (MB)", round(written / 2**20, 1))
    measured("archive size (MB)", round(job.archive_size / 2**20, 1))


@pytest.mark.load  # minutes of broker and database faults: make reliability
def test_a_redis_restart_mid_download_loses_queued_tasks_yet_the_job_finishes(
    frank, rig, fault_redis, fault_worker, measured
):
    """Restart Redis (nothing persisted: every queued task is lost) while media download."""
    sandbox_config(rig, latency_ms=300)
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    wait_until(
        lambda: MediaFile.objects.filter(job=job, status="done").count() >= 3, timeout=90, what="3 verified files"
    )
    fault_redis.restart(down_seconds=2)
    back = time.monotonic()
    sandbox_config(rig, latency_ms=0)
    job = wait_for_job(job, timeout=120)
    measured("seconds from Redis back (2 s down, queue lost) to the job's end", round(time.monotonic() - back, 1))
    measured("job outcome after the Redis restart", job.status)
    assert_complete_once(job, "reddit")


@pytest.mark.load  # minutes of broker and database faults: make reliability
def test_a_job_created_while_redis_is_down_runs_once_redis_is_back(frank, rig, fault_redis, fault_worker, measured):
    """Create an export while the broker is down; the sweeper queues it once Redis is back."""
    fault_redis.stop()
    try:
        try:
            job = jobs.export_job_create(owner=frank, platform_slug="github")
            raised = "nothing"
        except Exception as exc:  # what the caller sees is what this test reports
            raised = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
            job = ExportJob.objects.get(owner=frank)
        job.refresh_from_db()
        assert job.status == ExportJob.Status.QUEUED
        time.sleep(2)
    finally:
        fault_redis.start()
    back = time.monotonic()
    job = wait_for_job(job, timeout=90)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    verify_archive(links.archive_location(job), "github")
    measured("export_job_create with the broker down", raised[:300])
    measured("seconds from Redis back to the succeeded job (lease 4 s, sweep 1 s)", round(time.monotonic() - back, 1))


def test_the_export_form_with_the_broker_down_shows_the_created_job(frank, rig, fault_redis, measured):
    """Submit the export form while Redis (the broker) is down: the user lands on the created job."""
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(frank)
    fault_redis.stop()
    try:
        response = client.post("/exports/new/", {"platform": "github", "formats": ["json"]})
    finally:
        fault_redis.start()
    job = ExportJob.objects.filter(owner=frank).first()
    measured("export form answer with the broker down", f"HTTP {response.status_code}, job created: {bool(job)}")
    assert job is not None
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()


@pytest.mark.load  # minutes of broker and database faults: make reliability
def test_postgresql_connections_dropped_mid_download_do_not_lose_the_job(frank, rig, fault_worker, measured):
    """pg_terminate_backend on every worker connection mid-download: the job ends, never stuck."""
    from django.db import connection

    sandbox_config(rig, latency_ms=300)
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    wait_until(
        lambda: MediaFile.objects.filter(job=job, status="done").count() >= 3, timeout=90, what="3 verified files"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )
        dropped = cursor.rowcount
    dropped_at = time.monotonic()
    sandbox_config(rig, latency_ms=0)
    job = wait_for_job(job, timeout=120)
    measured("worker connections terminated mid-download", dropped)
    measured("seconds from the drop to the job's end", round(time.monotonic() - dropped_at, 1))
    measured("job outcome after the drop", job.status)
    assert dropped > 0
    assert_complete_once(job, "reddit")


def clean_counts(owner, slug: str) -> tuple[int, int]:
    """Records and media files the sandbox serves this user when nothing goes wrong, read here
    with the platform's extractor before any knob is turned."""
    from accounts.tokens import token_for
    from platforms.base import FetchContext
    from platforms.client import ApiClient
    from platforms.models import Platform
    from platforms.registry import get_extractor

    platform = Platform.objects.get(slug=slug)
    extractor = get_extractor(slug)
    client = ApiClient(extractor, base_url=platform.base_url, token=token_for(owner, platform))
    records, media = set(), set()
    for resource, page in extractor.pages(client, FetchContext()):
        records |= {(resource, extractor.record_id(resource, r)) for r in page.records}
        media |= {m.media_id for m in page.media}
    return len(records), len(media)


# id: (what a person reads, the sandbox knobs)
PLATFORM_FAULTS = {
    "none": ("no fault (baseline)", {}),
    "429-storm": ("429 on every 4th request, Retry-After 1 s", {"fault_429_every": 4, "retry_after": 1}),
    "5xx-bursts": ("5xx on 20% of requests", {"fault_5xx_rate": 0.2}),
    "truncated-bodies": ("20% of bodies cut off halfway", {"truncate_rate": 0.2}),
    "slow-bodies": ("512 KiB files at 150 ms per 64 KiB", {"slow_body_ms": 150, "media_bytes": 512 << 10}),
}


@pytest.mark.parametrize(
    "fault",
    # The slow-body run takes long by design: make reliability.
    [pytest.param(f, marks=pytest.mark.load) if f == "slow-bodies" else f for f in PLATFORM_FAULTS],
)
def test_a_misbehaving_platform_still_gives_a_complete_export(frank, rig, fault, measured):
    """Sandbox fault knobs on a real worker: the export still has every record and every file."""
    label, knobs = PLATFORM_FAULTS[fault]
    records, files = clean_counts(frank, "reddit")
    sandbox_reset(rig)
    sandbox_config(rig, **knobs)
    started = time.monotonic()
    job = jobs.export_job_create(owner=frank, platform_slug="reddit", include_media=True)
    job = wait_for_job(job, timeout=240)
    took = time.monotonic() - started
    stats = requests.get(f"{rig}/_stats", timeout=5).json()
    assert_complete_once(job, "reddit")
    assert (job.records_count, job.media_total) == (records, files)
    measured(f"{label}: seconds for a Reddit export with {files} files", round(took, 1))
    measured(f"{label}: requests the sandbox answered", stats["requests_total"])


def next_claim(job_id, after: int) -> ExportJob | None:
    """The job once a worker claimed its fetch again (or it left the fetch step)."""
    jobs = ExportJob.objects.filter(id=job_id).exclude(status="queued")
    return jobs.exclude(status="fetching", step_attempts__lte=after).first()


@pytest.mark.load  # minutes of broker and database faults: make reliability
def test_a_step_that_kills_its_worker_every_time_fails_the_job_after_the_attempt_cap(
    solo, rig, make_user, connect, own_redis, start_worker, sandbox_process, measured
):
    """A fetch whose worker dies every time it runs: the job fails at the attempt cap, no endless loop."""
    attempts = 2
    user = make_user("gina")
    connect(user, "reddit")
    env = reliability_env(sandbox_process, own_redis.url, LEASE_SECONDS=4, SWEEP_SECONDS=1, STEP_ATTEMPTS=attempts)
    worker = start_worker(env, concurrency=1)
    # The API never answers in time: every fetch attempt is still in flight when its worker dies.
    sandbox_config(rig, latency_ms=25_000)
    kills = 0
    started = time.monotonic()
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="reddit")
        seen = 0
        while kills <= attempts + 1:
            job = wait_until(
                functools.partial(next_claim, job.id, seen),
                timeout=60,
                what="the next claim of the fetch step",
            )
            if job.status != ExportJob.Status.FETCHING:
                break
            seen = job.step_attempts
            time.sleep(0.5)  # the task is now inside the API request that never returns
            worker.kill()
            kills += 1
            worker.start(concurrency=1)
    elapsed = time.monotonic() - started
    job = wait_for_job(job, timeout=30)
    assert job.status == ExportJob.Status.FAILED
    assert "attempts" in job.error and str(attempts) in job.error, job.error
    assert kills <= attempts + 1
    measured(f"worker deaths before the job failed (STEP_ATTEMPTS={attempts}, lease 4 s)", kills)
    measured("seconds from creation to the failed job", round(elapsed, 1))
    measured("reason shown", job.error)


def test_a_token_revoked_mid_fetch_fails_the_job_asking_to_reconnect_and_keeps_the_records(
    solo, rig, make_user, connect, own_redis, start_worker, live_sandbox, monkeypatch, measured
):
    """The platform stops accepting the token after the first pages: 'reconnect', records kept."""
    from accounts.tokens import token_for
    from platforms.models import Platform
    from platforms.sandbox import auth

    # A sandbox in this process, so the test can revoke a token the way a platform does: from one
    # request to the next, whatever the worker holds.
    server = live_sandbox(records=12, page_size=5, latency_ms=300)
    user = make_user("lena")
    connect(user, "reddit")
    token = token_for(user, Platform.objects.get(slug="reddit"))
    revoked: set[str] = set()
    verify = auth.verify_token
    monkeypatch.setattr(auth, "verify_token", lambda slug, t, **kw: None if t in revoked else verify(slug, t, **kw))

    start_worker(reliability_env(server.base_url, own_redis.url, **FAULT_KNOBS))
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="reddit")
        wait_until(lambda: ExportRecord.objects.filter(job=job).count() >= 5, timeout=60, what="the first pages")
        revoked.add(token)
        fetched = ExportRecord.objects.filter(job=job).count()
        revoked_at = time.monotonic()
        job = wait_for_job(job, timeout=60)
    assert job.status == ExportJob.Status.FAILED
    assert "reconnect" in job.error.lower(), job.error
    kept = ExportRecord.objects.filter(job=job).count()
    assert kept >= fetched > 0
    measured("seconds from revocation to the failed job", round(time.monotonic() - revoked_at, 1))
    measured("records fetched before the revocation and kept", kept)
    measured("reason shown", job.error)


# --- storage: S3 away, disk full ----------------------------------------------------------------


def test_a_download_slower_than_the_lease_is_not_taken_over(
    solo, rig, make_user, connect, own_redis, start_worker, sandbox_process, measured
):
    """Files that take longer than the lease to arrive (slow bodies): each fetched once, none lost."""
    user = make_user("olga")
    connect(user, "reddit")
    # 2 MB bodies at 150 ms per 64 KiB: about 5 s per file against a 3 s lease (production: a
    # video that takes more than 10 minutes against the 600 s lease).
    start_worker(reliability_env(sandbox_process, own_redis.url, LEASE_SECONDS=3, SWEEP_SECONDS=1))
    sandbox_config(rig, media_bytes=2 << 20, slow_body_ms=150)
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, options={"max_records": 2})
        job = wait_for_job(job, timeout=240)
    served = sandbox_requests(rig)
    paths = set(media_paths(job).values())
    twice = sorted(path for path in paths if served.get(path, 0) > 1)
    measured("files fetched more than once / of", f"{len(twice)} / {len(paths)}")
    measured("files verified / of", f"{job.media_done} / {job.media_total}")
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.media_done == job.media_total, list(job.media_files.values_list("media_id", "last_error"))
    assert twice == []


@pytest.fixture
def own_moto(tmp_path):
    """A moto S3 server of the test's own, so killing it leaves the session's server alone."""
    import subprocess
    import sys
    from pathlib import Path

    import boto3

    from tests.conftest import free_port, wait_for

    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(url)
    boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket="rel-archives")
    yield url, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def s3_knobs(endpoint: str) -> dict:
    return {
        "AWS_STORAGE_BUCKET_NAME": "rel-archives",
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }


def status_json(job) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(job.owner)
    response = client.get(f"/exports/{job.id}/status.json")
    assert response.status_code == 200
    return response.json()


def test_an_unreachable_s3_is_retried_rather_than_failing_the_job_at_once(
    solo, rig, make_user, connect, own_redis, start_worker, sandbox_process, measured
):
    """S3 at a closed port when the archive is written: the first failure leaves a retry pending."""
    from tests.conftest import free_port

    user = make_user("ines")
    connect(user, "github")
    closed = f"http://127.0.0.1:{free_port()}"
    start_worker(reliability_env(sandbox_process, own_redis.url, LEASE_SECONDS=60, **s3_knobs(closed)))
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="github")
        job = wait_until(
            lambda: (
                # The step is kept for the task's own retry (reserved under its id) or has failed.
                ExportJob.objects.filter(id=job.id, status__in=("archiving", "failed"), step_attempts__gte=1)
                .filter(Q(lease_owner__startswith="retry:") | Q(status="failed"))
                .first()
            ),
            timeout=60,
            what="the end of the first archive attempt",
        )
    assert job.status == ExportJob.Status.ARCHIVING, f"failed at the first attempt: {job.error}"
    assert job.archive_name == "" and status_json(job)["download_url"] is None
    measured("job state after the first failed upload", f"{job.status}, retry pending, no archive offered")


@pytest.mark.load
def test_a_storage_retry_is_not_counted_as_a_dead_worker(
    solo, rig, make_user, connect, own_redis, start_worker, sandbox_process
):
    """With STEP_ATTEMPTS=1 and S3 away, the first storage retry must run, not blame a dead worker."""
    from tests.conftest import free_port

    user = make_user("jon")
    connect(user, "github")
    closed = f"http://127.0.0.1:{free_port()}"
    env = reliability_env(sandbox_process, own_redis.url, LEASE_SECONDS=120, STEP_ATTEMPTS=1, **s3_knobs(closed))
    start_worker(env)
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="github")
        wait_until(
            lambda: ExportJob.objects.filter(id=job.id, status="archiving", lease_owner="").exists(),
            timeout=60,
            what="the first failed upload, its retry pending",
        )
        # The retry runs 10 s after the first failure; give it time to fail too.
        time.sleep(16)
    job.refresh_from_db()
    assert "worker stopped" not in job.error, job.error


@pytest.mark.load
def test_s3_killed_mid_archive_fails_the_job_after_retries_and_offers_no_half_archive(
    solo, rig, make_user, connect, own_redis, own_moto, start_worker, sandbox_process, measured
):
    """Kill the S3 server (moto) while the archive uploads: retried, then failed; no archive offered."""
    endpoint, moto = own_moto
    user = make_user("hana")
    connect(user, "reddit")
    # Production's long lease: only the task's own retries (10, 30, 90 s) run, not the sweeper.
    env = reliability_env(sandbox_process, own_redis.url, LEASE_SECONDS=600, SWEEP_SECONDS=1, **s3_knobs(endpoint))
    worker = start_worker(env)
    sandbox_config(rig, media_bytes=4 << 20)
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True)
        wait_for_job(job, timeout=120, statuses=("archiving", "succeeded", "failed"))
        assert job.status == ExportJob.Status.ARCHIVING, job.error
        time.sleep(0.3)
        moto.kill()
        moto.wait(10)
        killed = time.monotonic()
        job = wait_for_job(job, timeout=300)
    assert worker.running()
    assert job.status == ExportJob.Status.FAILED
    assert job.archive_name == "" and not job.archive_size
    status = status_json(job)
    assert status["status"] == "failed" and status["download_url"] is None and status["error"]
    measured("seconds from the S3 server's death to the failed job", round(time.monotonic() - killed, 1))
    measured("archive attempts before failing", job.step_attempts)
    measured("reason shown", job.error[:300])


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """A 20 MB tmpfs: the worker's storage and partial downloads live on it."""
    import subprocess

    path = tmp_path_factory.mktemp("small-disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def files_under(root) -> dict[str, int]:
    return {str(f.relative_to(root)): f.stat().st_size for f in root.rglob("*") if f.is_file()} if root.exists() else {}


def disk_export(owner, broker: str) -> ExportJob:
    with broker_at(broker):
        job = jobs.export_job_create(owner=owner, platform_slug="reddit", include_media=True)
        return wait_for_job(job, timeout=240)


@pytest.fixture(scope="module")
def full_disk(django_db_setup, django_db_blocker, sandbox_process, fault_worker, small_disk, tmp_path_factory, request):
    """One Reddit export of 27 files of 3 MB onto the 20 MB disk, then (the disk grown to 200 MB)
    the same export again; what both left behind, for the tests below to judge."""
    import shutil

    from django.contrib.auth import get_user_model
    from django.test import Client

    fault_worker.stop()
    redis_server = RedisServer(tmp_path_factory.mktemp("disk-redis"))
    redis_server.start()
    env = reliability_env(
        sandbox_process,
        redis_server.url,
        **FAULT_KNOBS,
        DOWNLOAD_ATTEMPTS=2,
        MEDIA_ROOT=small_disk / "storage",
        STAREXPORT_VAR_DIR=small_disk / "var",
    )
    worker = RelWorker(env, f"reldisk-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("disk-worker"))
    seen: dict = {}
    try:
        worker.start()
        sandbox_reset(sandbox_process)
        sandbox_config(sandbox_process, media_bytes=3 << 20)
        with django_db_blocker.unblock():
            seed_platforms()
            owner = get_user_model().objects.create_user(username="kim", email="kim@example.com")
            connect_sandbox(owner, "reddit")
            started = time.monotonic()
            job = disk_export(owner, redis_server.url)
            seen["seconds"] = time.monotonic() - started
            seen["job"] = {f: getattr(job, f) for f in ("status", "error", "media_total", "media_done", "media_failed")}
            seen["archive_name"] = job.archive_name
            seen["failures"] = list(job.media_files.filter(status="failed").values_list("media_id", "last_error"))
            seen["partial"] = files_under(small_disk / "var" / "partial")
            seen["stored"] = files_under(small_disk / "storage")
            expected = {m.stored_name: m.size for m in job.media_files.filter(status="done")}
            if job.archive_name:
                expected[job.archive_name] = job.archive_size
            seen["expected"] = expected
            seen["free"] = shutil.disk_usage(small_disk).free
            client = Client()
            client.force_login(owner)
            seen["status_json"] = client.get(f"/exports/{job.id}/status.json").json()

            # Room again: the same user exports the same files.
            import subprocess

            subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
            again = disk_export(owner, redis_server.url)
            seen["again"] = {f: getattr(again, f) for f in ("status", "error", "media_total", "media_done")}
            seen["again_archive"] = str(small_disk / "storage" / again.archive_name) if again.archive_name else None
    finally:
        sandbox_reset(sandbox_process)
        worker.stop()
        redis_server.stop()
    return seen


def connect_sandbox(user, slug: str) -> None:
    from allauth.socialaccount.models import SocialAccount

    from accounts.tokens import store_token
    from platforms.models import Platform
    from platforms.sandbox.auth import mint_token

    platform = Platform.objects.get(slug=slug)
    account = SocialAccount.objects.create(user=user, provider=platform.provider_id, uid=f"{user.username}-{slug}")
    store_token(account, access=mint_token(slug, user.username))


@pytest.mark.load
def test_a_full_disk_fails_the_files_that_do_not_fit_and_removes_partial_downloads(
    transactional_db, full_disk, measured
):
    """An export bigger than a 20 MB disk ends: files that did not fit listed, no partial download left.

    No archive is offered unless one was written whole."""
    seen = full_disk
    job = seen["job"]
    assert job["status"] in ("succeeded", "failed")
    assert job["media_failed"] > 0 and len(seen["failures"]) == job["media_failed"]
    assert seen["partial"] == {}
    if job["status"] == "failed":
        assert seen["archive_name"] == "" and seen["status_json"]["download_url"] is None
    measured("seconds until the job ended on a 20 MB disk", round(seen["seconds"], 1))
    measured(
        "files verified / failed (3 MB each)", f"{job['media_done']} / {job['media_failed']} of {job['media_total']}"
    )
    measured("job outcome and reason", f"{job['status']}: {job['error']}"[:300])


@pytest.mark.load
def test_files_that_do_not_fit_on_a_full_disk_say_no_space_left(transactional_db, full_disk, measured):
    """Every file that failed on the full disk says the disk is full."""
    reasons = [reason for _, reason in full_disk["failures"]]
    unclear = [r for r in reasons if "no space left" not in r.lower()]
    measured("failed files whose reason does not name the full disk", f"{len(unclear)} of {len(reasons)}")
    assert unclear == []


@pytest.mark.load
def test_a_full_disk_leaves_no_half_written_file_behind(transactional_db, full_disk, measured):
    """After the failure, storage holds only verified media and the archive offered, nothing half-written."""
    seen = full_disk
    leftovers = {name: size for name, size in seen["stored"].items() if seen["expected"].get(name) != size}
    measured("bytes left in half-written files", sum(leftovers.values()))
    measured("free bytes on the 20 MB disk after the job", seen["free"])
    assert leftovers == {}


@pytest.mark.load
def test_an_export_after_the_disk_filled_up_has_intact_files(transactional_db, full_disk, measured):
    """The same export once the disk has room again: every file whole, the archive verifies."""
    seen = full_disk
    assert seen["again"]["status"] == "succeeded", seen["again"]["error"]
    assert seen["again"]["media_done"] == seen["again"]["media_total"]
    verify_archive(seen["again_archive"], "reddit", "--media")
