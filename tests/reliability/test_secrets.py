"""Secrets: the users' OAuth tokens stay encrypted at rest and out of every place a run leaves data.

A canary token (one the sandbox really accepts, so a real export runs with it) is stored for a user
and an export runs on a real worker. Then the canary is searched for, in plain text and in every
encoding a message bus or a log might give it, in a dump of the database, in everything that
crossed Redis (every command, read with MONITOR, and every key left after), in the worker's log, in
the sandbox's log and in the archives. It may appear only encrypted, or not at all.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
import redis
from allauth.socialaccount.models import SocialAccount, SocialToken
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client

from accounts.tokens import NotConnected, decrypt, store_token, token_for
from exports import jobs, links
from exports.models import ExportJob
from platforms.base import ExtractorError, Request
from platforms.client import ApiClient, guarded_session
from platforms.models import Platform
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token
from tests.conftest import ROOT, seed_platforms, verify_archive, wait_for_job
from tests.reliability.conftest import broker_at, reliability_env


def canary(kind: str = "access") -> str:
    return f"canary-{kind}-{secrets.token_hex(16)}"


def spellings(secret: str) -> list[bytes]:
    """The secret as it could appear anywhere: plain, URL-encoded, and inside base64 (Celery's
    message bodies on Redis are base64) at each of the three byte alignments."""
    raw = secret.encode()
    found = {raw, quote(secret, safe="").encode()}
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + raw)
            # The first group holds the padding bytes, the last depends on what follows: the rest
            # is the same wherever the secret sits at this alignment.
            found.add(encoded[4:-4] if pad else encoded[:-4])
    return sorted(found)


def occurrences(blob: bytes, secret: str) -> int:
    return sum(blob.count(spelling) for spelling in spellings(secret))


@pytest.fixture
def token_key(settings):
    key = Fernet.generate_key().decode()
    settings.STAREXPORT_TOKEN_KEY = key
    return key


def raw_tokens(token_id: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, token_secret FROM socialaccount_socialtoken WHERE id = %s", [token_id])
        return cursor.fetchone()


# --- at rest -------------------------------------------------------------------------------------
def test_a_stored_token_is_encrypted_in_the_database_and_read_back_in_clear(
    db, platforms, make_user, token_key, figure
):
    """store_token with STAREXPORT_TOKEN_KEY set: the database holds `fernet:...`, token_for gives the token."""
    user = make_user("cora")
    account = SocialAccount.objects.create(user=user, provider="github", uid="cora-gh")
    access, refresh = canary(), canary("refresh")
    token = store_token(account, access=access, refresh_token=refresh)
    stored_access, stored_refresh = raw_tokens(token.id)
    assert stored_access.startswith("fernet:") and stored_refresh.startswith("fernet:")
    assert access not in stored_access and refresh not in stored_refresh
    assert token_for(user, platforms["github"]) == access
    assert decrypt(stored_refresh) == refresh
    # Fernet is randomised: the same token stored twice is two different values, so equal
    # ciphertexts do not tell which users share a token.
    again = store_token(SocialAccount.objects.create(user=make_user("dan"), provider="github", uid="d"), access=access)
    assert raw_tokens(again.id)[0] != stored_access
    figure("stored token in the database", f"{stored_access[:16]}… ({len(stored_access)} chars, canary absent)")


def test_tokens_saved_by_allauth_itself_are_encrypted_too(db, platforms, make_user, token_key):
    """allauth's own flows save SocialToken directly; the pre_save signal encrypts those as well."""
    account = SocialAccount.objects.create(user=make_user("eve"), provider="reddit", uid="eve-r")
    access, refresh = canary(), canary("refresh")
    token = SocialToken.objects.create(account=account, token=access, token_secret=refresh)
    assert all(value.startswith("fernet:") for value in raw_tokens(token.id))
    token.refresh_from_db()
    token.save()  # saved again (allauth refreshes and reconnects this way): still encrypted once
    stored = raw_tokens(token.id)
    assert stored[0].count("fernet:") == 1 and decrypt(stored[0]) == access
    assert decrypt(stored[1]) == refresh


def test_a_passphrase_works_as_the_key_and_a_wrong_key_says_so(db, platforms, make_user, settings):
    settings.STAREXPORT_TOKEN_KEY = "a passphrase, not a Fernet key"
    user = make_user("fay")
    account = SocialAccount.objects.create(user=user, provider="github", uid="fay-gh")
    access = canary()
    token = store_token(account, access=access)
    assert raw_tokens(token.id)[0].startswith("fernet:")
    assert token_for(user, platforms["github"]) == access
    settings.STAREXPORT_TOKEN_KEY = Fernet.generate_key().decode()
    with pytest.raises(NotConnected) as refused:
        token_for(user, platforms["github"])
    assert "cannot be decrypted" in str(refused.value) and access not in str(refused.value)


