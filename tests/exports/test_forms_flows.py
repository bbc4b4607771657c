"""The export and schedule forms as a person meets them: one job per submit, bounds, connections
asked for before anything is saved, words that read well."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from exports import jobs, links, schedules
from exports.models import ExportJob, ExportSchedule
from platforms.facebook.extractor import graph_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user, platforms, connect):
    user = make_user("alice")
    connect(user, "reddit")
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def form_html(client, slug="reddit") -> str:
    return client.get(f"/exports/new/?platform={slug}").content.decode()


def input_tag(html: str, name: str, value: str | None = None) -> str:
    pattern = rf'<input[^>]*name="{name}"' + (rf'[^>]*value="{value}"' if value else "") + "[^>]*>"
    return re.search(pattern, html).group(0)


def test_the_same_form_sent_twice_starts_one_job(alice_client, alice):
    key = re.search(r'name="request_key" value="([0-9a-f]{32})"', form_html(alice_client)).group(1)
    data = {"platform": "reddit", "formats": ["json"], "request_key": key}
    first = alice_client.post("/exports/new/", data)
    second = alice_client.post("/exports/new/", data)
    assert ExportJob.objects.filter(owner=alice).count() == 1
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    # A new form is a new request.
    other = re.search(r'name="request_key" value="([0-9a-f]{32})"', form_html(alice_client)).group(1)
    assert other != key
    alice_client.post("/exports/new/", {**data, "request_key": other})
    assert ExportJob.objects.filter(owner=alice).count() == 2


def test_the_form_is_sent_once_by_the_browser(alice_client):
    html = form_html(alice_client)
    assert re.search(r"<form[^>]*data-once", html)
    assert "js/forms.js" in html


def test_the_record_limit_has_an_upper_bound(alice_client, alice, settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "MAX_RECORDS_LIMIT": 50_000}
    response = alice_client.post(
        "/exports/new/", {"platform": "reddit", "formats": ["json"], "max_records": "99999999999999999999999"}
    )
    assert response.status_code == 400
    assert "Ask for at most 50,000 records" in response.content.decode()
    assert not ExportJob.objects.filter(owner=alice).exists()
    assert 'max="50000"' in form_html(alice_client)


def test_a_platform_that_is_not_connected_is_refused_in_the_form_with_a_link_back(alice_client, alice):
    html = form_html(alice_client, "github")
    assert re.search(r'<fieldset class="bare" disabled>', html)
    assert f'href="{reverse("connected")}?next=/exports/new/%3Fplatform%3Dgithub">Connect GitHub</a>' in html
    assert not re.search(r'<fieldset class="bare" disabled>', form_html(alice_client, "reddit"))


def test_a_schedule_is_offered_only_for_connected_platforms(alice_client, alice):
    page = alice_client.get(reverse("exports:schedules"))
    choices = [value for value, _ in page.context["form"].fields["platform_slug"].choices]
    assert choices == ["reddit", "all"]  # and Everything, once one platform is connected
    assert "Connect a platform" in page.content.decode()
    refused = alice_client.post(reverse("exports:schedules"), {"platform_slug": "github", "frequency": "weekly"})
    assert refused.status_code == 400
    assert "not connected; connect it first" in refused.content.decode()
    assert not ExportSchedule.objects.exists()


def test_a_saved_schedule_reads_as_a_sentence(alice_client, alice):
    response = alice_client.post(
        reverse("exports:schedules"), {"platform_slug": "reddit", "frequency": "monthly"}, follow=True
    )
    html = response.content.decode()
    assert "Saved. Every month: Reddit export." in html
    assert "of alice" not in html


def test_platform_error_text_has_no_doubled_full_stop():
    error = graph_error("Facebook", 500, {"error": {"code": 2, "message": "Please retry your request later."}})
    assert ".." not in error.message
    assert "Please retry your request later. Trying again later should work." in error.message


def test_the_emailed_link_opened_as_someone_else_says_whose_it_is(alice, make_user):
    job = ExportJob.objects.create(owner=alice, platform_id="reddit", status=ExportJob.Status.SUCCEEDED)
    bob = Client()
    bob.force_login(make_user("bob"))
    response = bob.get(links.download_link(job))
    assert response.status_code == 404  # as every job URL is for another user
    html = response.content.decode()
    assert "This link is for <em>alice</em>" in html
    assert "Sign out and sign in as alice" in html
    # Without our link, another user's job stays a plain 404.
    assert bob.get(reverse("exports:download", args=[job.id])).status_code == 404
    assert bob.get(reverse("exports:download", args=[job.id]) + "?link=made-up").status_code == 404


def test_media_is_on_by_default_and_json_cannot_be_unticked(alice_client, platforms):
    html = form_html(alice_client)
    assert "checked" in input_tag(html, "include_media")
    json_box = input_tag(html, "formats", "json")
    assert "checked" in json_box and "disabled" in json_box
    assert "disabled" not in input_tag(html, "formats", "csv")


def test_labels_come_before_their_checkboxes(alice_client):
    html = form_html(alice_client)
    for label in re.findall(r'<label class="check"[^>]*>(.*?)</label>', html, re.S):
        assert label.strip().startswith("<span>"), label
        assert label.index("<span>") < label.index("<input")


def test_the_record_limit_and_the_connection_are_checked_by_the_services_too(alice, settings):
    """The command line and the API reach the services without the web form: they refuse the same."""
    settings.STAREXPORT = {**settings.STAREXPORT, "MAX_RECORDS_LIMIT": 50_000}
    with pytest.raises(jobs.ExportRequestError, match="at most 50,000 records"):
        jobs.export_job_create(owner=alice, platform_slug="reddit", options={"max_records": 10**23}, enqueue=False)
    with pytest.raises(jobs.ExportRequestError, match="GitHub is not connected"):
        schedules.schedule_save(owner=alice, platform_slug="github", frequency="weekly")
    assert not ExportJob.objects.filter(owner=alice).exists()
    assert not ExportSchedule.objects.exists()


def test_an_everything_schedule_needs_one_connected_platform(make_user, platforms):
    nobody = make_user("nobody")
    with pytest.raises(jobs.ExportRequestError, match="Connect at least one platform"):
        schedules.schedule_save(owner=nobody, platform_slug="all", frequency="weekly")
