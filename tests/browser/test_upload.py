"""Uploading an official archive in the browser: in pieces, through a dropped connection, to a
finished import on a real worker."""

import re

import pytest

from exports.models import ExportJob
from tests.conftest import verify_archive
from tests.fixtures.archives import x_archive_members, zip_bytes

pytestmark = [pytest.mark.browser, pytest.mark.pipeline]


def test_an_x_archive_uploaded_in_the_browser_survives_a_dropped_connection_and_is_imported(
    live, live_server, browser, shot, make_user, settings, tmp_path
):
    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_CHUNK_BYTES": 32 * 1024}
    archive = tmp_path / "twitter-2024-archive.zip"
    archive.write_bytes(zip_bytes(x_archive_members()))
    user = make_user("ulla")

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "ulla")
    page.fill("input[name=password]", "pw-ulla")
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")

    assert archive.stat().st_size > 3 * 32 * 1024
    # The second piece is lost on the way, once: the page must ask where to resume and go on.
    dropped = []

    def drop_once(route):
        if route.request.method == "PUT" and "offset=32768" in route.request.url and not dropped:
            dropped.append(route.request.url)
            return route.abort("connectionreset")
        return route.continue_()

    page.route(re.compile(r".*/exports/import/uploads/.*"), drop_once)
    page.goto(f"{live_server.url}/exports/import/?platform=twitter")
    page.set_input_files("input[name=file]", str(archive))
    shot(page, "import")
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url(re.compile(r".*/exports/[0-9a-f-]{36}/$"), timeout=60_000)
    assert dropped, "the dropped piece was never sent"

    job = ExportJob.objects.get(owner=user)
    assert job.source == ExportJob.Source.ARCHIVE and job.upload_size == archive.stat().st_size
    page.get_by_text("Download ZIP").wait_for(timeout=120_000)
    shot(page, "import-job")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    from exports import links

    verify_archive(links.archive_location(job), "twitter", "--media")
    context.close()
