import re
from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tokens import store_token
from exports import links, notify
from exports.models import ExportJob, MediaFile
from platforms.models import Platform

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def provider_apps(oauth_apps):
    """Every platform's OAuth app configured."""


@pytest.fixture
def alice():
    user = get_user_model().objects.create_user("alice", "alice@example.com", "a-long-password-1")
    account = SocialAccount.objects.create(user=user, provider="github", uid="1")
    store_token(account, access="x")
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def admin_client_(db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-password-1")
    client = Client()
    client.force_login(admin)
    return client


def job_with_failure(owner, **fields):
    defaults = {
        "platform_id": "reddit",
        "include_media": True,
        "status": ExportJob.Status.SUCCEEDED,
        "progress": 100,
        "step": "Done: 4 records, 1 media files (1 could not be downloaded; see the list)",
        "records_count": 4,
        "media_total": 2,
        "media_done": 1,
        "media_failed": 1,
        "media_bytes": 1234,
        "archive_name": "archives/x.zip",
        "archive_size": 4321,
        "expires_at": timezone.now() + timedelta(days=7),
        "succeeded_at": timezone.now(),
    }
    job = ExportJob.objects.create(owner=owner, **{**defaults, **fields})
    MediaFile.objects.create(
        job=job,
        media_id="t3_gone_0",
        source_url="https://i.redd.it/gone.jpg",
        kind="image",
        record_ids=["t3_gone"],
        status=MediaFile.Status.FAILED,
        last_error="HTTP 404 from i.redd.it",
    )
    MediaFile.objects.create(
        job=job,
        media_id="t3_ok_0",
        source_url="https://i.redd.it/ok.jpg",
        kind="image",
        record_ids=["t3_ok"],
        status=MediaFile.Status.DONE,
        size=1234,
    )
    return job


# --- landing and dashboard -------------------------------------------------------------------
def test_a_visitor_sees_the_landing_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "landing.html"
    html = response.content.decode()
    assert "Your posts, photos and videos, in one ZIP you keep." in html
    for platform in Platform.objects.filter(enabled=True):
        assert platform.display_name in html
    assert "manifest-sha256.txt" in html and "failures.csv" in html
    assert reverse("account_login") in html and reverse("account_signup") in html


def test_the_landing_page_leaves_out_disabled_platforms(client):
    Platform.objects.filter(slug="facebook").update(enabled=False)
    assert "Facebook" not in client.get("/").content.decode()


def test_a_signed_in_user_sees_platforms_their_states_and_latest_exports(alice_client, alice):
    SocialAccount.objects.create(user=alice, provider="reddit", uid="r1")
    store_token(
        SocialAccount.objects.get(provider="reddit"), access="old", expires_at=timezone.now() - timedelta(hours=1)
    )
    job = ExportJob.objects.create(owner=alice, platform_id="github", status=ExportJob.Status.FETCHING, progress=30)
    response = alice_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "dashboard.html"
    states = {card["platform"].slug: card["state"] for card in response.context["cards"]}
    assert states["github"] == "connected"
    assert states["reddit"] == "expired"
    assert states["youtube"] == "missing"
    html = response.content.decode()
    assert f"{reverse('exports:new')}?platform=github" in html
    assert "Reconnect Reddit" in html
    assert "Connect YouTube" in html
    assert "/accounts/reddit/login/?process=connect" in html  # connecting goes through allauth
    assert job.get_absolute_url() in html
    assert "JSON, CSV" in html
    assert "Images (jpg, png, gif) · Videos (mp4)" in html  # Reddit's media
    assert "100.0\xa0MB" in html  # Reddit's largest file


def test_connected_accounts_page_lists_every_platform_with_its_state(alice_client):
    response = alice_client.get(reverse("connected"))
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/accounts/connected/"
    cards = {card["platform"].slug: card for card in response.context["cards"]}
    assert cards["github"]["state"] == "connected"
    assert cards["github"]["account_label"]
    assert cards["instagram"]["state"] == "missing"
    assert cards["instagram"]["account"] is None
    html = response.content.decode()
    assert "<h1>Connections</h1>" in html and "Not connected" in html


# --- every page renders ----------------------------------------------------------------------
def test_every_page_of_a_signed_in_user_renders(alice_client, alice):
    jobs = [
        ExportJob.objects.create(owner=alice, platform_id="github", status=status, step=f"{status} step")
        for status in ExportJob.Status.values
    ]
    jobs.append(job_with_failure(alice, notes=["A note."], skipped_records=[{"record_id": "x", "reason": "bad"}]))
    urls = [
        "/",
        "/exports/",
        "/exports/?platform=github&status=failed",
        "/exports/?page=99",
        "/exports/new/",
        "/exports/new/?platform=nope",
        *(f"/exports/new/?platform={p.slug}" for p in Platform.objects.all()),
        "/accounts/connected/",
        reverse("account_logout"),
        reverse("account_change_password"),
        reverse("account_email"),
        reverse("socialaccount_connections"),
    ]
    urls += [reverse("exports:detail", args=[job.id]) for job in jobs]
    for url in urls:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert b"Star Export" in response.content, url
    for job in jobs:
        response = alice_client.get(reverse("exports:progress", args=[job.id]))
        assert response.status_code == 200
        assert b'id="job-progress"' in response.content


def test_allauth_pages_look_like_the_site(client):
    for url in [reverse("account_login"), reverse("account_signup"), reverse("account_reset_password")]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "css/site.css" in html, url
        assert 'class="brand"' in html, url
    login = client.get(reverse("account_login")).content.decode()
    assert 'name="login"' in login and 'name="password"' in login


def test_signing_in_by_username_lands_on_the_dashboard(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice", "password": "a-long-password-1"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["cards"]


def test_an_unknown_address_renders_the_site_404_page(alice_client):
    response = alice_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()


def test_pages_load_nothing_from_other_hosts(alice_client, alice):
    job = job_with_failure(alice)
    for url in ["/", reverse("exports:detail", args=[job.id]), reverse("account_email")]:
        html = alice_client.get(url).content.decode()
        for attribute in re.findall(r'(?:src|href)="([^"]+)"', html):
            external = attribute.startswith(("http:", "https:", "//"))
            assert not external or "i.redd.it" in attribute, (url, attribute)  # failed media links are data
        assert "/static/django_htmx/htmx-2.min.js" in html


def test_the_stylesheet_and_platform_icons_are_static_files():
    assert finders.find("css/site.css")
    for platform in Platform.objects.all():
        assert platform.icon and finders.find(platform.icon), platform.slug


# --- email ------------------------------------------------------------------------------------
def test_the_finished_email_has_counts_failures_and_the_signed_link(alice, mailoutbox, settings):
    settings.SITE_URL = "https://export.example.org"
    job = job_with_failure(alice, notes=["Reddit's listings stop at 1,000 items each."])
    assert notify.job_notify(job)
    [message] = mailoutbox
    assert message.subject == "Your Reddit export is complete — 1 of 2 files missing"
    assert "\n" not in message.subject
    assert message.to == ["alice@example.com"]
    link = links.download_link(job, absolute=True)
    for body in [message.body, message.alternatives[0][0]]:
        assert link.replace("&", "&amp;") in body or link in body
        assert "t3_gone_0" in body and "HTTP 404 from i.redd.it" in body
        assert "sign in" in body
        assert "7 days" in body
        assert "Reddit's listings stop at 1,000 items each." in body or "Reddit&#x27;s listings" in body
        assert f"https://export.example.org{job.get_absolute_url()}" in body
    assert "Records: 4" in message.body
    assert "1 of 2" in message.body


def test_the_failed_email_says_what_went_wrong(alice, mailoutbox):
    job = ExportJob.objects.create(
        owner=alice, platform_id="github", status=ExportJob.Status.FAILED, error="GitHub refused the token."
    )
    assert notify.job_notify(job)
    [message] = mailoutbox
    assert message.subject == "Your GitHub export failed"
    assert "GitHub refused the token." in message.body
    assert "GitHub refused the token." in message.alternatives[0][0]
    assert "?link=" not in message.body


# --- admin ------------------------------------------------------------------------------------
def test_admin_pages_render(admin_client_, alice):
    job = job_with_failure(alice)
    media = job.media_files.first()
    urls = [
        reverse("admin:index"),
        reverse("admin:exports_exportjob_changelist"),
        reverse("admin:exports_exportjob_changelist") + "?status__exact=succeeded&q=alice",
        reverse("admin:exports_exportjob_change", args=[job.id]),
        reverse("admin:exports_mediafile_changelist"),
        reverse("admin:exports_mediafile_changelist") + f"?job__id__exact={job.id}",
        reverse("admin:exports_mediafile_change", args=[media.id]),
        reverse("admin:platforms_platform_changelist"),
        reverse("admin:platforms_platform_change", args=["reddit"]),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[alice.id]),
    ]
    for url in urls:
        assert admin_client_.get(url).status_code == 200, url
    change = admin_client_.get(reverse("admin:exports_exportjob_change", args=[job.id])).content.decode()
    assert "t3_gone_0" in change and "HTTP 404 from i.redd.it" in change
    filtered = admin_client_.get(reverse("admin:exports_mediafile_changelist") + f"?job__id__exact={job.id}")
    assert filtered.context["cl"].result_count == 2


def test_admin_cancel_action_cancels_running_jobs_only(admin_client_, alice):
    running = ExportJob.objects.create(owner=alice, platform_id="github", status=ExportJob.Status.DOWNLOADING)
    done = ExportJob.objects.create(owner=alice, platform_id="github", status=ExportJob.Status.SUCCEEDED)
    response = admin_client_.post(
        reverse("admin:exports_exportjob_changelist"),
        {"action": "cancel", "_selected_action": [str(running.id), str(done.id)]},
        follow=True,
    )
    assert response.status_code == 200
    running.refresh_from_db()
    done.refresh_from_db()
    assert running.status == ExportJob.Status.CANCELED
    assert done.status == ExportJob.Status.SUCCEEDED
    assert "Canceled 1 export(s)." in response.content.decode()


def test_operators_switch_platforms_on_and_off_in_the_list(admin_client_):
    response = admin_client_.get(reverse("admin:platforms_platform_changelist"))
    assert "enabled" in response.context["cl"].list_editable


def test_connections_page_offers_the_platforms_an_operator_configured(alice_client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        **settings.SOCIALACCOUNT_PROVIDERS,
        "github": {"SCOPE": ["read:user"], "APPS": [{"client_id": "id", "secret": "secret"}]},
    }
    html = alice_client.get(reverse("connected")).content.decode()
    assert "/accounts/github/login/?process=connect" in html
    assert "Disconnect" in html  # alice's GitHub connection, which she may remove


def test_connections_page_says_when_no_platform_can_be_connected(alice_client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {key: {"SCOPE": []} for key in settings.SOCIALACCOUNT_PROVIDERS}
    html = alice_client.get(reverse("connected")).content.decode()
    assert "is not set up on this server yet" in html
    assert "?process=connect" not in html
