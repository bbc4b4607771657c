"""Web security: another user's jobs, forged posts, open redirects, download links, limits, headers.

tests/exports/test_views.py checks the basics (404 for another user on the main job URLs, CSRF on
the export form, a tampered and an expired link). Here every URL, every form and every way round
them is tried, and what was tried is counted for docs/reliability.md.
"""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock
from urllib.parse import urljoin, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exports import conf, links
from exports import urls as export_urls
from exports.models import ExportJob, MediaFile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    # allauth keeps its sign-in limits in the cache; each test starts with none spent.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


@pytest.fixture
def alice(platforms, make_user, connect):
    user = make_user("alice")
    connect(user, "github")
    return user


@pytest.fixture
def bob(platforms, make_user, connect):
    user = make_user("bob")
    connect(user, "github")
    return user


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def job_for(owner, **fields) -> ExportJob:
    fields.setdefault("platform_id", "github")
    fields.setdefault("formats", ["json"])
    return ExportJob.objects.create(owner=owner, **fields)


def finished_job(owner, content: bytes = b"PK\x05\x06" + b"\x00" * 18) -> ExportJob:
    job = job_for(
        owner, status=ExportJob.Status.SUCCEEDED, progress=100, step="Done", records_count=1, include_media=True
    )
    job.archive_name = default_storage.save(f"archives/{job.base_name}.zip", ContentFile(content))
    job.archive_size = len(content)
    job.succeeded_at = timezone.now()
    job.expires_at = timezone.now() + timezone.timedelta(days=7)
    job.media_total = job.media_failed = 1
    job.save()
    MediaFile.objects.create(
        job=job, media_id="m1", source_url="https://i.redd.it/a.jpg", kind="image", status="failed", last_error="404"
    )
    return job


def job_url_names() -> list[str]:
    """Every exports URL that takes a job id, read from exports/urls.py so a new one is covered too."""
    return [p.name for p in export_urls.urlpatterns if isinstance(p, URLPattern) and "job_id" in p.pattern.converters]


# --- another user's jobs -------------------------------------------------------------------------
def answers(client, url: str, **headers) -> list[tuple[str, int, str]]:
    found = []
    for method in ("get", "post"):
        response = getattr(client, method)(url, headers=headers)
        found.append((method, response.status_code, response.get("Content-Type", "").split(";")[0]))
        assert not hasattr(response, "streaming_content"), (method, url)
    return found


def test_another_user_gets_exactly_what_a_made_up_job_id_gets_on_every_job_url(alice, bob, figure):
    """Every job URL, by GET and POST, as page and as htmx, in every job state: another user's job looks like none."""
    jobs = [
        job_for(alice, status=ExportJob.Status.QUEUED),
        job_for(alice, status=ExportJob.Status.DOWNLOADING, include_media=True),
        finished_job(alice),
        job_for(alice, status=ExportJob.Status.FAILED, error="GitHub said no."),
        job_for(alice, status=ExportJob.Status.CANCELED),
    ]
    before = {job.id: (job.status, job.archive_name) for job in jobs}
    link = links.download_link(jobs[2]).split("link=")[1]
    client = signed_in(bob)
    tried = 0
    names = job_url_names()
    assert {"detail", "progress", "status", "cancel", "download"} <= set(names)
    for name in names:
        nobody = reverse(f"exports:{name}", args=[uuid.uuid4()])
        for headers in ({}, {"HX-Request": "true"}):
            expected = answers(client, nobody, **headers)
            for job in jobs:
                for query in ("", f"?link={link}"):
                    url = reverse(f"exports:{name}", args=[job.id]) + query
                    got = answers(client, url, **headers)
                    tried += len(got)
                    assert got == expected, (name, job.status, got, expected)
                    # Never the page, never a redirect: a 404 (or 405 for the method a URL does not take).
                    assert {status for _, status, _ in got} <= {404, 405}, (name, got)
                    assert 404 in {status for _, status, _ in got}, (name, got)
        status_answer = client.get(reverse("exports:status", args=[jobs[0].id]))
        assert status_answer.status_code == 404 and status_answer.json() == {"error": "not found"}
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.archive_name) == before[job.id]
        if job.archive_name:
            assert default_storage.exists(job.archive_name)
    assert MediaFile.objects.get(job=jobs[2]).status == "failed"  # not retried by the other user
    figure("job URLs (from exports/urls.py) tried by another user", len(names))
    figure("requests by another user to the owner's job URLs / answered like a made-up id", f"{tried} / {tried}")


