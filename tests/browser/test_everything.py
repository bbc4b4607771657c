"""The "Everything" export in a real browser: one form, a part per platform on the job page, one
archive that verifies."""

import pytest

from exports import links
from exports.models import ExportJob
from tests.conftest import verify_archive, wait_for_job

pytestmark = [pytest.mark.browser, pytest.mark.pipeline]


def test_a_person_exports_everything_and_sees_each_platform_on_the_job_page(
    live, make_user, connect, live_server, browser, shot
):
    user = make_user("evie")
    for slug in ("reddit", "github"):
        connect(user, slug)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "evie")
    page.fill("input[name=password]", "pw-evie")
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/exports/new/")
    page.get_by_role("link", name="Everything, in one archive").click()
    page.wait_for_url(f"{live_server.url}/exports/new/?platform=all")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/exports/" in url and "new" not in url)

    job = ExportJob.objects.get(owner=user, parent__isnull=True)
    assert job.platform_id == "all" and {p.platform_id for p in job.parts.all()} == {"reddit", "github"}
    # The parts run side by side on a real worker; the parent writes the archive.
    job = wait_for_job(job, timeout=240)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    parts = page.locator("#parts-heading + ul li")
    assert parts.count() == 2
    assert "GitHub" in parts.nth(0).inner_text() and "Reddit" in parts.nth(1).inner_text()
    shot(page, "everything-job")
    verify_archive(links.archive_location(job), "all", "--media")
