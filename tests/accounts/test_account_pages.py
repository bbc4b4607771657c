"""Sign-in, account and connection pages in the site's own words, and deleting what is yours."""

import re

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from exports.models import ExportJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("oauth_apps")]


@pytest.fixture
def alice(make_user, platforms, connect):
    user = make_user("alice")
    account = connect(user, "reddit")
    account.extra_data = {"name": "spez_fan", "id": "t2_1"}
    account.save()
    return user


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_sign_in_and_sign_up_speak_the_sites_words(client, platforms):
    login = client.get(reverse("account_login")).content.decode()
    assert "<h1>Sign in</h1>" in login
    for stock in ["Login:", "Remember Me:", "third-party", "Sign In"]:
        assert stock not in login
    assert 'name="login"' in login and 'name="password"' in login
    assert "Username or email" in login and "Forgot your password?" in login
    signup = client.get(reverse("account_signup")).content.decode()
    assert "<h1>Create an account</h1>" in signup
    reset = client.get(reverse("account_reset_password")).content.decode()
    assert "<h1>Reset your password</h1>" in reset and "css/site.css" in reset


def test_a_password_mismatch_is_reported_with_the_other_password_errors(client, platforms):
    data = {"email": "x@example.com", "username": "xavier", "password1": "a-long-pass-42", "password2": "another-42"}
    response = client.post(reverse("account_signup"), data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = re.search(r'<ul class="errorlist" id="password-errors">(.*?)</ul>', html, re.S).group(1)
    assert "same password" in errors
    short = client.post(reverse("account_signup"), {**data, "password1": "abc", "password2": "abc"}).content.decode()
    assert "too short" in re.search(r'<ul class="errorlist" id="password-errors">(.*?)</ul>', short, re.S).group(1)


def test_the_account_page_lists_the_email_addresses(alice_client):
    html = alice_client.get(reverse("account_email")).content.decode()
    assert "<h1>Your account</h1>" in html and "alice@example.com" in html
    assert "<script" not in html.split("</head>", 1)[1]


def test_connections_are_cards_with_the_name_on_the_platform(alice_client):
    html = alice_client.get(reverse("connected") + "?next=/exports/new/%3Fplatform%3Dreddit").content.decode()
    reddit = re.search(r'<section[^>]*id="connection-reddit".*?</section>', html, re.S).group(0)
    assert "Connected as <strong>spez_fan</strong>" in reddit
    assert "Disconnect" in reddit and "data-confirm" in reddit
    assert 'type="radio"' not in html
    youtube = re.search(r'<section[^>]*id="connection-youtube".*?</section>', html, re.S).group(0)
    assert "YouTube (Google account)" in youtube
    assert "Connect YouTube" in youtube
    # After connecting, the person goes back to where they started.
    assert "next=%2Fexports%2Fnew%2F%3Fplatform%3Dreddit" in youtube
    # allauth's own page points at this one.
    assert reverse("connected") in alice_client.get(reverse("socialaccount_connections")).content.decode()


def test_disconnect_removes_the_connection_and_returns(alice_client, alice):
    account = SocialAccount.objects.get(user=alice, provider="reddit")
    response = alice_client.post(reverse("disconnect", args=[account.pk]), {"next": "/exports/schedules/"})
    assert response.status_code == 302 and response["Location"] == "/exports/schedules/"
    assert not SocialAccount.objects.filter(pk=account.pk).exists()


def test_another_users_connection_cannot_be_disconnected(alice, make_user, connect):
    bob = make_user("bob")
    client = Client()
    client.force_login(bob)
    account = SocialAccount.objects.get(user=alice, provider="reddit")
    client.post(reverse("disconnect", args=[account.pk]))
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_history_rows_offer_download_and_delete_and_delete_removes_job_and_archive(
    alice_client, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    name = default_storage.save("archives/alice.zip", ContentFile(b"PK"))
    job = ExportJob.objects.create(
        owner=alice, platform_id="reddit", status=ExportJob.Status.SUCCEEDED, archive_name=name, archive_size=2
    )
    running = ExportJob.objects.create(owner=alice, platform_id="reddit", status=ExportJob.Status.FETCHING)
    for url in [reverse("exports:list"), reverse("dashboard")]:
        html = alice_client.get(url).content.decode()
        assert reverse("exports:download", args=[job.id]) in html
        assert reverse("exports:delete", args=[job.id]) in html
        assert reverse("exports:delete", args=[running.id]) not in html
        assert 'data-confirm="Delete this Reddit export and its archive?' in html

    bob = Client()
    bob.force_login(alice.__class__.objects.create_user("bob", "b@example.com", "pw-bob-long-1"))
    assert bob.post(reverse("exports:delete", args=[job.id])).status_code == 404
    refused = alice_client.post(reverse("exports:delete", args=[running.id]))
    assert refused.status_code == 302 and ExportJob.objects.filter(id=running.id).exists()

    with django_capture_on_commit_callbacks(execute=True):
        deleted = alice_client.post(reverse("exports:delete", args=[job.id]), {"next": "/"})
    assert deleted["Location"] == "/"
    assert not ExportJob.objects.filter(id=job.id).exists()
    assert not default_storage.exists(name)


def test_connecting_and_its_dead_ends_speak_the_sites_words(alice_client):
    before = alice_client.get("/accounts/reddit/login/?process=connect").content.decode()
    assert "<h1>Connect Reddit</h1>" in before and "Continue to Reddit" in before
    assert "third-party" not in before
    cancelled = alice_client.get(reverse("socialaccount_login_cancelled")).content.decode()
    assert "<h1>Not connected</h1>" in cancelled and reverse("connected") in cancelled