def test_no_page_of_another_user_mentions_the_owners_jobs(alice, bob):
    jobs = [job_for(alice), finished_job(alice), job_for(alice, status=ExportJob.Status.FAILED)]
    client = signed_in(bob)
    pages = [
        "/",
        reverse("exports:list"),
        reverse("exports:list") + "?platform=github",
        reverse("exports:list") + "?status=succeeded",
        reverse("exports:new") + "?platform=github",
        reverse("connected"),
    ]
    for page in pages:
        html = client.get(page).content.decode()
        for job in jobs:
            assert str(job.id) not in html, page


# --- names of files ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "archive_name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "archives/../../../../etc/passwd",
        "archives/../../../../../../../../etc/passwd",
        "../" * 20 + "etc/passwd",
        "archives/%2e%2e/%2e%2e/etc/passwd",
        "..\\..\\etc\\passwd",
    ],
)
def test_a_tampered_archive_name_never_serves_a_file_outside_storage(alice, archive_name, figure):
    """An archive_name pointing out of storage (a tampered row) gets 400 or 404, never /etc/passwd."""
    job = finished_job(alice)
    ExportJob.objects.filter(id=job.id).update(archive_name=archive_name)
    client = signed_in(alice, raise_request_exception=False)
    for url in (reverse("exports:download", args=[job.id]), links.download_link(job)):
        response = client.get(url)
        assert response.status_code in (400, 404), (archive_name, response.status_code)
        assert not hasattr(response, "streaming_content")
        assert b"root:" not in response.content


