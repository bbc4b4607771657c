"""The library in a real browser: a real export fills it, a person searches it and opens a record."""

import re

import pytest

from exports import jobs, pipeline
from exports.models import ExportJob, LibraryRecord

pytestmark = pytest.mark.browser


def test_a_person_searches_the_library_and_opens_a_record_with_its_media(
    transactional_db, make_user, platforms, connect, sandbox, live_server, browser, shot
):
    user = make_user("libby")
    connect(user, "reddit")
    job = pipeline.run_inline(
        jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    )
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    # One of her comments, by the words of its text ("Comment 3: exports & backups > nothing.").
    records = list(LibraryRecord.objects.filter(owner=user))
    target = next(r for r in records if r.kind == "comments")
    words = " ".join(target.data["body"].split()[:2]).rstrip(":")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "libby")
    page.fill("input[name=password]", "pw-libby")
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")

    page.get_by_role("link", name="Library").click()
    page.wait_for_url(f"{live_server.url}/library/")
    assert page.locator("article.lib-record").count() == min(len(records), 50)
    assert page.locator("svg.lib-activity rect").count() > 0
    # Pictures come from the library's own storage and really load.
    page.wait_for_function("Array.from(document.images).some(i => i.src.includes('/library/media/') && i.complete)")
    assert page.evaluate(
        "Array.from(document.images).filter(i => i.src.includes('/library/media/')).some(i => i.naturalWidth > 0)"
    )
    shot(page, "library")

    page.fill("input[name=q]", words.lower())
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/library/\?q="))
    found = page.locator(f'article.lib-record[data-record="reddit/{target.external_id}"]')
    assert found.count() == 1
    assert [m.lower() for m in found.locator("mark").all_inner_texts()] == [w.lower() for w in words.split()]
    assert "match" in page.locator(".lib-count").inner_text()
    shot(page, "library-search")

    found.locator("h3 a").click()
    page.wait_for_url(re.compile(rf".*/library/reddit/{re.escape(target.external_id)}/.*"))
    assert words in page.locator(".lib-body").inner_text()
    assert page.locator("details summary").count() == 1
    shot(page, "library-record")
    context.close()
