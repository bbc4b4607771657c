"""When a job will finish: `eta_seconds` in status.json and the sentence on the job page.

- Where the platform's shared budget is the bottleneck, a fetch's time left is the requests it
  still needs (from the requests it made so far and how far it has come) at its turn's share of
  the budget's rate: the rate divided among the users drawing from it now.
- Otherwise a running step is extrapolated from its own pace (its share of the bar, since the
  step began), which already shows the platform's latency and the downloads' speed.
- A queued job: how long this platform's recent exports took and how many are ahead of it.
- Where the platform's daily quota is spent, the job waits for its reset, and the estimate says so.
- Where the platform looks down and is paused, the pause comes first, and the estimate says until when.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.tokens import decrypt, social_token
from exports.models import ExportJob
from exports.progress import FETCH_SHARE_NO_MEDIA, FETCH_SHARE_WITH_MEDIA, download_span
from platforms.budget import budget_for
from platforms.client import budget_owner
from platforms.outage import health_for

Status = ExportJob.Status
# Below this much of a step done, or this soon after it began, the pace says too little.
MIN_FRACTION, MIN_SECONDS = 0.04, 3.0


@dataclass
class Estimate:
    seconds: int | None
    sentence: str


def job_estimate(job: ExportJob, *, now: datetime | None = None) -> Estimate:
    if job.status not in ExportJob.RUNNING:
        return Estimate(None, "")
    now = now or timezone.now()
    budget = budget_for(job.platform_id)
    state = budget.state() if budget is not None else None
    seconds = _running_estimate(job, now, budget) if job.status != Status.QUEUED else _queued_estimate(job)
    sharing = ExportJob.objects.filter(
        platform_id=job.platform_id, status__in=(Status.FETCHING, Status.DOWNLOADING)
    ).exclude(id=job.id)
    ahead = ExportJob.objects.filter(
        platform_id=job.platform_id, status=Status.QUEUED, created_at__lt=job.created_at
    ).exclude(id=job.id)
    why = []
    if state is not None:
        why.append(f"{job.platform.display_name} allows {_rate(state)} for this site")
    others, queued = sharing.count(), ahead.count()
    if job.status == Status.QUEUED and queued:
        why.append(f"{queued} export{'s are' if queued != 1 else ' is'} ahead of yours")
    elif others:
        why.append(f"{others} other export{'s are' if others != 1 else ' is'} using it too")

    if state is not None and state["spent_until"]:
        until = state["spent_until"]
        wait = max(0, int((until - now).total_seconds()))
        seconds = wait + (seconds or 0)
        local = timezone.localtime(until, timezone.get_fixed_timezone(0))
        return Estimate(
            seconds,
            f"{job.platform.display_name}'s daily quota for this site is used up: the export waits for it "
            f"to come back at {local:%H:%M} UTC (in {_duration(wait)}), then goes on by itself.",
        )
    pause = health_for(job.platform_id).paused() if job.status == Status.DOWNLOADING else None
    if pause is not None:
        # The platform looks down: nothing moves until it is tried again.
        wait = int(pause.seconds_left)
        after = f", then about {_duration(seconds)} more" if seconds is not None else ""
        return Estimate(
            wait + (seconds or 0), f"{pause.sentence(job.platform.display_name)} (in {_duration(wait)}){after}."
        )
    if seconds is None:
        return Estimate(None, "Estimating the time left…" + (f" {_join(why)}." if why else ""))
    return Estimate(seconds, f"About {_duration(seconds)} left" + (f": {_join(why)}." if why else "."))


def _running_estimate(job: ExportJob, now: datetime, budget) -> int | None:
    if job.status == Status.FETCHING:
        started, low = job.fetching_at, 0
        high = FETCH_SHARE_WITH_MEDIA if job.include_media else FETCH_SHARE_NO_MEDIA
    elif job.status == Status.DOWNLOADING:
        started, (low, high) = job.downloading_at, download_span(job)
    else:
        return None  # the archive is written in one go, usually in seconds
    if started is None:
        return None
    fraction = (job.progress - low) / (high - low)
    elapsed = (now - started).total_seconds()
    if fraction < MIN_FRACTION or elapsed < MIN_SECONDS:
        return None
    fraction = min(fraction, 1.0)
    share = _budget_share(job, budget) if job.status == Status.FETCHING else None
    if share and share["bottleneck"] and share["requests"]:
        left = share["requests"] * (1 - fraction) / fraction
        return int(left * share["users"] / budget.per_second)
    return int(elapsed * (1 - fraction) / fraction)


def _budget_share(job: ExportJob, budget) -> dict | None:
    """The job's place in its platform's budget: requests made, users sharing, bottleneck or not."""
    if budget is None:
        return None
    token = social_token(job.owner, job.platform)
    if token is None:
        return None
    return budget.share(budget_owner(decrypt(token.token)))


def _queued_estimate(job: ExportJob) -> int | None:
    recent = (
        ExportJob.objects.filter(platform_id=job.platform_id, status=Status.SUCCEEDED, fetching_at__isnull=False)
        .order_by("-succeeded_at")
        .values_list("fetching_at", "succeeded_at")[:20]
    )
    took = [(done - began).total_seconds() for began, done in recent if done and began]
    if not took:
        return None
    running = ExportJob.objects.filter(
        platform_id=job.platform_id, status__in=(Status.FETCHING, Status.DOWNLOADING, Status.ARCHIVING)
    ).count()
    ahead = ExportJob.objects.filter(platform_id=job.platform_id, status=Status.QUEUED, created_at__lt=job.created_at)
    return int(statistics.median(took) * (1 + ahead.count() / max(1, running)))


def _rate(state: dict) -> str:
    window, requests = state["window_seconds"], state["requests"]
    unit = {60: "a minute", 3600: "an hour", 86400: "a day"}.get(window)
    if unit:
        return f"{requests:,} requests {unit}"
    return f"{requests:,} requests every {_duration(window)}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _join(parts: list[str]) -> str:
    return ", ".join(parts)
