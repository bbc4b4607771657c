"""A URL from a platform or an archive becomes a link only when it is http(s) (issue: stored XSS
through a media URL such as `javascript:alert(document.domain)//`)."""

from html.parser import HTMLParser

import pytest
from django.core import mail
from django.test import Client

from exports import notify
from exports.models import ExportJob, MediaFile
from tests.platforms.test_safety import HOSTILE

pytestmark = pytest.mark.django_db
# PostgreSQL text holds no NUL, so no stored URL can carry one.
STORABLE = [url for url in HOSTILE if "\x00" not in url]


class Links(HTMLParser):
    """Every URL-carrying attribute of a page."""

    ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "srcset", "data", "xlink:href"}

    def __init__(self, html: str):
        super().__init__()
        self.urls: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.urls += [value or "" for name, value in attrs if name in self.ATTRIBUTES]


def not_web_or_site(urls: list[str]) -> list[str]:
    """The URLs a browser would not read as a page of this site or an http(s) address."""
    return [u for u in urls if not (u.startswith(("/", "#", "?")) or u.lower().startswith(("http://", "https://")))]


@pytest.fixture
def failed_job(platforms, make_user):
    owner = make_user("xena")
    job = ExportJob.objects.create(
        owner=owner, platform_id="twitter", formats=["json"], status=ExportJob.Status.SUCCEEDED, progress=100
    )
    for index, url in enumerate([*STORABLE, "https://pbs.twimg.com/media/ok.jpg"]):
        MediaFile.objects.create(
            job=job,
            media_id=f"m{index}",
            source_url=url,
            kind="video" if index % 2 else "image",
            record_ids=[f"t{index}"],
            status=MediaFile.Status.FAILED,
            last_error="Not downloaded",
        )
    ExportJob.objects.filter(id=job.id).update(media_total=len(STORABLE) + 1, media_failed=len(STORABLE) + 1)
    job.refresh_from_db()
    return job


def test_the_job_page_links_no_media_url_that_is_not_http(failed_job):
    client = Client()
    client.force_login(failed_job.owner)
    html = client.get(failed_job.get_absolute_url()).content.decode()
    assert not_web_or_site(Links(html).urls) == []
    # Shown, as text: the person sees which file it was and what its URL said.
    assert "m0" in html and "javascript:alert(document.domain)//" in html
    # A real http(s) URL is still a link.
    assert 'href="https://pbs.twimg.com/media/ok.jpg"' in html


def test_the_progress_fragment_htmx_swaps_in_links_no_such_url_either(failed_job):
    client = Client()
    client.force_login(failed_job.owner)
    html = client.get(f"/exports/{failed_job.id}/progress", headers={"HX-Request": "true"}).content.decode()
    assert not_web_or_site(Links(html).urls) == []


def test_the_email_links_no_such_url(failed_job, settings):
    settings.SITE_URL = "https://export.example"
    assert notify.job_notify(failed_job)
    html = mail.outbox[-1].alternatives[0][0]
    assert not_web_or_site(Links(html).urls) == []
    assert "javascript:" not in html.lower()