def test_no_page_shows_a_stored_token(db, platforms, make_user, token_key):
    """Not the user's pages, not the admin's token list or token form: at most the ciphertext."""
    user = make_user("gus", is_staff=True, is_superuser=True)
    account = SocialAccount.objects.create(user=user, provider="github", uid="gus-gh")
    access, refresh = canary(), canary("refresh")
    token = store_token(account, access=access, refresh_token=refresh)
    job = ExportJob.objects.create(owner=user, platform_id="github", formats=["json"])
    client = Client()
    client.force_login(user)
    pages = [
        "/",
        "/exports/",
        "/exports/new/?platform=github",
        f"/exports/{job.id}/",
        f"/exports/{job.id}/status.json",
        "/accounts/connected/",
        "/accounts/3rdparty/",
        "/admin/socialaccount/socialtoken/",
        f"/admin/socialaccount/socialtoken/{token.id}/change/",
        f"/admin/socialaccount/socialaccount/{account.id}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert occurrences(response.content, access) == 0, page
        assert occurrences(response.content, refresh) == 0, page


def test_production_without_a_token_key_is_flagged_by_check_deploy(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "TEST_", "PYTEST"))}
    env.pop("STAREXPORT_TOKEN_KEY", None)
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.org",
        STAREXPORT_HTTPS="true",
        STAREXPORT_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="starexport.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "STAREXPORT_TOKEN_KEY" in result.stdout + result.stderr


# --- error pages -------------------------------------------------------------------------------------
def test_a_server_error_in_production_shows_no_token_and_no_secret(db, platforms, make_user, settings, token_key):
    """A 500 whose exception carries a token and the keys: with DEBUG off the page shows none of them."""
    user = make_user("hal")
    access = canary()
    settings.DEBUG = False
    settings.SECRET_KEY = "s3cret-" + secrets.token_hex(24)
    boom = RuntimeError(f"token={access} key={settings.SECRET_KEY} fernet={token_key}")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with mock.patch("exports.views.selectors.jobs_for_owner", side_effect=boom):
        response = client.get("/exports/")
    assert response.status_code == 500
    for secret in (access, settings.SECRET_KEY, token_key):
        assert occurrences(response.content, secret) == 0
    # The same failure with DEBUG on does show the exception: the check above can see a leak.
    settings.DEBUG = True
    with mock.patch("exports.views.selectors.jobs_for_owner", side_effect=boom):
        debug_page = client.get("/exports/")
    assert occurrences(debug_page.content, access) > 0


def test_error_pages_for_missing_and_forbidden_show_no_secret(db, platforms, make_user, settings, token_key):
    settings.SECRET_KEY = "s3cret-" + secrets.token_hex(24)
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(make_user("ida"))
    for response in (client.get("/no/such/page/"), client.post("/exports/new/", {"platform": "github"})):
        assert response.status_code in (403, 404)
        for secret in (settings.SECRET_KEY, token_key):
            assert occurrences(response.content, secret) == 0


def test_a_failed_page_request_keeps_a_token_in_its_url_out_of_the_error_and_the_log(settings, caplog):
    """Facebook's and Instagram's `paging.next` URLs carry `access_token=`: a network failure on one
    must not copy the token into the job's error or the log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings.STAREXPORT_SANDBOX = closed
    access = canary()
    client = ApiClient(
        get_extractor("facebook"),
        base_url=f"{closed}/facebook",
        token=access,
        session=guarded_session(),
        attempts=2,
        sleep=lambda seconds: None,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ExtractorError) as failed:
        client.get(Request(url=f"{closed}/facebook/v21.0/me/posts?access_token={access}&limit=25&after=QVFI"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert access not in failed.value.message, failed.value.message
    assert access not in logged


# --- a real export on a real worker ------------------------------------------------------------------
class Monitor:
    """Everything every client sends to a Redis server, as MONITOR reports it, kept in memory."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.sendall(b"MONITOR\r\n")
        self.data = bytearray()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk

    def stop(self) -> bytes:
        time.sleep(0.5)
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        return bytes(self.data)


def redis_contents(url: str) -> tuple[bytes, int]:
    """Every key and value in every database of the server, as bytes."""
    parts = urlsplit(url)
    blob = bytearray()
    keys = 0
    info = redis.Redis(host=parts.hostname, port=parts.port).info("keyspace")
    for name in info:
        client = redis.Redis(host=parts.hostname, port=parts.port, db=int(name[2:]))
        for key in client.scan_iter(count=500):
            keys += 1
            kind = client.type(key).decode()
            blob += key + b"\n"
            if kind == "string":
                blob += client.get(key) or b""
            elif kind == "list":
                blob += b"\n".join(client.lrange(key, 0, -1))
            elif kind == "hash":
                blob += b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
            elif kind == "set":
                blob += b"\n".join(client.smembers(key))
            elif kind == "zset":
                blob += b"\n".join(client.zrange(key, 0, -1))
            blob += client.dump(key) or b""
            blob += b"\n"
    return bytes(blob), keys


