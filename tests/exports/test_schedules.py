import json

import pytest
from django_celery_beat.models import PeriodicTask

from exports import jobs, pipeline, schedules
from exports.models import ExportJob, ExportSchedule


@pytest.fixture
def sam(make_user, platforms, connect):
    user = make_user("sam")
    connect(user, "reddit")
    return user


def test_a_schedule_is_a_periodic_task_in_the_database(sam):
    schedule = schedules.schedule_save(owner=sam, platform_slug="reddit", frequency="weekly")
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.task == "exports.tasks.run_schedule"
    assert json.loads(task.args) == [schedule.id]
    assert task.crontab.day_of_week == "1" and task.crontab.hour == "3"
    # Saving again changes the same schedule and task.
    again = schedules.schedule_save(owner=sam, platform_slug="reddit", frequency="monthly")
    assert again.id == schedule.id
    assert PeriodicTask.objects.get(id=again.periodic_task_id).crontab.day_of_month == "1"
    schedules.schedule_delete(again)
    assert not PeriodicTask.objects.filter(id=task.id).exists()


def test_a_scheduled_run_starts_an_only_new_export(sam):
    schedule = schedules.schedule_save(owner=sam, platform_slug="reddit", frequency="daily")
    job = schedules.schedule_run(schedule)
    assert job.options == {"only_new": True, "scheduled": True}
    assert job.include_media
    # Nobody is watching it: its requests yield their turns to exports people are waiting for.
    from exports.downloading import downloader_for
    from exports.fetch import api_client_for

    assert api_client_for(job).background and downloader_for(job).background
    watched = jobs.export_job_create(owner=sam, platform_slug="reddit", enqueue=False)
    assert not api_client_for(watched).background
    schedule.refresh_from_db()
    assert schedule.last_job_id == job.id


def test_a_scheduled_export_emails_only_when_something_new_arrived(transactional_db, sam, sandbox, mailoutbox):
    def scheduled_run():
        job = jobs.export_job_create(
            owner=sam,
            platform_slug="reddit",
            include_media=True,
            options={"only_new": True, "scheduled": True},
            enqueue=False,
        )
        return pipeline.run_inline(job)

    first = scheduled_run()
    assert first.status == ExportJob.Status.SUCCEEDED and first.new_records > 0
    assert len(mailoutbox) == 1
    second = scheduled_run()
    assert second.status == ExportJob.Status.SUCCEEDED and second.new_records == 0
    assert len(mailoutbox) == 1  # nothing new: no email


def test_the_schedules_page_adds_and_removes_a_schedule(client, sam, make_user):
    client.force_login(sam)
    assert client.get("/exports/schedules/").status_code == 200
    response = client.post(
        "/exports/schedules/", {"platform_slug": "reddit", "frequency": "daily", "include_media": "on"}
    )
    assert response.status_code == 302
    schedule = ExportSchedule.objects.get(owner=sam)
    assert "Every day" in client.get("/exports/schedules/").content.decode()
    other = make_user("olga")
    client.force_login(other)
    assert client.post(f"/exports/schedules/{schedule.id}/delete").status_code == 404
    client.force_login(sam)
    client.post(f"/exports/schedules/{schedule.id}/delete")
    assert not ExportSchedule.objects.filter(id=schedule.id).exists()
