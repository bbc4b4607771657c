"""The offline viewer of a real Everything export reads like the platforms: titles in the record's
own words, kinds in plain words, dates in the reader's own form, a link to each original, images
that open large, a placeholder for each missing file, markdown and entities as text with links."""

import zipfile
from datetime import datetime, timedelta

import pytest
from django.core.files.storage import default_storage

from exports import jobs, pipeline
from exports.archive import archive_build
from exports.models import ExportJob, MediaFile
from tests.conftest import verify_archive

pytestmark = pytest.mark.browser

MARKDOWN = "See [the wiki](https://example.com/wiki) and r/DataHoarder.\n\n**Not bold** <b>not html</b>"


def test_the_viewer_of_an_everything_export_reads_like_the_platforms(
    transactional_db, make_user, platforms, connect, sandbox, browser, shot, tmp_path
):
    sandbox.sandbox.config.records = 8
    user = make_user("rosa")
    for slug in ("reddit", "twitter", "github"):
        connect(user, slug)
    job = pipeline.run_inline(
        jobs.export_job_create(owner=user, platform_slug="all", include_media=True, enqueue=False)
    )
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    reddit = job.parts.get(platform_id="reddit")
    # One post written in markdown, and one file the platform would not give (its reason kept).
    post = reddit.records.filter(resource="submitted").order_by("position").first()
    post.data = {**post.data, "selftext": MARKDOWN}
    post.save(update_fields=["data"])
    lost = reddit.media_files.filter(status=MediaFile.Status.DONE, kind="image").order_by("id").first()
    lost.status, lost.last_error = MediaFile.Status.FAILED, "Reddit answered 404 Not Found: the image was deleted"
    lost.save(update_fields=["status", "last_error"])
    result = archive_build(job)
    verify_archive(default_storage.path(result.name), "all", "--media")
    with zipfile.ZipFile(default_storage.path(result.name)) as archive:
        archive.extractall(tmp_path)

    # A reader in Tokyo with German settings, under the page's own CSP.
    context = browser.new_context(locale="de-DE", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "index.html").as_uri())
    page.locator("body[data-loaded]").wait_for()
    articles = page.locator("article")
    assert articles.count() == job.records_count
    assert "Everything export" in page.locator("h1").inner_text()

    # Titles in the record's own words: a post's title, a comment's first line; kinds in words.
    original = f'a.original[href="https://www.reddit.com{post.data["permalink"]}"]'
    post_card = articles.filter(has=page.locator(original))
    assert post_card.count() == 1
    assert post_card.locator("h3").inner_text().endswith(post.data["title"])  # "<exports>" as text
    comment = reddit.records.filter(resource="comments").order_by("position").first()
    comment_card = articles.filter(has=page.locator("h3", has_text=comment.data["body"].split("\n")[0])).first
    assert "Your comments" in comment_card.locator(".tag").inner_text()
    assert f"on “{comment.data['link_title']}”" in comment_card.locator(".context").inner_text()
    tags = set(page.locator("article .tag").all_inner_texts())
    assert {"Reddit · Your posts", "Reddit · Saved", "Twitter / X · Your posts", "GitHub · Your repositories"} <= tags

    # The date in the reader's form and time zone, never the ISO text.
    when = datetime.fromisoformat(post.timestamp.replace("Z", "+00:00")) + timedelta(hours=9)
    shown = post_card.locator("time").inner_text()
    assert post.timestamp not in shown
    assert when.strftime("%d.%m.%Y") in shown and when.strftime("%H:%M") in shown

    # Every record links to its original on the platform, over http(s) only.
    originals = page.locator("article a.original")
    assert originals.count() == job.records_count
    hrefs = originals.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith("https://") for h in hrefs)
    assert any(h.startswith("https://www.reddit.com/r/") for h in hrefs)
    assert any(h.startswith("https://x.com/i/web/status/") for h in hrefs)
    assert any(h.startswith("https://github.com/") for h in hrefs)

    # Markdown shown as text with its links; nothing of it becomes HTML.
    text = post_card.locator("p")
    assert "See the wiki and r/DataHoarder." in text.inner_text()
    assert "<b>not html</b>" in text.inner_text() and text.locator("b").count() == 0
    links = {a.inner_text(): a.get_attribute("href") for a in text.locator("a").all()}
    assert links == {"the wiki": "https://example.com/wiki", "r/DataHoarder": "https://www.reddit.com/r/DataHoarder"}
    # A post's entities: its hashtag and its t.co link, shown as the address it stands for.
    tweet = articles.filter(has=page.locator(".tag", has_text="Twitter / X · ")).first
    assert tweet.locator("a", has_text="#starexport").get_attribute("href") == "https://x.com/hashtag/starexport"
    assert "t.co/" not in " ".join(
        articles.filter(has=page.locator(".tag", has_text="Twitter / X · ")).all_inner_texts()
    )

    # The missing file: a placeholder with the reason, on the record that carried it.
    missing = page.locator(".media .missing")
    assert missing.count() == len(set(lost.record_ids)) > 0
    assert "the image was deleted" in missing.inner_text() and "Missing image" in missing.inner_text()
    shot(page, "viewer-readable")

    # Images open large by click and by keyboard; Escape closes.
    lightbox = page.locator("dialog#lightbox")
    page.locator("button.thumb").first.click()
    assert lightbox.evaluate("d => d.open")
    page.locator("dialog#lightbox img").wait_for()
    page.wait_for_timeout(200)
    assert page.locator("dialog#lightbox img").evaluate("i => i.complete && i.naturalWidth > 0")
    shot(page, "viewer-large-image")
    page.keyboard.press("Escape")
    assert not lightbox.evaluate("d => d.open")
    thumb = page.locator("button.thumb").nth(1)
    thumb.focus()
    page.keyboard.press("Enter")
    assert lightbox.evaluate("d => d.open")
    large = page.locator("dialog#lightbox img")
    assert large.get_attribute("src") == thumb.get_attribute("data-src")
    page.keyboard.press("ArrowRight")  # on to the next image on the page
    assert large.get_attribute("src") == page.locator("button.thumb").nth(2).get_attribute("data-src")
    page.keyboard.press("ArrowLeft")
    assert large.get_attribute("src") == thumb.get_attribute("data-src")
    page.keyboard.press("Escape")
    assert not lightbox.evaluate("d => d.open") and page.locator("dialog#lightbox img").count() == 0
    assert not errors, errors
    context.close()
