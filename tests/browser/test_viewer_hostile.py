"""The offline viewer opened from file:// in Chromium, under its own CSP, with hostile records."""

import zipfile

import pytest

from exports import jobs, pipeline
from exports.models import ExportJob

pytestmark = pytest.mark.browser

HOSTILE_TITLES = [
    "<!--<script>",
    "</script><script>document.title='owned'</script>",
    "<img src=x onerror=\"document.title='owned'\">",
    "--><!--",
]


def test_hostile_records_cannot_blank_the_viewer_or_run_script(
    transactional_db, make_user, platforms, connect, sandbox, browser, tmp_path
):
    user = make_user("hana")
    connect(user, "reddit")
    job = jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    # The records are stored before the archive is written: hostile text goes in between.
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED
    for record, title in zip(job.records.order_by("position"), HOSTILE_TITLES * 10, strict=False):
        record.data = {**record.data, "title": title, "selftext": title, "url": "javascript:document.title='owned'"}
        record.save(update_fields=["data"])
    from exports.archive import archive_build

    result = archive_build(job)
    from django.core.files.storage import default_storage

    with zipfile.ZipFile(default_storage.path(result.name)) as archive:
        archive.extractall(tmp_path)

    # No bypass of the page's CSP: its script runs only because its hash is allowed.
    context = browser.new_context()
    page = context.new_page()
    violations, dialogs = [], []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((tmp_path / "index.html").as_uri())
    page.locator("article").first.wait_for()
    assert page.locator("article").count() == job.records_count
    titles = page.locator("article h3").all_inner_texts()
    assert any("<!--<script>" in t for t in titles)
    assert page.title() != "owned" and not dialogs
    assert page.locator("img[src=x]").count() == 0
    hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if not h.lower().startswith(("http://", "https://", "media/"))]
    # Images load from media/ beside the page, which the CSP allows.
    page.locator("article img").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    assert page.locator("article img").first.evaluate("i => i.complete && i.naturalWidth > 0")
    assert not violations, violations
    context.close()
