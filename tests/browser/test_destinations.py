"""Choosing where an archive goes, in a real browser: the export form ticks the destinations that
receive every export, leaves the others for the person to tick, and the job keeps the choice."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.tokens import encrypt
from api.models import Destination
from exports.models import ExportJob
from tests.conftest import seed_platforms

pytestmark = pytest.mark.browser


def test_the_export_form_offers_each_destination_and_the_job_keeps_the_choice(
    transactional_db, browser, live_server, connect, shot
):
    seed_platforms()
    dora = get_user_model().objects.create_user("dora", "dora@example.com", "a-long-pass-phrase-42")
    connect(dora, "github")

    def destination(name, mode):
        return Destination.objects.create(
            owner=dora, name=name, kind="webdav", endpoint_url="https://dav.example.org/remote.php/dav",
            prefix="Backups", access_key="dora", secret_key=encrypt("secret"), mode=mode,
        )  # fmt: skip

    nas = destination("nas", Destination.Mode.EVERY)
    offsite = destination("offsite", Destination.Mode.CHOSEN)

    client = Client()
    client.force_login(dora)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/exports/new/?platform=github")

    box = {d.name: page.locator(f'input[name="destinations"][value="{d.id}"]') for d in (nas, offsite)}
    assert box["nas"].is_checked() and not box["offsite"].is_checked()
    assert page.get_by_text("nas (WebDAV)").is_visible() and page.get_by_text("offsite (WebDAV)").is_visible()
    shot(page, "new-export-destinations-390")

    # This time the copy goes off-site only.
    box["nas"].uncheck()
    box["offsite"].check()
    page.get_by_role("button", name="Start export").click()
    page.wait_for_url("**/exports/*/")
    job = ExportJob.objects.get(owner=dora)
    assert job.options["destinations"] == [offsite.id]
    context.close()