def test_the_download_is_named_by_the_job_not_by_the_stored_name(alice, storage):
    """The sent file name is <platform>-export-<id>.zip whatever the stored name holds (quotes, HTML, CR/LF)."""
    job = finished_job(alice)
    hostile = 'archives/evil"; filename="x.html\r\nSet-Cookie: a=b.zip'
    (storage / "archives").mkdir(exist_ok=True)
    Path(storage, hostile).write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    ExportJob.objects.filter(id=job.id).update(archive_name=hostile)
    response = signed_in(alice).get(reverse("exports:download", args=[job.id]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="github-export-{job.id}.zip"'
    assert response["Content-Type"] == "application/zip"
    assert "Set-Cookie: a=b" not in str(response.headers)


def test_pages_and_status_json_do_not_reveal_where_files_are_stored(alice, storage):
    job = finished_job(alice)
    client = signed_in(alice)
    for url in [
        reverse("exports:detail", args=[job.id]),
        reverse("exports:progress", args=[job.id]),
        reverse("exports:status", args=[job.id]),
        reverse("exports:list"),
    ]:
        text = client.get(url).content.decode()
        assert str(storage) not in text and job.archive_name not in text, url


# --- forged posts ----------------------------------------------------------------------------------
class FormFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action"), "inputs": []}
            )
        elif tag in ("input", "button", "select", "textarea") and self.forms:
            self.forms[-1]["inputs"].append(attrs.get("name"))


def post_forms(client, page: str) -> list[tuple[str, list]]:
    finder = FormFinder()
    response = client.get(page)
    assert response.status_code == 200, page
    finder.feed(response.content.decode())
    return [(urljoin(page, f["action"] or page), f["inputs"]) for f in finder.forms if f["method"] == "post"]


@pytest.fixture
def oauth_app(settings):
    # With a client id configured, the connect pages offer a form per platform.
    providers = copy.deepcopy(settings.SOCIALACCOUNT_PROVIDERS)
    providers["github"]["APPS"] = [{"client_id": "an-id", "secret": "a-secret"}]
    settings.SOCIALACCOUNT_PROVIDERS = providers


def test_every_post_form_carries_a_csrf_token_and_is_refused_without_one(alice, oauth_app, figure):
    """Crawl the site's pages, collect every POST form, and post each one without its token: 403, nothing changes."""
    running = job_for(alice, status=ExportJob.Status.FETCHING)
    done = finished_job(alice)
    visitor_pages = [reverse("account_login"), reverse("account_signup"), reverse("account_reset_password")]
    user_pages = [
        "/",
        reverse("exports:list"),
        reverse("exports:new") + "?platform=github",
        reverse("exports:detail", args=[running.id]),
        reverse("exports:detail", args=[done.id]),
        reverse("socialaccount_connections"),
        reverse("connected"),
        reverse("account_logout"),
        reverse("account_email"),
        reverse("account_change_password"),
        reverse("github_login") + "?process=connect",
    ]
    found: dict[tuple[bool, str], list] = {}
    for page in visitor_pages:
        for action, inputs in post_forms(Client(), page):
            found[(False, action)] = inputs
    owner = signed_in(alice)
    for page in user_pages:
        for action, inputs in post_forms(owner, page):
            found[(True, action)] = inputs

    actions = {urlsplit(action).path for _, action in found}
    must = {
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_logout"),
        reverse("exports:new"),
        reverse("exports:cancel", args=[running.id]),
        reverse("exports:retry", args=[done.id]),
        reverse("exports:delete", args=[done.id]),
        reverse("disconnect", args=[SocialAccount.objects.get(user=alice).pk]),
        reverse("github_login"),
    }
    assert must <= actions, must - actions
    for (_, action), inputs in found.items():
        assert "csrfmiddlewaretoken" in inputs, action

    users_before = get_user_model().objects.count()
    accounts_before = SocialAccount.objects.count()
    account = SocialAccount.objects.get(user=alice)
    data = {
        "login": "alice",
        "password": "pw-alice",
        "username": "mallory",
        "email": "mallory@example.com",
        "password1": "a-long-password-1",
        "password2": "a-long-password-1",
        "platform": "github",
        "formats": "json",
        "account": account.pk,
        "oldpassword": "pw-alice",
        "email_address": "x@example.com",
    }
    refused = 0
    for (as_user, action), _ in found.items():
        for headers in ({}, {"HX-Request": "true"}):
            client = Client(enforce_csrf_checks=True)
            if as_user:
                client.force_login(alice)
            response = client.post(action, data, headers=headers)
            assert response.status_code == 403, (action, response.status_code)
            refused += 1
            if as_user:
                # Still signed in: the forged sign-out did nothing either.
                assert client.get(reverse("exports:list")).status_code == 200

    assert get_user_model().objects.count() == users_before
    assert SocialAccount.objects.count() == accounts_before
    assert ExportJob.objects.filter(owner=alice).count() == 2
    running.refresh_from_db()
    assert running.status == ExportJob.Status.FETCHING
    assert MediaFile.objects.get(job=done).status == "failed"
    figure("POST forms found by crawling the pages", len(found))
    figure("posts without a CSRF token / refused with 403", f"{refused} / {refused}")


def test_a_csrf_token_of_another_session_is_refused(alice, bob):
    running = job_for(alice, status=ExportJob.Status.FETCHING)
    mallory = Client(enforce_csrf_checks=True)
    mallory.force_login(bob)
    mallory.get(reverse("exports:list"))
    stolen = mallory.cookies["csrftoken"].value
    victim = Client(enforce_csrf_checks=True)
    victim.force_login(alice)
    victim.get(reverse("exports:list"))
    assert victim.cookies["csrftoken"].value != stolen
    response = victim.post(reverse("exports:cancel", args=[running.id]), {"csrfmiddlewaretoken": stolen})
    assert response.status_code == 403
    running.refresh_from_db()
    assert running.status == ExportJob.Status.FETCHING


# --- open redirects ------------------------------------------------------------------------------
OFFSITE = [
    "https://evil.example/",
    "//evil.example",
    "///evil.example",
    "////evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http://testserver@evil.example/",
    "https://testserver.evil.example/",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "%2F%2Fevil.example",
    "//evil.example%2F@testserver",
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/%2F..",
]


def stays_here(location: str) -> bool:
    parts = urlsplit(location)
    return (
        url_has_allowed_host_and_scheme(location, allowed_hosts={"testserver"})
        and parts.netloc in ("", "testserver")
        and not location.lstrip().startswith(("//", "\\", "/\\"))
        and parts.scheme in ("", "http", "https")
    )


def test_sign_in_never_sends_the_user_off_the_site(alice, figure):
    """`next` in the query or the form, on sign-in, sign-up and sign-out: every off-site value lands on the site."""
    tried = 0
    for target in OFFSITE:
        for where in ("query", "form"):
            # allauth allows 30 sign-ins a minute per address: each try comes from its own.
            tried_from = f"198.51.100.{tried % 250 + 1}"
            client = Client(REMOTE_ADDR=tried_from)
            url = reverse("account_login") + (f"?next={target}" if where == "query" else "")
            data = {"login": "alice", "password": "pw-alice"} | ({"next": target} if where == "form" else {})
            response = client.post(url, data)
            assert response.status_code == 302, (target, where, response.status_code)
            assert stays_here(response["Location"]), (target, where, response["Location"])
            tried += 1
            # Signed in already: the sign-in page itself must not bounce to `next` either.
            again = client.get(reverse("account_login") + f"?next={target}")
            if again.status_code == 302:
                assert stays_here(again["Location"]), (target, again["Location"])
            out = client.post(reverse("account_logout"), {"next": target})
            assert out.status_code == 302 and stays_here(out["Location"]), (target, out.get("Location"))
            tried += 2
    figure(
        "off-site `next` values tried on sign-in, sign-in page and sign-out / kept on the site", f"{tried} / {tried}"
    )


def test_sign_up_never_sends_the_new_user_off_the_site(db, platforms):
    for index, target in enumerate(OFFSITE):
        response = Client().post(
            reverse("account_signup") + f"?next={target}",
            {
                "username": f"new{index}",
                "email": f"new{index}@example.com",
                "password1": "a-long-password-1",
                "password2": "a-long-password-1",
            },
        )
        assert response.status_code == 302, (target, response.status_code)
        assert stays_here(response["Location"]), (target, response["Location"])


def test_a_safe_next_is_still_honoured(alice):
    """The filter is not simply ignoring `next`: a page of the site is where sign-in goes."""
    response = Client().post(reverse("account_login") + "?next=/exports/", {"login": "alice", "password": "pw-alice"})
    assert response["Location"] == "/exports/"
    assert Client().get(reverse("exports:list"))["Location"] == reverse("account_login") + "?next=/exports/"


# --- signed download links ---------------------------------------------------------------------
def link_token(job) -> str:
    return links.download_link(job).split("link=")[1]


def test_a_download_link_is_good_until_it_expires_to_the_second(alice, settings):
    """Link age LINK_DAYS minus a minute: the file; plus a minute: 410, never the file."""
    job = finished_job(alice)
    token = link_token(job)
    client = signed_in(alice)
    url = reverse("exports:download", args=[job.id]) + f"?link={token}"
    days = settings.STAREXPORT["LINK_DAYS"]
    now = time.time()
    with mock.patch("django.core.signing.time.time", return_value=now + days * 86400 - 60):
        fresh = client.get(url)
    with mock.patch("django.core.signing.time.time", return_value=now + days * 86400 + 60):
        stale = client.get(url)
    assert fresh.status_code == 200 and hasattr(fresh, "streaming_content")
    assert stale.status_code == 410 and not hasattr(stale, "streaming_content")
    assert "expired" in stale.content.decode()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda job: signing.TimestampSigner(salt="another.purpose").sign(str(job.id)), id="other-salt"),
        pytest.param(lambda job: signing.TimestampSigner().sign(str(job.id)), id="no-salt"),
        pytest.param(lambda job: signing.dumps(str(job.id), salt=links.LINK_SALT), id="signing-dumps"),
        pytest.param(
            lambda job: signing.TimestampSigner(key="another-secret-key-" + "x" * 40, salt=links.LINK_SALT).sign(
                str(job.id)
            ),
            id="other-secret-key",
        ),
        pytest.param(lambda job: f"{job.id}:1abcde:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id="made-up"),
        pytest.param(lambda job: "", id="empty"),
        pytest.param(lambda job: str(job.id), id="bare-id"),
    ],
)
def test_a_forged_download_link_is_400_and_never_the_file(alice, forge):
    job = finished_job(alice)
    response = signed_in(alice).get(reverse("exports:download", args=[job.id]) + f"?link={forge(job)}")
    assert response.status_code == 400
    assert not hasattr(response, "streaming_content")


