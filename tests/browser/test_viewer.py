"""The offline viewer in the archive, opened from the unzipped folder with file://."""

import zipfile

import pytest

from exports import jobs, links, pipeline
from exports.models import ExportJob

pytestmark = pytest.mark.browser


def test_the_offline_viewer_shows_records_and_their_media_from_file(
    transactional_db, make_user, platforms, connect, sandbox, browser, shot, tmp_path
):
    user = make_user("viv")
    connect(user, "reddit")
    job = pipeline.run_inline(
        jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    )
    assert job.status == ExportJob.Status.SUCCEEDED
    with zipfile.ZipFile(links.archive_location(job)) as archive:
        archive.extractall(tmp_path)

    # The viewer's own CSP forbids eval, which Playwright's waiting helpers use.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto((tmp_path / "index.html").as_uri())
    page.wait_for_selector("article")
    assert page.locator("article").count() == job.records_count
    assert "Reddit export" in page.locator("h1").inner_text()
    # Images come from media/ beside index.html and really load (lazily: the first ones on screen).
    page.wait_for_function("document.images.length > 0 && document.images[0].complete")
    assert page.evaluate("document.images[0].naturalWidth") > 0
    sources = page.evaluate("Array.from(document.images).map(i => i.getAttribute('src'))")
    assert all(src.startswith("media/images/reddit/") and (tmp_path / src).exists() for src in sources)
    shot(page, "viewer")

    page.get_by_role("button", name="With videos").click()
    with_videos = page.locator("article").count()
    assert 0 < with_videos < job.records_count
    assert page.locator("article video").count() >= with_videos
    page.get_by_role("button", name="Text only").click()
    assert page.locator("article img, article video").count() == 0
    # Newest first.
    page.get_by_role("button", name="All").click()
    dated = page.locator("article time[datetime]").evaluate_all("times => times.map(t => t.dateTime)")
    assert dated and dated == sorted(dated, reverse=True)
    context.close()
