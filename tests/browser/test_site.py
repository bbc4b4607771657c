"""The site in a real browser, against the live server, the sandbox and a real worker."""

import re
import time

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import MAIL_DIR, verify_archive

pytestmark = [pytest.mark.browser, pytest.mark.pipeline]


def sign_up(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", f"{username}@example.com")
    page.fill("input[name=username]", username)
    page.fill("input[name=password1]", "a-long-pass-phrase-42")
    page.fill("input[name=password2]", "a-long-pass-phrase-42")
    page.locator("form").filter(has=page.locator("input[name=username]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{base}/")


def emailed_link(job_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sorted(MAIL_DIR.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
            text = message.read_text(errors="replace")
            match = re.search(rf"https?://[^\s\"<>]+(/exports/{job_id}/download\?link=[^\s\"<>]+)", text)
            if match:
                return match.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no email with a download link for {job_id}")


@pytest.fixture
def providers_on_sandbox(live, settings, monkeypatch):
    """allauth's providers pointed at the sandbox process, as STAREXPORT_SANDBOX does at start-up."""
    import copy

    from platforms.oauth import sandbox_provider_settings
    from tests.accounts.test_oauth_sandbox import frozen_urls, resolve, without_apps

    providers = copy.deepcopy(without_apps(settings.SOCIALACCOUNT_PROVIDERS))
    sandbox_provider_settings(providers, live)
    settings.SOCIALACCOUNT_PROVIDERS = providers
    for key, url in frozen_urls(providers).items():
        monkeypatch.setattr(*resolve(key), url)


def test_a_person_signs_up_exports_with_media_follows_the_emailed_link_and_others_are_refused(
    live, live_server, providers_on_sandbox, browser, shot, connect, platforms, tmp_path
):
    base = live_server.url
    alice = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = alice.new_page()
    page.goto(base + "/")
    assert "Star Export" in page.title()
    shot(page, "landing")

    sign_up(page, base, "anna")
    user = get_user_model().objects.get(username="anna")
    # Connecting goes through allauth's real OAuth flow, with the sandbox as the platform.
    page.get_by_role("link", name="Connect Reddit").click()
    page.locator("form button[type=submit]").last.click()  # allauth asks before it leaves the site
    page.wait_for_url(re.compile(rf"{re.escape(base)}/.*"))
    page.goto(base + "/")
    assert page.locator("#platform-reddit").count() == 1
    assert "Export Reddit" in page.content()
    connect(user, "github")
    github = platforms["github"]
    github.supports_media = False
    github.save()

    page.goto(f"{base}/exports/new/?platform=github")
    assert page.locator("input[name=include_media]").count() == 0
    page.goto(f"{base}/exports/new/?platform=reddit")
    media_box = page.locator("input[name=include_media]")
    assert media_box.count() == 1
    assert "Include media files (images and videos)" in page.content()
    shot(page, "new-export")
    media_box.check()
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/exports/[0-9a-f-]{36}/$"))
    job_url = page.url
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    # The page follows the job by itself (htmx polling) until it is done.
    page.get_by_text("Download ZIP").wait_for(timeout=120_000)
    assert "Done:" in page.content()
    shot(page, "job")

    link = emailed_link(job_id)
    with page.expect_download() as download_info:
        page.evaluate("url => { window.location.href = url }", base + link)
    path = tmp_path / "export.zip"
    download_info.value.save_as(path)
    verify_archive(path, "reddit", "--media")

    page.goto(base + "/")
    shot(page, "dashboard")
    page.goto(f"{base}/exports/")
    shot(page, "history")

    bob = browser.new_context()
    other = bob.new_page()
    sign_up(other, base, "bert")
    for url in (job_url, f"{job_url}status.json", f"{job_url}download"):
        response = other.goto(url)
        assert response.status == 404, url
    # The emailed link is refused too, with a page that says whose it is.
    response = other.goto(base + link)
    assert response.status == 404
    assert "This link is for anna" in other.locator("h1").inner_text()
    shot(other, "refused")
    tampered = page.goto(base + link[:-3] + "xyz")
    assert tampered.status == 400
    bob.close()
    alice.close()