def test_any_change_to_a_download_link_is_refused(alice, figure):
    """Hypothesis edits one valid link (a character changed, dropped or added, cut short): always 400, never the file."""
    job = finished_job(alice)
    token = link_token(job)
    client = signed_in(alice)
    url = reverse("exports:download", args=[job.id])
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:."
    tried = []

    @hypothesis_settings(
        max_examples=200,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        where=st.integers(min_value=0, max_value=len(token) - 1),
        how=st.sampled_from(["replace", "drop", "insert", "cut", "swapcase"]),
        char=st.sampled_from(alphabet),
    )
    def edited(where, how, char):
        if how == "replace":
            changed = token[:where] + char + token[where + 1 :]
        elif how == "drop":
            changed = token[:where] + token[where + 1 :]
        elif how == "insert":
            changed = token[:where] + char + token[where:]
        elif how == "cut":
            changed = token[:where]
        else:
            changed = token[:where] + token[where].swapcase() + token[where + 1 :]
        if changed == token:
            return
        tried.append(changed)
        response = client.get(url, {"link": changed})
        assert response.status_code == 400, (changed, response.status_code)
        assert not hasattr(response, "streaming_content")

    edited()
    assert len(tried) > 100
    assert client.get(url, {"link": token}).status_code == 200
    figure("edited download links tried / refused with 400", f"{len(tried)} / {len(tried)}")


