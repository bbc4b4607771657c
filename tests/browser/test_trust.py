"""Pages people trust, in a real browser at desktop and phone widths (no worker needed: the jobs
are written as the pipeline leaves them)."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from exports.models import ExportJob
from tests.conftest import seed_platforms
from tests.exports.test_status_pages import job_with_files

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db):
    seed_platforms()
    return get_user_model().objects.create_user("demo", "demo@example.com", "a-long-pass-phrase-42")


@pytest.fixture
def signed_in(browser, live_server):
    """A browser context signed in as `user` at the given viewport."""
    contexts = []

    def open_as(user, viewport=DESKTOP):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport=viewport)
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        contexts.append(context)
        return context.new_page()

    yield open_as
    for context in contexts:
        context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_job_with_missing_files_wears_a_warning_not_a_green_success(demo, signed_in, live_server, shot, viewport):
    job = job_with_files(
        demo,
        done=73,
        failed=3,
        records_count=40,
        step="Done: 40 records, 73 media files",
        options={"only_new": True},
        new_records=4,
        media_reused=70,
        media_reused_bytes=70_000,
    )
    page = signed_in(demo, viewport)
    page.goto(live_server.url + job.get_absolute_url())
    badge = page.locator("#job-progress .badge")
    assert badge.inner_text() == "Completed — 3 of 76 files missing"
    ok = page.evaluate("getComputedStyle(document.body).getPropertyValue('--ok').trim()")
    assert badge.evaluate("el => getComputedStyle(el).color") != page.evaluate(
        "c => { const d = document.createElement('span'); d.style.color = c; document.body.append(d);"
        " const v = getComputedStyle(d).color; d.remove(); return v; }",
        ok,
    )
    assert "badge-partial" in badge.get_attribute("class")
    # The tiles keep one height.
    heights = page.locator(".counter").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) - min(heights) < 2
    shot(page, f"job-missing-{viewport['width']}")
    page.goto(live_server.url + "/exports/")
    assert page.locator("td[data-label=Status] .badge").first.inner_text() == "Completed — 3 of 76 files missing"
    page.goto(live_server.url + "/")
    assert page.locator("td[data-label=Status] .badge").first.inner_text() == "Completed — 3 of 76 files missing"


def test_cancel_asks_first_and_a_cancelled_job_is_grey_and_offers_to_start_again(demo, signed_in, live_server, shot):
    job = ExportJob.objects.create(
        owner=demo,
        platform_id="reddit",
        formats=["json"],
        status=ExportJob.Status.FETCHING,
        progress=30,
        step="Fetching",
    )
    page = signed_in(demo)
    page.goto(live_server.url + job.get_absolute_url())
    assert page.get_by_text("Your Reddit export has started").is_visible()

    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel Reddit export").click()
    page.wait_for_timeout(300)
    assert questions and questions[0].startswith("Cancel this Reddit export?")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FETCHING

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel Reddit export").click()
    page.get_by_text("Start again").wait_for()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.CANCELED
    assert page.locator("#job-progress .badge").inner_text() == "Cancelled"
    assert page.locator("progress").count() == 0
    assert not page.get_by_text("has started").count()
    shot(page, "job-cancelled")
    page.get_by_role("link", name="Start again").click()
    page.wait_for_url(f"{live_server.url}/exports/new/?platform=reddit")


def test_a_double_click_on_start_export_starts_one_job(demo, signed_in, live_server, connect, shot):
    connect(demo, "reddit")
    page = signed_in(demo, PHONE)
    page.goto(f"{live_server.url}/exports/new/?platform=reddit")
    assert page.locator("input[name=include_media]").is_checked()
    assert page.locator("input[name=formats][value=json]").is_disabled()
    shot(page, "new-export-390")
    page.get_by_role("button", name="Start export").dblclick()
    page.wait_for_url(f"{live_server.url}/exports/*/")
    page.wait_for_timeout(500)
    assert ExportJob.objects.filter(owner=demo).count() == 1


def test_the_export_form_for_a_platform_not_connected_cannot_be_sent(demo, signed_in, live_server):
    page = signed_in(demo)
    page.goto(f"{live_server.url}/exports/new/?platform=github")
    assert page.get_by_role("button", name="Start export").is_disabled()
    assert page.get_by_role("link", name="Connect GitHub").is_visible()


def test_the_header_folds_into_a_menu_on_a_phone(demo, signed_in, live_server, shot):
    page = signed_in(demo, PHONE)
    page.goto(live_server.url + "/")
    header = page.locator(".site-header")
    assert header.bounding_box()["height"] < 80
    assert not page.get_by_role("link", name="My exports").is_visible()
    shot(page, "dashboard-390")
    page.get_by_text("Menu").click()
    page.get_by_role("link", name="My exports").click()
    page.wait_for_url(f"{live_server.url}/exports/")

    wide = signed_in(demo, DESKTOP)
    wide.goto(live_server.url + "/")
    assert not wide.get_by_text("Menu").is_visible()
    name = wide.locator(".nav-user .nav-username").bounding_box()
    sign_out = wide.get_by_role("button", name="Sign out").bounding_box()
    assert abs((name["y"] + name["height"]) - (sign_out["y"] + sign_out["height"])) < 3


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_connections_are_one_page_of_cards(demo, signed_in, live_server, connect, oauth_apps, shot, viewport):
    account = connect(demo, "reddit")
    account.extra_data = {"name": "demo_on_reddit"}
    account.save()
    page = signed_in(demo, viewport)
    page.goto(live_server.url + "/accounts/connected/")
    reddit = page.locator("#connection-reddit")
    assert "Connected as demo_on_reddit" in reddit.inner_text()
    assert page.locator("#connection-youtube h2").inner_text() == "YouTube (Google account)"
    shot(page, f"connections-{viewport['width']}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    reddit.get_by_role("button", name="Disconnect").click()
    page.wait_for_timeout(300)
    assert account.__class__.objects.filter(pk=account.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    reddit.get_by_role("button", name="Disconnect").click()
    page.locator("#connection-reddit").get_by_text("Not connected").first.wait_for()
    assert not account.__class__.objects.filter(pk=account.pk).exists()


def test_a_finished_export_is_deleted_from_the_history_after_confirmation(demo, signed_in, live_server, shot):
    job = job_with_files(demo, done=2, failed=0, records_count=5)
    page = signed_in(demo, DESKTOP)
    page.goto(live_server.url + "/exports/")
    shot(page, "history-1280")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete the Reddit export").click()
    page.wait_for_timeout(300)
    assert ExportJob.objects.filter(id=job.id).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete the Reddit export").click()
    page.get_by_text("The Reddit export and its archive were deleted.").wait_for()
    assert not ExportJob.objects.filter(id=job.id).exists()