def database_dump() -> bytes:
    db = connection.settings_dict
    command = ["pg_dump", "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432)]
    command += ["-U", db["USER"] or "postgres", db["NAME"]]
    env = {"PGPASSWORD": db["PASSWORD"] or "", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def archive_contents(job) -> bytes:
    blob = bytearray()
    with zipfile.ZipFile(links.archive_location(job)) as archive:
        for name in archive.namelist():
            blob += name.encode() + b"\n" + archive.read(name)
    return bytes(blob)


@pytest.mark.pipeline
def test_a_canary_token_is_found_nowhere_after_a_real_export(
    transactional_db,
    sandbox_process,
    own_redis,
    start_worker,
    sole_sweeper,
    make_user,
    settings,
    token_key,
    figure,
):
    """Six exports with media on a real worker, each user's token a canary: afterwards the canary is
    in no database dump, no Redis traffic or key, no worker or sandbox log, no archive."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("the dump is taken with pg_dump (make test runs on PostgreSQL)")
    settings.STAREXPORT_SANDBOX = sandbox_process
    seed_platforms()
    monitor = Monitor(own_redis.url)
    worker = start_worker(reliability_env(sandbox_process, own_redis.url, STAREXPORT_TOKEN_KEY=token_key))
    worker_log: Path = worker.log_path
    log_start = worker_log.stat().st_size

    # Two users, three platforms each: under the limit of five running exports per user.
    slugs = ["github", "reddit", "youtube", "instagram", "facebook", "twitter"]
    canaries: dict[str, tuple[str, str]] = {}
    stored: list[str] = []
    owners = {}
    for index, slug in enumerate(slugs):
        if index % 3 == 0:
            owner = make_user(f"canary{index}{secrets.token_hex(3)}")
        owners[slug] = owner
        platform = Platform.objects.get(slug=slug)
        account = SocialAccount.objects.create(user=owner, provider=platform.provider_id, uid=f"{owner}-{slug}")
        access, refresh = mint_token(slug, owner.username), canary("refresh")
        token = store_token(account, access=access, refresh_token=refresh)
        canaries[slug] = (access, refresh)
        stored.extend(raw_tokens(token.id))
    assert all(value.startswith("fernet:") for value in stored)

    with broker_at(own_redis.url):
        started = [
            jobs.export_job_create(owner=owners[slug], platform_slug=slug, include_media=True, formats=["json", "csv"])
            for slug in slugs
        ]
        finished = [wait_for_job(job, timeout=240) for job in started]
    traffic = monitor.stop()
    for job in finished:
        assert job.status == ExportJob.Status.SUCCEEDED, (job.platform_id, job.error)
        assert job.media_done == job.media_total > 0
        verify_archive(links.archive_location(job), job.platform_id, "--media", "--csv")

    keys_blob, keys = redis_contents(own_redis.url)
    with open(worker_log, "rb") as f:
        f.seek(log_start)
        worker_text = f.read()
    sandbox_log = ROOT / "var" / f"sandbox-test-{urlsplit(sandbox_process).port}.log"
    places = {
        "pg_dump of the test database": database_dump(),
        "Redis commands seen by MONITOR during the run": traffic,
        f"Redis keys and values after the run ({keys} keys)": keys_blob,
        f"worker log ({worker_log.name}, this run)": worker_text,
        f"sandbox log ({sandbox_log.name})": sandbox_log.read_bytes() if sandbox_log.exists() else b"",
        "the six archives, every member": b"".join(archive_contents(job) for job in finished),
    }
    # The searches can see: the worker did use the tokens (the sandbox accepted every one) and the
    # monitor saw the jobs go by.
    assert str(finished[0].id).encode() in traffic or occurrences(traffic, str(finished[0].id)) > 0
    assert places["pg_dump of the test database"].count(b"fernet:") >= len(stored)

    found = {}
    for where, blob in places.items():
        hits = sum(occurrences(blob, secret) for pair in canaries.values() for secret in pair)
        found[where] = hits
        figure(f"canary tokens found in: {where} ({len(blob):,} bytes searched)", hits)
    encrypted = sum(places["pg_dump of the test database"].count(value.encode()) for value in stored)
    figure("encrypted tokens (fernet:…) found in the pg_dump", f"{encrypted} of {len(stored)}")
    figure(
        "spellings searched per canary (plain, URL-encoded, base64 and URL-safe base64 at 3 alignments)",
        len(spellings(canaries["github"][0])),
    )
    assert found == dict.fromkeys(places, 0), found
    assert encrypted == len(stored)


def test_the_spellings_find_a_secret_inside_base64_and_url_encoding():
    """The search itself: a secret wrapped as Celery wraps a message body is found at every offset."""
    secret = canary()
    for prefix in ("", "a", "ab", "abc", '{"args": ["'):
        text = f'{prefix}{secret}", "kwargs": {{}}'.encode()
        assert occurrences(base64.b64encode(text), secret) > 0, prefix
        assert occurrences(base64.urlsafe_b64encode(text), secret) > 0, prefix
    assert occurrences(f"GET /x?access_token={quote(secret, safe='')}".encode(), secret) > 0
    assert occurrences(re.sub("canary", "canarz", secret).encode(), secret) == 0