# --- limits ----------------------------------------------------------------------------------------
def submit(client):
    return client.post(reverse("exports:new"), {"platform": "github", "formats": ["json"]})


def test_the_sixth_running_export_is_refused_through_the_form(alice, settings, figure):
    """With the default limit of 5, five exports start and the sixth is refused with a message on the form."""
    limit = settings.STAREXPORT["MAX_ACTIVE_JOBS_PER_USER"]
    assert limit == 5
    client = signed_in(alice)
    started = [submit(client) for _ in range(limit)]
    assert [r.status_code for r in started] == [302] * limit
    sixth = submit(client)
    assert sixth.status_code == 400
    assert "You already have 5 exports running (the limit is 5)" in sixth.content.decode()
    assert ExportJob.objects.filter(owner=alice).count() == limit
    # Finishing one (here: canceling it) frees a place.
    client.post(reverse("exports:cancel", args=[ExportJob.objects.filter(owner=alice).first().id]))
    assert submit(client).status_code == 302
    figure("running exports accepted / the next one", f"{limit} / refused with 400 and the limit named")


def test_starting_exports_is_rate_limited_per_user(alice, bob, figure):
    """Start-and-cancel at once, again and again: the running-jobs limit never bites, the rate limit does."""
    rate = conf.setting("CREATE_RATE")
    allowed = int(rate.split("/")[0])
    client = signed_in(alice)
    accepted = 0
    started = time.monotonic()
    for _ in range(allowed + 5):
        response = submit(client)
        if response.status_code != 302:
            break
        accepted += 1
        client.post(reverse("exports:cancel", args=[ExportJob.objects.filter(owner=alice).latest("created_at").id]))
    figure(
        f"exports started (each canceled at once) before the rate limit ({rate}) refused one",
        f"{accepted} in {time.monotonic() - started:.1f} s",
    )
    assert accepted == allowed
    assert response.status_code == 429
    assert "started many exports in a short time" in response.content.decode()
    assert ExportJob.objects.filter(owner=alice).count() == allowed
    # The limit is the user's own: another user starts an export meanwhile.
    assert submit(signed_in(bob)).status_code == 302


