"""Many users, one API app: the shared request budget on real workers against the sandbox's
app-level limits. Load runs (`make reliability`); the fast versions are tests/platforms/test_budget.py
and tests/exports/test_eta.py. Figures go to docs/reliability.md."""

import statistics
import time

import pytest
import requests
from django.test import Client
from django.utils import timezone

from exports import jobs
from exports.models import ExportJob
from platforms.budget import budget_for, forget_cached_budgets
from platforms.models import Platform
from tests.conftest import wait_for_job
from tests.platforms.test_budget import most_in_any_window
from tests.reliability.conftest import broker_at, reliability_env, sandbox_config

pytestmark = [pytest.mark.pipeline, pytest.mark.load]


def budget_env(sandbox: str, broker: str, settings, **knobs) -> dict:
    """Workers on their own broker, sharing the budget kept where this process reads it."""
    return reliability_env(
        sandbox, broker, LEASE_SECONDS=120, SWEEP_SECONDS=10, BUDGET_URL=settings.STAREXPORT["BUDGET_STORAGE"], **knobs
    )


def fresh_budget(slug: str, **size) -> None:
    Platform.objects.filter(slug=slug).update(**size)
    forget_cached_budgets()
    budget_for(slug).clear()


def people(make_user, connect, slug: str, count: int, prefix: str) -> list:
    users = []
    for n in range(count):
        user = make_user(f"{prefix}{n:02d}")
        connect(user, slug, identity=user.username)
        users.append(user)
    return users


def stats(sandbox: str) -> dict:
    return requests.get(f"{sandbox}/_stats", timeout=10).json()


def share_of(job) -> str:
    """The job's user's share of the budget, as the ETA saw it: requests so far, users, bottleneck."""
    from accounts.tokens import decrypt, social_token
    from platforms.client import budget_owner

    share = budget_for(job.platform_id).share(budget_owner(decrypt(social_token(job.owner, job.platform).token)))
    return "{requests} requests, {users} users, bottleneck {bottleneck}".format(**share) if share else "none"


def status_of(job) -> dict:
    client = Client()
    client.force_login(job.owner)
    return client.get(f"/exports/{job.id}/status.json").json()


USERS = 10
LIMIT, WINDOW = 100, 60
# Each listing 20 pages long: the fetch's progress then moves evenly with each page.
RECORDS, PAGE_SIZE = 100, 5


