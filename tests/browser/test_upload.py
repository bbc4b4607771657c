"""Uploading an official archive in the browser: in pieces, through a dropped connection, to a
finished import on a real worker."""

import re

import pytest

from exports.models import ExportJob, Upload
from tests.conftest import verify_archive, wait_for_job
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


def signed_in_page(browser, live_server, make_user, name: str):
    user = make_user(name)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", name)
    page.fill("input[name=password]", f"pw-{name}")
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    return user, context, page


def test_two_parts_of_a_takeout_chosen_together_are_one_import(
    live, live_server, browser, shot, make_user, settings, tmp_path
):
    from tests.exports.test_importing import split_takeout

    settings.STAREXPORT = {**settings.STAREXPORT, "UPLOAD_CHUNK_BYTES": 32 * 1024}
    paths = []
    for name, data in split_takeout()[:2]:
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    user, context, page = signed_in_page(browser, live_server, make_user, "tara")
    page.goto(f"{live_server.url}/exports/import/?platform=youtube")
    # Chosen in the wrong order: the page sends -001 first.
    page.set_input_files("input[name=file]", [str(p) for p in reversed(paths)])
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url(re.compile(r".*/exports/[0-9a-f-]{36}/$"), timeout=60_000)

    job = wait_for_job(ExportJob.objects.get(owner=user))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.upload_name.endswith("-001.zip") and len(job.options["upload_parts"]) == 1
    assert sorted(Upload.objects.filter(owner=user).values_list("filename", "job_id")) == sorted(
        (p.name, job.id) for p in paths
    )
    assert job.records.filter(resource="videos").count() == 5
    page.get_by_text("Download ZIP").wait_for(timeout=60_000)
    shot(page, "import-two-parts-job")
    context.close()


def test_a_text_file_named_zip_is_refused_beside_the_file_field(live, live_server, browser, shot, make_user, tmp_path):
    notes = tmp_path / "notes.zip"
    notes.write_text("My notes, renamed to look like an archive.\n" * 500)
    user, context, page = signed_in_page(browser, live_server, make_user, "theo")
    page.goto(f"{live_server.url}/exports/import/?platform=twitter")
    page.set_input_files("input[name=file]", str(notes))
    page.get_by_role("button", name="Upload and import").click()
    error = page.locator("#import-file-field .errorlist")
    error.wait_for(timeout=20_000)
    assert "notes.zip is not an archive: it holds plain text" in error.inner_text()
    assert page.locator("#import-file").get_attribute("aria-invalid") == "true"
    assert page.get_by_role("button", name="Upload and import").is_enabled()
    shot(page, "import-refused")
    assert not Upload.objects.filter(owner=user).exists()
    assert not ExportJob.objects.filter(owner=user).exists()
    context.close()
