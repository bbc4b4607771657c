"""The admin sits behind the site's own sign-in, with its rate limits and lockout (DESIGN §6)."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    # allauth keeps its sign-in limits in the cache; each test starts with none spent.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def test_the_admin_login_page_sends_visitors_to_the_sites_sign_in_with_next():
    response = Client().get("/admin/login/?next=/admin/exports/exportjob/")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/admin/exports/exportjob/"
    # The admin's index sends a visitor the same way, through the admin login URL.
    first = Client().get("/admin/", follow=True)
    assert first.redirect_chain[-1][0] == reverse("account_login") + "?next=/admin/"


def test_posting_a_password_to_the_admin_login_signs_nobody_in(make_user):
    make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw-root"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session


def test_an_off_site_next_is_not_followed():
    response = Client().get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == reverse("account_login") + "?next=/admin/"


def test_staff_sign_in_on_the_site_and_reach_the_admin(make_user):
    make_user("root", is_staff=True)
    client = Client()
    signed = client.post(reverse("account_login") + "?next=/admin/", {"login": "root", "password": "pw-root"})
    assert signed["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login/?next=/admin/exports/").headers["Location"] == "/admin/exports/"


def test_a_signed_in_user_who_is_not_staff_gets_403_not_a_loop(make_user):
    client = Client()
    client.force_login(make_user("pat"))
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert "You cannot do that here" in response.content.decode()


def test_wrong_passwords_for_a_staff_account_lock_it_as_on_the_site(make_user):
    """The attack as found: 25 wrong passwords then the right one. Now the sixth try is refused, right or not."""
    make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    login = client.get("/admin/login/?next=/admin/")["Location"]
    answers = [client.post(login, {"login": "root", "password": f"wrong-{i}"}) for i in range(25)]
    assert "Too many failed login attempts" in answers[5].content.decode()
    right = client.post(login, {"login": "root", "password": "pw-root"})
    assert "Too many failed login attempts" in right.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