def test_guessing_a_password_is_stopped_after_five_failures(make_user, platforms, figure):
    """allauth's login_failed limit: after 5 wrong passwords even the right one is refused for a while."""
    name = "guess" + uuid.uuid4().hex[:8]  # the limit is kept in the cache, which outlives the test
    make_user(name)
    client = Client()
    answers = [client.post(reverse("account_login"), {"login": name, "password": f"wrong-{i}"}) for i in range(6)]
    assert all(a.status_code == 200 for a in answers)
    assert "Too many failed login attempts" in answers[-1].content.decode()
    right = client.post(reverse("account_login"), {"login": name, "password": "pw-" + name})
    assert right.status_code == 200 and "Too many failed login attempts" in right.content.decode()
    assert "_auth_user_id" not in client.session
    figure("wrong passwords before sign-in is blocked for the account", 5)


# --- headers and production settings ----------------------------------------------------------------
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def test_every_kind_of_page_sends_the_security_headers(alice, figure):
    job = finished_job(alice)
    visitor = Client(raise_request_exception=False)
    owner = signed_in(alice, raise_request_exception=False)
    forged = Client(enforce_csrf_checks=True)
    pages = [
        (visitor, "get", "/"),
        (visitor, "get", reverse("account_login")),
        (visitor, "get", reverse("account_signup")),
        (visitor, "get", reverse("exports:status", args=[job.id])),
        (visitor, "get", "/no-such-page/"),
        (owner, "get", "/"),
        (owner, "get", reverse("exports:list")),
        (owner, "get", reverse("exports:new") + "?platform=github"),
        (owner, "get", reverse("exports:detail", args=[job.id])),
        (owner, "get", reverse("exports:progress", args=[job.id])),
        (owner, "get", reverse("exports:status", args=[job.id])),
        (owner, "get", reverse("exports:download", args=[job.id])),
        (owner, "get", reverse("exports:download", args=[job.id]) + "?link=bad"),
        (owner, "get", reverse("connected")),
        (owner, "get", reverse("socialaccount_connections")),
        (forged, "post", reverse("account_login")),
    ]
    for client, method, url in pages:
        response = getattr(client, method)(url)
        for name, value in HEADERS.items():
            assert response.get(name) == value, (url, response.status_code, name, response.get(name))
    download = owner.get(reverse("exports:download", args=[job.id]))
    assert download["Content-Disposition"].startswith("attachment;")
    signin = Client().post(reverse("account_login"), {"login": "alice", "password": "pw-alice"})
    session = signin.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    figure("pages and answers checked for nosniff, DENY, Referrer-Policy, COOP", len(pages))


def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "TEST_", "PYTEST"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.org",
        STAREXPORT_HTTPS="true",
        STAREXPORT_TOKEN_KEY=secrets.token_urlsafe(32),
        DJANGO_SETTINGS_MODULE="starexport.settings",
    )
    env.update(extra)
    return env


def check_deploy(env: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {**env, "STAREXPORT_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values(tmp_path, figure):
    """`manage.py check --deploy` with DEBUG=false, a long random SECRET_KEY, ALLOWED_HOSTS and HTTPS on: no warning."""
    result = check_deploy(production_env(), tmp_path)
    output = (result.stdout + result.stderr).strip()
    figure(
        "manage.py check --deploy with production values",
        output,
        command="DEBUG=false SECRET_KEY=<64 random chars> ALLOWED_HOSTS=example.org STAREXPORT_HTTPS=true "
        ".venv/bin/python manage.py check --deploy --fail-level WARNING",
    )
    assert result.returncode == 0, output
    assert output == "System check identified no issues (0 silenced).", output


def test_check_deploy_does_speak_up_when_the_settings_are_not_for_production(tmp_path):
    """The clean result above means something: the same check on development values warns."""
    result = check_deploy(production_env(DEBUG="true", STAREXPORT_HTTPS="false"), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for code in ("security.W018", "security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in output, code


def test_production_settings_turn_on_https_only_cookies_and_hsts(tmp_path):
    names = [
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "X_FRAME_OPTIONS",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "SESSION_COOKIE_HTTPONLY",
    ]
    code = f"import django; django.setup(); from django.conf import settings; print([getattr(settings, n) for n in {names!r}])"
    env = {**production_env(), "STAREXPORT_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == repr(
        [
            False,
            True,
            True,
            True,
            31536000,
            True,
            ("HTTP_X_FORWARDED_PROTO", "https"),
            "DENY",
            True,
            "same-origin",
            True,
        ]
    )
