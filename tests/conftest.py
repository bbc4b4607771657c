import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples" / "api"
VERIFY = ROOT.parent / "shared" / "tools" / "verify_archive.py"
MAIL_DIR = ROOT / "var" / "test-mail"


def _token_key_for_this_run() -> None:
    """Tokens are stored only encrypted. A run with no key of its own keeps one in its var folder,
    as the demo does, and hands it to the workers and `manage.py` processes it starts (some of
    them with a var folder of their own)."""
    from django.conf import settings

    from accounts.tokens import create_key_file

    if not settings.STAREXPORT_TOKEN_KEY:
        create_key_file(settings.TOKEN_KEY_PATH)
        settings.STAREXPORT_TOKEN_KEY = settings.TOKEN_KEY_PATH.read_text().strip()
    os.environ.setdefault("STAREXPORT_TOKEN_KEY", settings.STAREXPORT_TOKEN_KEY)


_token_key_for_this_run()


@pytest.fixture
def sample():
    """Read a recorded platform response from ../shared/samples/api/<platform>/<name>."""

    def load(relative: str):
        return json.loads((SAMPLES / relative).read_text())

    return load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_archive(path, platform: str, *flags: str) -> str:
    """Run ../shared/tools/verify_archive.py; returns its output, asserting it said ok."""
    result = subprocess.run(
        [sys.executable, str(VERIFY), str(path), platform, *flags], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def seed_platforms():
    """The Platform rows of the data migration (transactional tests truncate them away)."""
    from django.apps import apps

    importlib.import_module("platforms.migrations.0002_seed_platforms").seed(apps, None)
    importlib.import_module("platforms.migrations.0003_github_files").enable_files(apps, None)
    importlib.import_module("exports.migrations.0007_everything").add_everything(apps, None)
    importlib.import_module("platforms.migrations.0004_budgets").set_budgets(apps, None)


DB_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


@pytest.fixture(autouse=True)
def platform_budgets(request, settings):
    """Each platform's shared request budget is sized from its `Platform` row: a test without a
    database runs without budgets; every test starts from sizes read afresh."""
    from platforms.budget import forget_cached_budgets

    forget_cached_budgets()
    if not (request.node.get_closest_marker("django_db") or DB_FIXTURES & set(request.fixturenames)):
        settings.STAREXPORT = {**settings.STAREXPORT, "BUDGETS": False}
    else:
        outages_forget()
    yield
    forget_cached_budgets()


def outages_forget() -> None:
    """Every test starts with every platform answering: no outage carried over from another."""
    from platforms.outage import health_reset
    from platforms.registry import EXTRACTORS

    for slug in EXTRACTORS:
        health_reset(slug)


@pytest.fixture
def platforms(db):
    seed_platforms()
    from platforms.models import Platform

    return {p.slug: p for p in Platform.objects.all()}


@pytest.fixture
def oauth_apps(settings):
    """Every platform's OAuth app configured, as on a server set up per docs/oauth-apps.md."""
    settings.SOCIALACCOUNT_PROVIDERS = {
        provider: {**conf, "APPS": [{"client_id": f"test-{provider}", "secret": "s"}]}
        for provider, conf in settings.SOCIALACCOUNT_PROVIDERS.items()
    }


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username="alice", **extra):
        extra.setdefault("email", f"{username}@example.com")
        return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def connect():
    """Connect a user to a platform with a token the sandbox accepts, as demo_setup does."""
    from allauth.socialaccount.models import SocialAccount

    from accounts.tokens import store_token
    from platforms.models import Platform
    from platforms.sandbox.auth import mint_token

    def make(user, slug, *, token=None, identity=None):
        platform = Platform.objects.get(slug=slug)
        account, _ = SocialAccount.objects.get_or_create(
            user=user, provider=platform.provider_id, defaults={"uid": f"{user.username}-{slug}"}
        )
        store_token(account, access=token or mint_token(slug, identity or user.username))
        return account

    return make


# --- the sandbox in this process -----------------------------------------------------------------
@pytest.fixture(scope="session")
def sandbox_server():
    from platforms.sandbox.core import SandboxConfig, serve_in_thread

    server = serve_in_thread(SandboxConfig(port=0, records=12, page_size=5))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The in-process sandbox, configured as the installation's STAREXPORT_SANDBOX; knobs reset after."""
    from dataclasses import replace

    settings.STAREXPORT_SANDBOX = sandbox_server.base_url
    saved = replace(sandbox_server.sandbox.config)
    sandbox_server.sandbox.reset()
    yield sandbox_server
    for field, value in vars(saved).items():
        if field not in ("host", "port"):
            setattr(sandbox_server.sandbox.config, field, value)