def test_ten_users_share_reddits_100_a_minute_with_no_429_fair_turns_and_an_honest_eta(
    rig, make_user, connect, own_redis, start_worker, settings, measured
):
    """10 users × 1 Reddit export on 2 workers against an app limit of 100 requests a minute."""
    fresh_budget("reddit", rate_limit_per_hour=LIMIT * 3600 // WINDOW, rate_window_seconds=WINDOW)
    users = people(make_user, connect, "reddit", USERS, "fair")
    sandbox_config(rig, app_limits={"reddit": [LIMIT, WINDOW]}, records=RECORDS, page_size=PAGE_SIZE)
    env = budget_env(rig, own_redis.url, settings)
    # Five processes each: every export runs at once, and the budget, not the pool, is the limit.
    for _ in range(2):
        start_worker(env, concurrency=5)
    started = time.monotonic()
    with broker_at(own_redis.url):
        exports = [jobs.export_job_create(owner=user, platform_slug="reddit") for user in users]
    t0 = timezone.now()

    # One look at each job once its fetch is halfway: the ETA it gave then, against when it ended.
    etas: dict = {}
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        running = ExportJob.objects.filter(id__in=[j.id for j in exports], status__in=ExportJob.RUNNING)
        for job in ExportJob.objects.filter(id__in=[j.id for j in exports], progress__gte=40).exclude(
            id__in=list(etas)
        ):
            if job.status == "fetching":
                etas[job.id] = (timezone.now(), status_of(job)["eta_seconds"], share_of(job))
        if not running.exists():
            break
        time.sleep(1)
    took = time.monotonic() - started
    finished = [wait_for_job(job, timeout=60) for job in exports]

    assert [job.status for job in finished] == ["succeeded"] * USERS, [job.error for job in finished]
    seen = stats(rig)
    refused = seen["429"].get("reddit", 0)
    busiest = most_in_any_window(seen["app_requests"]["reddit"], WINDOW)
    ends = sorted((job.succeeded_at - t0).total_seconds() for job in finished)
    spread = (ends[-1] - ends[0]) / ends[-1]
    errors, pairs = [], []
    for job in finished:
        if job.id in etas and etas[job.id][1] is not None:
            asked_at, eta, share = etas[job.id]
            left = (job.succeeded_at - asked_at).total_seconds()
            errors.append(abs(eta - left) / left)
            pairs.append(f"{eta}/{left:.0f} s ({share})")
    measured(f"seconds for {USERS} Reddit exports ({RECORDS} records in each of 3 listings)", round(took, 1))
    measured("API requests the sandbox served to Reddit", len(seen["app_requests"]["reddit"]))
    measured(f"429s past the app limit of {LIMIT} requests in {WINDOW} s", refused)
    measured(f"most requests in any {WINDOW} s window", busiest)
    measured("first / last user's finish, seconds after the start", f"{ends[0]:.0f} / {ends[-1]:.0f}")
    measured("spread between first and last finish, as a share of the run", f"{spread:.0%}")
    measured("ETAs taken halfway through the fetch", len(errors))
    if errors:
        measured(
            "ETA error against the real finish: median / worst", f"{statistics.median(errors):.0%} / {max(errors):.0%}"
        )
        measured("per job: ETA / real seconds left (its share of the budget then)", "; ".join(pairs))
    assert refused == 0
    assert busiest <= LIMIT
    assert spread <= 0.20, ends
    assert len(errors) >= USERS // 2
    assert max(errors) <= 0.25, errors


def test_two_workers_on_different_queues_draw_from_the_same_budget(
    rig, make_user, connect, own_redis, start_worker, settings, measured
):
    """Two worker processes, each consuming its own queue, and one Reddit budget between them."""
    from starexport.celery import app

    limit, window = 20, 10
    fresh_budget("reddit", rate_limit_per_hour=limit * 3600 // window, rate_window_seconds=window)
    users = people(make_user, connect, "reddit", 4, "queue")
    sandbox_config(rig, app_limits={"reddit": [limit, window]}, records=30, page_size=5)
    env = budget_env(rig, own_redis.url, settings)
    start_worker(env, concurrency=2, queues="celery")
    start_worker(env, concurrency=2, queues="bulk")
    started = time.monotonic()
    exports = []
    with broker_at(own_redis.url):
        for n, user in enumerate(users):
            job = jobs.export_job_create(owner=user, platform_slug="reddit", enqueue=False)
            # Half the fetches go to the other queue, and so to the other worker.
            app.send_task("exports.tasks.fetch_metadata", args=[str(job.id)], queue="bulk" if n % 2 else "celery")
            exports.append(job)
    finished = [wait_for_job(job, timeout=300) for job in exports]
    took = time.monotonic() - started
    assert [job.status for job in finished] == ["succeeded"] * 4, [job.error for job in finished]
    seen = stats(rig)
    busiest = most_in_any_window(seen["app_requests"]["reddit"], window)
    measured("seconds for 4 Reddit exports, 2 on each queue", round(took, 1))
    measured(f"429s past the app limit of {limit} requests in {window} s", seen["429"].get("reddit", 0))
    measured(f"most requests in any {window} s window", busiest)
    assert seen["429"].get("reddit", 0) == 0
    assert busiest <= limit


def test_a_youtube_export_pauses_at_the_daily_cap_and_resumes_when_the_day_rolls_over(
    rig, make_user, connect, own_redis, start_worker, settings, measured
):
    """YouTube at 5 units a day, 20 s a day: the export waits at the cap and finishes after the roll-over.

    The job page shows the reset time while it waits; nothing fails."""
    units, day = 5, 20
    settings.STAREXPORT = {**settings.STAREXPORT, "QUOTA_DAY_SECONDS": day}
    fresh_budget("youtube", daily_units=units)
    (user,) = people(make_user, connect, "youtube", 1, "quota")
    sandbox_config(rig, youtube_daily_units=units, youtube_day_seconds=day)
    start_worker(budget_env(rig, own_redis.url, settings, QUOTA_DAY_SECONDS=day), concurrency=1)
    started = time.monotonic()
    with broker_at(own_redis.url):
        job = jobs.export_job_create(owner=user, platform_slug="youtube")
    paused = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status not in ExportJob.RUNNING:
            break
        client = Client()
        client.force_login(user)
        page = client.get(f"/exports/{job.id}/").content.decode()
        if "daily quota for this site is used up" in page:
            paused.append((job.status, status_of(job)["eta_seconds"]))
        time.sleep(1)
    took = time.monotonic() - started
    seen = stats(rig)
    measured(f"seconds for a YouTube export with {units} units a day and a {day} s day", round(took, 1))
    measured("API calls YouTube answered", sum(n for p, n in seen["requests"].items() if "/youtube/v3/" in p))
    measured("seconds the job page showed the quota pause (polled each second)", len(paused))
    assert job.status == "succeeded", job.error
    assert paused and all(status == "fetching" for status, _ in paused)
    assert all(eta is not None and eta <= day + 5 for _, eta in paused), paused
