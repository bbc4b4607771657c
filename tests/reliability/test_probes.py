"""The attack classes a black-box probe of the demo let through (issue 14), tried again here.

Each test tries one class of attack the way the probe did, counts the probes and how many got
through, and records both for docs/reliability.md. Every class must stay at 0 let through. The
unit tests beside the code (tests/test_safe_links.py, tests/test_csp.py, tests/exports/
test_upload_limits.py, tests/accounts/...) show each fix in detail; here the figures are kept.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import uuid
import zipfile

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.tokens import TokenKeyMissing, store_token
from exports import notify, uploads
from exports.archive import archive_build, viewer_html
from exports.models import ExportJob, MediaFile
from exports.tabular import FORMULA_START
from platforms.safety import http_url
from tests.conftest import ROOT
from tests.exports.test_archive import reddit_job  # noqa: F401 — the fixture
from tests.platforms.test_safety import HOSTILE
from tests.test_csp import InlineCode, policy
from tests.test_error_pages import DEBUG_MARKS
from tests.test_safe_links import Links, not_web_or_site


def attack_class(measured, name: str, tried: int, through: int) -> None:
    """The two rows every class has in docs/reliability.md: its name, and probes tried / let through."""
    measured("attack class", name)
    measured("probes tried / let through", f"{tried} / {through}")


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# --- 1. stored XSS by link scheme ------------------------------------------------------------------
def scheme_spellings() -> list[str]:
    """The probe's URLs, each also in upper case and behind each trick a browser forgives."""
    found = []
    for url in HOSTILE:
        for variant in (url, url.upper(), url.swapcase(), "\t" + url, url.replace(":", "\n:", 1)):
            if "\x00" not in variant and not variant.lower().lstrip().startswith(("http://", "https://")):
                found.append(variant)
    return sorted(set(found))


@pytest.mark.django_db
def test_link_scheme_xss_no_platform_url_becomes_a_script_link(platforms, make_user, measured):
    """Media URLs like javascript:alert(document.domain)// on the job page, its htmx fragment and the email: shown as text."""
    probes = scheme_spellings()
    owner = make_user("xavi")
    job = ExportJob.objects.create(owner=owner, platform_id="twitter", formats=["json"], status="succeeded")
    for index, url in enumerate(probes):
        MediaFile.objects.create(
            job=job, media_id=f"m{index}", source_url=url, kind="video" if index % 2 else "image",
            record_ids=[f"t{index}"], status="failed", last_error="Not downloaded",
        )  # fmt: skip
    ExportJob.objects.filter(id=job.id).update(media_total=len(probes), media_failed=len(probes))
    job.refresh_from_db()
    client = signed_in(owner)
    pages = {
        "job page": client.get(job.get_absolute_url()).content.decode(),
        "htmx fragment": client.get(reverse("exports:progress", args=[job.id])).content.decode(),
    }
    notify.job_notify(job)
    pages["email"] = mail.outbox[-1].alternatives[0][0]
    through = {name: not_web_or_site(Links(html).urls) for name, html in pages.items()}
    filtered = [url for url in probes if http_url(url) is not None]
    attack_class(measured, "stored XSS by link scheme", len(probes) * len(pages), sum(map(len, through.values())))
    measured(
        "hostile media URLs (schemes, letter case, tab/newline/control tricks) / shown on",
        f"{len(probes)} / {', '.join(pages)}",
    )
    measured("links with a non-http(s) scheme let through, per page", {k: len(v) for k, v in through.items()})
    measured("hostile URLs http_url accepted", len(filtered))
    assert not any(through.values()) and not filtered


