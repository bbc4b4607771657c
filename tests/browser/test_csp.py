"""The site under its Content-Security-Policy in Chromium: htmx still follows a job, nothing is blocked."""

import pytest

from exports.models import ExportJob

pytestmark = pytest.mark.browser


def test_htmx_follows_a_job_under_the_policy_without_a_single_violation(
    live_server, browser, make_user, platforms, shot
):
    user = make_user("pia")
    job = ExportJob.objects.create(
        owner=user, platform_id="github", formats=["json"], status=ExportJob.Status.FETCHING, step="Starting"
    )
    context = browser.new_context()
    page = context.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/accounts/login/")
    assert "frame-ancestors 'none'" in page.request.get(live_server.url + "/").headers["content-security-policy"]
    page.fill("input[name=login]", "pia")
    page.fill("input[name=password]", "pw-pia")
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    assert page.evaluate("typeof htmx") == "object"
    ExportJob.objects.filter(id=job.id).update(step="Fetching page 7 of repos", progress=42)
    # The page polls by itself (hx-trigger every 2s) and swaps the new state in.
    page.get_by_text("Fetching page 7 of repos").wait_for(timeout=15_000)
    shot(page, "job-under-csp")
    assert not violations, violations
    context.close()