@pytest.fixture
def live_sandbox(settings):
    """Start sandboxes with given knobs (`live_sandbox(records=30, page_size=10)`), each on its own
    port and made the installation's STAREXPORT_SANDBOX; all are stopped after the test."""
    from platforms.sandbox.core import SandboxConfig, serve_in_thread

    servers = []

    def start(*, slugs=None, **knobs):
        server = serve_in_thread(SandboxConfig(port=0, **knobs), slugs=slugs)
        servers.append(server)
        # The guarded session lets exactly this origin reach loopback, as in a sandboxed install.
        settings.STAREXPORT_SANDBOX = server.base_url
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- real processes: sandbox, Celery worker, S3 ------------------------------------------------
def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="session")
def sandbox_process():
    """`manage.py sandbox` as its own process, as the demo and production-like runs use it."""
    port = free_port()
    log = open(ROOT / "var" / f"sandbox-test-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--port", str(port), "--records", "12", "--page-size", "5"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/_health")
    yield base
    proc.terminate()
    proc.wait(10)
    log.close()


def worker_env(sandbox_base: str) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env["STAREXPORT_SANDBOX"] = sandbox_base
    env["STAREXPORT_LEASE_SECONDS"] = os.environ.get("TEST_WORKER_LEASE_SECONDS", "15")
    env["STAREXPORT_SWEEP_SECONDS"] = "3"
    env["STAREXPORT_DOWNLOAD_CONCURRENCY"] = "4"
    env["STAREXPORT_DOWNLOAD_CHUNK_FILES"] = "10"
    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    # The worker's emails land as files the tests can read (four slashes: an absolute path).
    env["EMAIL_URL"] = f"filemail:///{MAIL_DIR}"
    env.pop("TEST_DATABASE_NAME", None)
    return env


class Worker:
    """A real `celery worker` process against the test database and Redis."""

    def __init__(self, env: dict, name: str):
        self.env, self.name, self.proc = env, name, None

    def start(self, concurrency: int = 2) -> None:
        self.log = open(ROOT / "var" / f"worker-{self.name}.log", "a")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "starexport", "worker", "-l", "INFO",
             f"--concurrency={concurrency}", "-n", f"{self.name}@%h", "--without-gossip", "--without-mingle",
             # The sweeper runs in the worker's embedded beat, as the beat service does in production.
             "-B", "--scheduler", "celery.beat:PersistentScheduler", "-s", str(ROOT / "var" / f"beat-{self.name}")],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool), as a crashed machine would."""
        import signal

        subprocess.run(["pkill", "-KILL", "-f", "--", f"{self.name}@%h"], check=False)
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="session")
def celery_broker():
    """The Redis database the tests' workers use, emptied first."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.skip("pipeline tests need REDIS_URL (make test sets it)")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, celery_broker, sandbox_process):
    w = Worker(worker_env(sandbox_process), f"w1-{os.getpid()}")  # killed by name: one per run
    w.start()
    yield w
    w.stop()


@pytest.fixture
def live(transactional_db, worker, sandbox_process, settings):
    """Pipeline tests: committed data, the sandbox process and a real worker."""
    settings.STAREXPORT_SANDBOX = sandbox_process
    seed_platforms()
    requests.post(sandbox_process + "/_stats/reset", timeout=5)
    return sandbox_process


def wait_for_job(job, timeout: float = 120.0, statuses=("succeeded", "failed", "canceled")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job stayed {job.status} ({job.step}) for {timeout}s")


@pytest.fixture(scope="session")
def s3_server():
    """moto in server mode: a real S3-compatible HTTP server process."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(url)
    yield url
    proc.terminate()
    proc.wait(10)


def pytest_collection_modifyitems(config, items):
    # Load tests take minutes: a plain `make test` skips them, `make reliability` runs them
    # (`-m load`, or `-m "load or not load"`).
    if config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="a load test: select it with -m load (make reliability)")
    for item in items:
        if item.get_closest_marker("load"):
            item.add_marker(skip)


def pytest_configure(config):
    """A transactional test ends by emptying every table (TRUNCATE), while a real worker may still
    be writing what follows a finished job (its email, webhooks, library rows). PostgreSQL then
    ends one of the two as a deadlock; when that is the flush, it is simply done again."""
    from django.core.management.base import CommandError
    from django.core.management.commands import flush
    from django.db import OperationalError

    handle = flush.Command.handle

    def handle_retrying_deadlocks(self, **options):
        for attempt in range(5):
            try:
                return handle(self, **options)
            except CommandError as exc:
                cause = exc.__cause__
                if attempt == 4 or not (isinstance(cause, OperationalError) and "deadlock" in str(cause)):
                    raise
                time.sleep(0.5)

    flush.Command.handle = handle_retrying_deadlocks