# --- 2. no Content-Security-Policy ------------------------------------------------------------------
@pytest.mark.django_db
def test_csp_every_page_has_a_strict_policy_and_needs_nothing_it_forbids(platforms, make_user, connect, measured):
    """Every kind of page, as visitor and user: a strict CSP header, and no inline script or handler in the page."""
    user = make_user("cyd")
    connect(user, "github")
    job = ExportJob.objects.create(owner=user, platform_id="github", formats=["json"], status="fetching")
    visitor, owner = Client(raise_request_exception=False), signed_in(user)
    pages = [(visitor, u) for u in ("/", reverse("account_login"), reverse("account_signup"), "/nothing/")] + [
        (owner, u)
        for u in (
            "/", reverse("exports:list"), reverse("exports:new") + "?platform=github", job.get_absolute_url(),
            reverse("exports:progress", args=[job.id]), reverse("exports:import"), reverse("exports:schedules"),
            reverse("connected"), reverse("socialaccount_connections"), "/nothing/",
        )
    ]  # fmt: skip
    weak, inline = [], []
    for client, url in pages:
        response = client.get(url)
        found = policy(response)
        if not (
            found.get("script-src") == "'self'"
            and found.get("object-src") == found.get("base-uri") == found.get("frame-ancestors") == "'none'"
        ):
            weak.append(url)
        inline += [f"{url}: {code}" for code in InlineCode(response.content.decode()).found]
    attack_class(measured, "no Content-Security-Policy", len(pages), len(set(weak) | {i.split(":")[0] for i in inline}))
    measured("pages without a strict CSP", len(weak))
    measured("inline scripts, on* handlers or style attributes found in them", len(inline))
    assert not weak and not inline, (weak, inline)


# --- 3. CSV formula injection -------------------------------------------------------------------------
FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@",
    "=",
]


def formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would take as a formula: they start with = + - @ tab or CR and are not numbers."""
    found = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell[:1] in FORMULA_START:
                try:
                    float(cell)
                except ValueError:
                    found.append(cell)
    return found


def test_csv_formula_injection_no_cell_starts_a_formula(reddit_job, measured):  # noqa: F811
    """Tweet and Reddit titles and failure reasons carrying =HYPERLINK(...) and friends: neutralised in every CSV."""
    records = list(reddit_job.records.order_by("position")[: len(FORMULAS)])
    for record, payload in zip(records, FORMULAS, strict=False):
        record.data = {**record.data, "title": payload, "selftext": payload, "author": payload}
        record.save(update_fields=["data"])
    failures = list(reddit_job.media_files.all()[: len(FORMULAS)])
    for media, payload in zip(failures, FORMULAS, strict=False):
        media.status, media.last_error = "failed", payload
        media.save()
    result = archive_build(reddit_job)
    with zipfile.ZipFile(default_storage.path(result.name)) as archive:
        sheets = {name: archive.read(name).decode() for name in archive.namelist() if name.endswith(".csv")}
        document = json.loads(archive.read(f"{reddit_job.base_name}.json"))
    tried = 3 * len(records) + len(failures)
    through = {name: formula_cells(text) for name, text in sheets.items()}
    kept = sum(1 for rs in document["records"].values() for r in rs if r.get("title") in FORMULAS)
    attack_class(measured, "CSV formula injection", tried, sum(map(len, through.values())))
    measured("formula payloads placed in", "3 fields of 11 records, 11 failure reasons")
    measured(
        "CSV cells that would run as a formula: export CSV / failures.csv",
        f"{sum(len(v) for k, v in through.items() if k != 'failures.csv')} / {len(through['failures.csv'])}",
    )
    measured("records whose JSON keeps the original value", f"{kept} / {len(records)}")
    assert not any(through.values()) and kept == len(records)


# --- 4. one record blanks the offline viewer ------------------------------------------------------------
def test_viewer_no_record_text_changes_how_the_page_is_parsed(reddit_job, measured):  # noqa: F811
    """Hostile strings (<!--<script>, </script>, ...) in record text: never a '<' in the embedded data."""
    record = reddit_job.records.first()
    tally = {"tried": 0, "through": 0}
    pieces = ["<!--", "<script>", "</script>", "</SCRIPT >", "-->", "<!--<script>", "<![CDATA[", "<", "x"]

    @hypothesis_settings(
        max_examples=200, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(st.sampled_from(pieces), min_size=1, max_size=6).map("".join))
    def probe(text):
        record.data = {**record.data, "title": "T " + text, "selftext": text}
        record.save(update_fields=["data"])
        html = viewer_html(reddit_job, [(reddit_job, [])], "2024-01-01T00:00:00Z").decode()
        raw = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.DOTALL)[1]
        tally["tried"] += 1
        if "<" in raw or len(re.findall(r"<script\b", html)) != 2:
            tally["through"] += 1

    probe()
    attack_class(measured, "one record blanks the offline viewer", tally["tried"], tally["through"])
    measured(
        "hostile record texts tried (Hypothesis) / able to change the page's parsing",
        f"{tally['tried']} / {tally['through']}",
    )
    measured("counted in Chromium", "tests/browser/test_viewer_hostile.py: every record shown, no script run")
    assert tally["through"] == 0


# --- 5. one user fills the disk -----------------------------------------------------------------------
@pytest.mark.django_db
def test_disk_filling_uploads_promise_no_more_than_the_limits_and_the_disk(
    platforms, make_user, settings, tmp_path, measured
):
    """40 uploads announcing 20 GB each, a 100 MB piece against an 8 MB advertised size, abandoned .part files."""
    settings.VAR_DIR = tmp_path
    client = signed_in(make_user("fill"))

    def start(size: int):
        body = json.dumps({"platform": "twitter", "filename": "a.zip", "size": size})
        return client.post("/exports/import/uploads", body, content_type="application/json")

    answers = [start(20 * 1024**3) for _ in range(40)]
    accepted = sum(a.json()["size"] for a in answers if a.status_code == 201)
    free = shutil.disk_usage(uploads.uploads_dir()).free
    over = accepted > min(settings.STAREXPORT["UPLOAD_MAX_RESERVED_BYTES_PER_USER"], free)
    small = start(200 * 1024**2 if accepted == 0 else 1)
    pieces_through = 0
    if small.status_code == 201:
        # 100 MB announced against the advertised 8 MB: refused before a byte is read.
        put = client.generic(
            "PUT", f"/exports/import/uploads/{small.json()['id']}?offset=0", b"", content_type="application/octet-stream",
            CONTENT_LENGTH=str(100 * 1024**2),
        )  # fmt: skip
        pieces_through = int(put.status_code != 413)
    attack_class(measured, "one user fills the disk", 41, (len(answers) if over else 0) + pieces_through)
    measured("uploads of 20 GB announced / accepted", f"40 / {sum(a.status_code == 201 for a in answers)}")
    measured("GB promised to one user / free on the disk", f"{accepted / 1024**3:.0f} / {free / 1024**3:.0f}")
    measured("100 MB pieces against an 8 MB advertised size let through", pieces_through)
    assert not over and pieces_through == 0
    assert small.status_code in (201, 413, 429, 507)


# --- 6. the admin login has no throttle -----------------------------------------------------------------
@pytest.mark.django_db
def test_admin_login_wrong_passwords_meet_the_sites_lockout(make_user, measured):
    """25 wrong passwords for a staff account by way of /admin/login/, then the right one."""
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    direct = client.post("/admin/login/", {"username": "boss", "password": "pw-boss"})
    login = client.get("/admin/login/?next=/admin/")["Location"]
    answers = [client.post(login, {"login": "boss", "password": f"wrong-{i}"}) for i in range(25)]
    unthrottled = sum("Too many failed login attempts" not in a.content.decode() for a in answers)
    right = client.post(login, {"login": "boss", "password": "pw-boss"})
    signed = "_auth_user_id" in client.session
    attack_class(
        measured, "admin login without a throttle", 27, max(unthrottled - 5, 0) + signed + (direct.status_code == 200)
    )
    measured("wrong passwords answered before the lockout (allauth allows 5)", unthrottled)
    measured("the right password after them signs in", "_auth_user_id" in client.session)
    measured("a password posted to the admin's own form signs in", direct.status_code == 200)
    assert unthrottled == 5 and "_auth_user_id" not in client.session and direct.status_code == 302
    assert "Too many failed login attempts" in right.content.decode()


# --- 7. sign-up tells who has an account ---------------------------------------------------------------
@pytest.mark.django_db
def test_signup_enumeration_both_answers_look_the_same(make_user, settings, measured):
    """Sign-ups with taken and with new addresses (production settings: mail that reaches people)."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    from tests.accounts.test_signup_enumeration import sign_up

    pairs = 10
    differing = 0
    for index in range(pairs):
        make_user(f"own{index}", email=f"own{index}@example.com")
        taken = sign_up(f"try{index}", f"own{index}@example.com")
        fresh = sign_up(f"new{index}", f"new{index}@example.com")
        differing += taken != fresh
    attack_class(measured, "sign-up enumeration", 2 * pairs, 2 * differing)
    measured("pairs of sign-ups (address taken / address new) tried / told apart", f"{pairs} / {differing}")
    assert differing == 0


