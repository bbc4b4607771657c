"""With DEBUG off (production, and the demo) errors are the site's own friendly pages."""

from unittest import mock

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

DEBUG_MARKS = ["URLconf", "Traceback", "DEBUG = True", "settings.py", "REDIS_URL", "DATABASES", "Request Method"]


def friendly(response, status: int, heading: str) -> str:
    html = response.content.decode()
    assert response.status_code == status
    assert heading in html, html[:500]
    assert 'class="site-header"' in html and "/static/css/site.css" in html  # the site's own look
    assert not [mark for mark in DEBUG_MARKS if mark in html]
    return html


def test_a_missing_page_is_the_friendly_404(make_user):
    friendly(Client().get("/no-such-page/"), 404, "There is nothing here")
    client = Client()
    client.force_login(make_user("nia"))
    html = friendly(client.get("/exports/00000000-0000-0000-0000-000000000000/"), 404, "There is nothing here")
    assert "Sign out" in html


def test_a_bad_host_is_the_friendly_400():
    friendly(Client(HTTP_HOST="evil.example").get("/"), 400, "That request could not be understood")


def test_a_forged_post_is_the_friendly_403(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ola"))
    friendly(client.post("/exports/new/", {"platform": "github"}), 403, "You cannot do that here")


def test_a_server_error_is_the_friendly_500(make_user, platforms):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("pim"))
    with mock.patch("exports.views.selectors.jobs_for_owner", side_effect=RuntimeError("a bug")):
        html = friendly(client.get("/exports/"), 500, "Something went wrong on our side")
    assert "a bug" not in html
