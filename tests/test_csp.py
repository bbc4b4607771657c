"""Every page carries a strict Content-Security-Policy, and no page needs what it forbids."""

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from exports.models import ExportJob

pytestmark = pytest.mark.django_db

REQUIRED = {
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy", "")
    return {
        d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in (p.strip() for p in header.split(";")) if d
    }


class InlineCode(HTMLParser):
    """Inline scripts, event-handler attributes, style attributes and javascript: URLs of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            kind = (attrs.get("type") or "").lower()
            self._in_script = "src" not in attrs and kind not in ("application/json", "application/ld+json")
        for name, value in attrs.items():
            if name.startswith("on") or name == "style" or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"<script>{data.strip()[:40]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


@pytest.fixture
def pages(platforms, make_user, connect):
    user = make_user("cleo", is_staff=True, is_superuser=True)
    connect(user, "github")
    running = ExportJob.objects.create(owner=user, platform_id="github", formats=["json"], status="fetching")
    signed_in = Client(raise_request_exception=False)
    signed_in.force_login(user)
    visitor = Client(raise_request_exception=False)
    return [
        (visitor, "/"),
        (visitor, reverse("account_login")),
        (visitor, reverse("account_signup")),
        (visitor, reverse("account_reset_password")),
        (visitor, "/no-such-page/"),
        (signed_in, "/"),
        (signed_in, "/no-such-page/"),
        (signed_in, reverse("exports:list")),
        (signed_in, reverse("exports:new") + "?platform=github"),
        (signed_in, reverse("exports:new")),
        (signed_in, reverse("exports:detail", args=[running.id])),
        (signed_in, reverse("exports:progress", args=[running.id])),
        (signed_in, reverse("exports:import")),
        (signed_in, reverse("exports:schedules")),
        (signed_in, reverse("connected")),
        (signed_in, reverse("socialaccount_connections")),
        (signed_in, reverse("account_email")),
        (signed_in, reverse("account_change_password")),
        (signed_in, "/admin/"),
    ]


def test_every_page_sends_a_strict_policy(pages):
    for client, url in pages:
        response = client.get(url)
        found = policy(response)
        for directive, value in REQUIRED.items():
            assert found.get(directive) == value, (url, directive, response.get("Content-Security-Policy"))
        assert "unsafe-inline" not in found.get("script-src", "") and "unsafe-eval" not in str(found), url


def test_no_page_of_ours_has_inline_script_or_handlers_the_policy_would_block(pages):
    for client, url in pages:
        if url.startswith("/admin/"):
            continue  # Django's own admin pages
        html = client.get(url).content.decode()
        assert InlineCode(html).found == [], url


def test_htmx_is_told_to_use_neither_inline_styles_nor_eval(pages):
    client, url = pages[5]
    html = client.get(url).content.decode()
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html