# --- 8. debug pages -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_debug_pages_the_demo_runs_without_them(make_user, platforms, tmp_path, measured):
    """The demo's settings have DEBUG off; a missing page, a bad host, a forged post and a crash show the site's pages."""
    from unittest import mock

    from tests.accounts.test_signup_enumeration import settings_value

    script = (ROOT / "scripts" / "demo.sh").read_text()
    demo_debug = settings_value("DEBUG", DEBUG="false", STAREXPORT_VAR_DIR=str(tmp_path))
    user = make_user("deb")
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(user)
    with mock.patch("exports.views.selectors.jobs_for_owner", side_effect=RuntimeError("REDIS_URL=redis://x")):
        answers = [
            Client().get("/no/such/page/"),
            signed_in(user).get("/exports/00000000-0000-0000-0000-000000000000/"),
            Client(HTTP_HOST="evil.example").get("/"),
            forged.post("/exports/new/", {"platform": "github"}),
            signed_in(user).get("/exports/"),
        ]
    leaking = [a.status_code for a in answers if any(mark in a.content.decode() for mark in DEBUG_MARKS)]
    unstyled = [a.status_code for a in answers if 'class="error-page"' not in a.content.decode()]
    attack_class(
        measured,
        "debug pages shown to anyone",
        len(answers) + 1,
        len(set(leaking) | set(unstyled)) + (demo_debug != "False"),
    )
    measured(
        "DEBUG in scripts/demo.sh by default / in settings from it",
        f"{'DEBUG=${DEBUG:-false}' in script} / {demo_debug}",
    )
    measured("error answers tried (400, 403, 404, 500) / showing debug output", f"{len(answers)} / {len(leaking)}")
    measured("of those not in the site's own style", len(unstyled))
    assert "DEBUG=${DEBUG:-false}" in script and demo_debug == "False"
    assert sorted(a.status_code for a in answers) == [400, 403, 404, 404, 500]
    assert not leaking and not unstyled


# --- 9. tokens in plain text -------------------------------------------------------------------------
@pytest.mark.django_db
def test_plain_text_tokens_none_is_stored_without_a_key(make_user, platforms, settings, measured):
    """Every way a token is saved, with no key configured: refused, and nothing in the database."""
    from allauth.socialaccount.models import SocialAccount, SocialToken

    settings.STAREXPORT_TOKEN_KEY = ""
    account = SocialAccount.objects.create(user=make_user("tia"), provider="github", uid="tia")
    ways = [
        lambda: store_token(account, access="gho_plain"),
        lambda: SocialToken.objects.create(account=account, token="gho_plain"),
        lambda: SocialToken(account=account, token="x", token_secret="gho_plain").save(),
    ]
    stored = 0
    for way in ways:
        try:
            way()
        except TokenKeyMissing:
            pass
        stored = SocialToken.objects.count()
    attack_class(measured, "OAuth tokens stored in plain text", len(ways), stored)
    measured("connecting through OAuth without a key", "refused: tests/accounts/test_token_key.py")
    assert stored == 0
