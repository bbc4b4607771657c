"""The time left, as status.json's `eta_seconds` and the job page's sentence, and each platform's
budget as the admin shows it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from exports.models import ExportJob
from platforms.budget import budget_for


@pytest.fixture
def owner(make_user, platforms):
    return make_user("ivy")


@pytest.fixture
def budgets():
    """Each platform's shared budget, emptied before and after the test."""
    used = []

    def get(slug):
        budget = budget_for(slug)
        budget.clear()
        used.append(budget)
        return budget

    yield get
    for budget in used:
        budget.clear()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def running_job(owner, slug="reddit", *, progress, seconds_ago, status="fetching", **extra):
    return ExportJob.objects.create(
        owner=owner,
        platform_id=slug,
        status=status,
        progress=progress,
        fetching_at=timezone.now() - timedelta(seconds=seconds_ago),
        **extra,
    )


def test_a_fetch_halfway_after_a_minute_has_about_a_minute_left(owner, budgets):
    budgets("reddit")
    job = running_job(owner, progress=40, seconds_ago=60)  # records only: fetching is 80 % of the bar
    body = client_for(owner).get(f"/exports/{job.id}/status.json").json()
    assert 55 <= body["eta_seconds"] <= 65
    page = client_for(owner).get(f"/exports/{job.id}/").content.decode()
    assert "About 1 min left: Reddit allows 1,000 requests every 10 min for this site." in page


def test_the_sentence_says_how_many_other_exports_share_the_budget(owner, make_user, budgets):
    budgets("reddit")
    for name in ("jon", "kai"):
        running_job(make_user(name), progress=10, seconds_ago=30)
    job = running_job(owner, progress=20, seconds_ago=120)
    page = client_for(owner).get(f"/exports/{job.id}/progress").content.decode()
    assert "2 other exports are using it too." in page


def test_a_finished_or_just_started_job_has_no_eta(owner, budgets):
    budgets("reddit")
    done = ExportJob.objects.create(owner=owner, platform_id="reddit", status="succeeded", progress=100)
    fresh = running_job(owner, progress=0, seconds_ago=1)
    assert client_for(owner).get(f"/exports/{done.id}/status.json").json()["eta_seconds"] is None
    assert client_for(owner).get(f"/exports/{fresh.id}/status.json").json()["eta_seconds"] is None
    assert "Estimating the time left" in client_for(owner).get(f"/exports/{fresh.id}/").content.decode()


def test_a_queued_job_counts_the_exports_ahead_of_it(owner, make_user, budgets):
    budgets("reddit")
    now = timezone.now()
    earlier = ExportJob.objects.create(
        owner=make_user("lea"), platform_id="reddit", status="succeeded", progress=100, formats=["json"]
    )
    ExportJob.objects.filter(id=earlier.id).update(
        fetching_at=now - timedelta(seconds=300), succeeded_at=now - timedelta(seconds=200)
    )
    running_job(make_user("max"), progress=10, seconds_ago=30)
    ExportJob.objects.create(owner=make_user("ned"), platform_id="reddit")  # queued before ours
    job = ExportJob.objects.create(owner=owner, platform_id="reddit")
    body = client_for(owner).get(f"/exports/{job.id}/status.json").json()
    # One export runs, one waits ahead: ours runs after it, each taking what the last one took.
    assert body["eta_seconds"] == 200
    assert "1 export is ahead of yours" in client_for(owner).get(f"/exports/{job.id}/").content.decode()


def test_a_youtube_job_waits_for_the_quota_reset_and_the_page_says_when(owner, budgets, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "QUOTA_DAY_SECONDS": 600}
    budgets("youtube").spend_day()
    job = running_job(owner, "youtube", progress=10, seconds_ago=10)
    body = client_for(owner).get(f"/exports/{job.id}/status.json").json()
    reset = budget_for("youtube").state()["spent_until"]
    wait = (reset - timezone.now()).total_seconds()
    assert wait - 2 <= body["eta_seconds"]
    page = client_for(owner).get(f"/exports/{job.id}/").content.decode()
    assert "YouTube&#x27;s daily quota for this site is used up" in page
    assert f"{reset:%H:%M} UTC" in page


def test_the_admin_shows_each_platforms_budget(platforms, budgets, client, settings):
    budgets("youtube")
    budget = budgets("reddit")
    budget.take("someone")
    budget.take("someone")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-password-1")
    client.force_login(admin)
    listing = client.get("/admin/platforms/platform/").content.decode()
    assert "2 used, 998 left of 1,000 per 600 s" in listing
    detail = client.get("/admin/platforms/platform/youtube/change/").content.decode()
    assert "units today 0 of 10,000" in detail, detail[detail.find("Budget now") :][:400]
    # A platform that looks down says until when every export leaves it alone.
    from platforms.outage import health_for

    settings.STAREXPORT = {**settings.STAREXPORT, "OUTAGE_REQUESTS": 2}
    for _ in range(2):
        health_for("reddit").record(False)
    assert "not answering: paused for every export until " in client.get("/admin/platforms/platform/").content.decode()


def test_where_the_budget_is_the_bottleneck_the_eta_is_the_requests_left_at_the_users_share(
    owner, make_user, connect, budgets, settings
):
    from platforms.client import budget_owner
    from platforms.models import Platform

    Platform.objects.filter(slug="reddit").update(rate_limit_per_hour=600, rate_window_seconds=60)  # 10 a minute
    settings.STAREXPORT = {**settings.STAREXPORT, "BUDGET_MARGIN_SECONDS": 0}
    budget = budgets("reddit")
    connect(owner, "reddit", token="ivy-reddit-token")
    for _ in range(4):
        budget.take(budget_owner("ivy-reddit-token"))
    for _ in range(6):
        budget.take("another user")  # the window is full now: the budget is the bottleneck
    job = running_job(owner, progress=40, seconds_ago=60)  # half of the fetch after 4 requests
    body = client_for(owner).get(f"/exports/{job.id}/status.json").json()
    # 4 requests still to make, one turn in two (two users), 10 requests a minute: 48 s.
    assert body["eta_seconds"] == 48
    assert (
        "Reddit allows 10 requests a minute for this site"
        in client_for(owner).get(f"/exports/{job.id}/").content.decode()
    )


def test_a_paused_platforms_job_waits_out_the_pause_first_and_says_until_when(owner, budgets, settings):
    from platforms.outage import health_for

    settings.STAREXPORT = {**settings.STAREXPORT, "OUTAGE_REQUESTS": 3, "OUTAGE_PAUSE_SECONDS": 120}
    budgets("reddit")
    job = running_job(
        owner,
        progress=57,  # half of the download's share of the bar
        seconds_ago=120,
        status="downloading",
        include_media=True,
        downloading_at=timezone.now() - timedelta(seconds=60),
    )
    for _ in range(3):
        health_for("reddit").record(False)  # three requests in a row without an answer
    body = client_for(owner).get(f"/exports/{job.id}/status.json").json()
    assert 170 <= body["eta_seconds"] <= 185  # the 2 min pause, then about a minute of downloads
    page = client_for(owner).get(f"/exports/{job.id}/").content.decode()
    assert "Reddit is not answering; trying again at " in page
    assert "(in 2 min)" in page
