"""Scheduled exports: each schedule is a django-celery-beat PeriodicTask (schedules in the
database, editable in the admin) that starts an "only what is new" export; the owner is emailed
only when something new arrived."""

from __future__ import annotations

import json

from django.db import transaction
from django.db.models import Q
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.tokens import connection_state
from exports import jobs
from exports.models import EVERYTHING, ExportSchedule
from platforms.models import Platform

# Every schedule runs at night (UTC); the minute is spread by id so they do not all start at once.
HOUR = 3


def _crontab(schedule: ExportSchedule) -> CrontabSchedule:
    minute = str(schedule.id * 7 % 60)
    fields = {"minute": minute, "hour": str(HOUR), "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
    if schedule.frequency == ExportSchedule.Frequency.WEEKLY:
        fields["day_of_week"] = "1"
    elif schedule.frequency == ExportSchedule.Frequency.MONTHLY:
        fields["day_of_month"] = "1"
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **fields)
    return crontab


def schedule_save(
    *,
    owner,
    platform_slug: str,
    frequency: str,
    include_media: bool = True,
    formats: list[str] | None = None,
    destinations: list[int] | None = None,
    age_recipient: str = "",
    age_passphrase: str = "",
) -> ExportSchedule:
    """Create or change the owner's schedule for a platform. `destinations`: the ids ticked on the
    form (None: not chosen, so each run goes where the destinations themselves say)."""
    offered = Platform.objects.filter(Q(enabled=True) | Q(slug=EVERYTHING))
    platform = offered.filter(slug=platform_slug).first()
    if platform is None:
        raise jobs.ExportRequestError(f"Unknown platform {platform_slug!r}.", field="platform")
    if frequency not in ExportSchedule.Frequency.values:
        raise jobs.ExportRequestError(f"Unknown frequency {frequency!r}.", field="frequency")
    connection_required(owner, platform)
    include_media = include_media and platform.supports_media
    # A passphrase becomes one key pair now; each run's archive is encrypted to its public half.
    options = jobs.encryption_clean({"age_recipient": age_recipient, "age_passphrase": age_passphrase})
    if destinations is not None:
        options.update(jobs.destinations_clean(owner, {"destinations": destinations}))
        # Kept as what was left unticked, so a destination added later for "every export" gets
        # this schedule's archives too.
        every = set(owner.destinations.every_export().values_list("id", flat=True))
        options["destinations_skipped"] = sorted(every - set(options["destinations"]))
    with transaction.atomic():
        schedule, _ = ExportSchedule.objects.update_or_create(
            owner=owner,
            platform=platform,
            defaults={
                "frequency": frequency,
                "include_media": include_media,
                "formats": formats or ["json", "csv"],
                "options": options,
                "enabled": True,
            },
        )
        task = schedule.periodic_task or PeriodicTask(name=f"export-schedule-{schedule.id}")
        task.task = "exports.tasks.run_schedule"
        task.crontab = _crontab(schedule)
        task.interval = None
        task.args = json.dumps([schedule.id])
        task.enabled = True
        task.description = str(schedule)
        task.save()
        if schedule.periodic_task_id != task.id:
            schedule.periodic_task = task
            schedule.save(update_fields=["periodic_task"])
    return schedule


def connection_required(owner, platform: Platform) -> None:
    """A schedule for a platform that is not connected could only fail: refuse to save it."""
    if platform.slug == EVERYTHING:
        others = Platform.objects.filter(enabled=True).exclude(slug=EVERYTHING)
        if not any(connection_state(owner, p) == "connected" for p in others):
            raise jobs.ExportRequestError(
                "Connect at least one platform first: an Everything schedule would have nothing to export.",
                field="platform_slug",
            )
        return
    if connection_state(owner, platform) != "connected":
        raise jobs.ExportRequestError(
            f"{platform.display_name} is not connected; connect it first (a schedule for it could only fail).",
            field="platform_slug",
        )


def schedule_delete(schedule: ExportSchedule) -> None:
    with transaction.atomic():
        if schedule.periodic_task_id:
            PeriodicTask.objects.filter(id=schedule.periodic_task_id).delete()
        schedule.delete()


def schedule_run(schedule: ExportSchedule):
    """Start the schedule's export now; None when it cannot run (the reason is on the schedule's
    platform connection or the user's running-jobs limit, both shown on the schedules page)."""
    if not schedule.enabled:
        return None
    try:
        job = jobs.export_job_create(
            owner=schedule.owner,
            platform_slug=schedule.platform_id,
            formats=schedule.formats,
            include_media=schedule.include_media,
            options={"only_new": True, "scheduled": True, **schedule_job_options(schedule)},
        )
    except jobs.ExportRequestError:
        return None
    ExportSchedule.objects.filter(id=schedule.id).update(last_job=job)
    return job


def schedule_job_options(schedule: ExportSchedule) -> dict:
    """What a run's job takes from its schedule: the encryption, and where its archive goes."""
    options = {key: schedule.options[key] for key in ("age_recipient", "age_key") if schedule.options.get(key)}
    if schedule.options.get("destinations") is not None:
        mine = schedule.owner.destinations
        ticked = set(mine.filter(id__in=schedule.options["destinations"]).values_list("id", flat=True))
        skipped = schedule.options.get("destinations_skipped", [])
        every = set(mine.every_export().exclude(id__in=skipped).values_list("id", flat=True))
        options["destinations"] = sorted(ticked | every)
    return options


def schedule_run_by_id(schedule_id: int) -> str | None:
    """The periodic task's entry: the started job's id, or None."""
    schedule = ExportSchedule.objects.select_related("owner", "platform").filter(id=schedule_id).first()
    job = schedule_run(schedule) if schedule else None
    return str(job.id) if job else None
