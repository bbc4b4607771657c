"""Figures for docs/reliability.md: each reliability test records what it measured.

`figure(test, what, value, command)` appends one row to var/figures/<test>.json; the report
(`make reliability`) turns all rows into the table in docs/reliability.md.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, Worker, free_port, worker_env

FIGURES = Path(os.environ.get("STAREXPORT_FIGURES_DIR", Path(__file__).resolve().parents[2] / "var" / "figures"))


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


@pytest.fixture
def figure(request):
    rows = []

    def record(what: str, value, *, does: str = "", command: str = "") -> None:
        rows.append(
            {
                "test": request.node.nodeid,
                "does": does or _first_line(request.node.function.__doc__),
                "what": what,
                "value": value,
                "command": command or f".venv/bin/python -m pytest '{request.node.nodeid}'",
            }
        )

    yield record
    if rows:
        FIGURES.mkdir(parents=True, exist_ok=True)
        name = request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
        (FIGURES / f"{name}.json").write_text(json.dumps(rows, indent=2))


# --- marks (the `load` mark and its skipping are in tests/conftest.py) ----------------------------
def reproduce_command(node) -> str:
    marks = "-m load " if node.get_closest_marker("load") else ""
    return f"make test PYTEST_ARGS=\"{marks}'{node.nodeid}'\""


@pytest.fixture
def measured(figure, request):
    """`figure`, with the make command that reproduces this very test."""
    command = reproduce_command(request.node)

    def record(what: str, value, **extra) -> None:
        extra.setdefault("command", command)
        figure(what, value, **extra)

    return record


# --- processes the tests break on purpose ----------------------------------------------------------
class RedisServer:
    """A redis-server process of the test's own, on its own port: stopping or restarting it cannot
    disturb the machine's Redis, which other test runs share. Nothing is persisted, so a restart
    loses every queued message, the harshest case for the job pipeline."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir, self.port, self.proc = workdir, port or free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: _pings(client), timeout=15, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class RelWorker(Worker):
    """A real `celery worker -B` that the test may SIGKILL. Killed by process id, its whole tree
    (main process, pool processes, embedded beat), and never by a name another run could share."""

    def __init__(self, env: dict, name: str, workdir: Path):
        super().__init__(env, name)
        self.workdir = workdir
        self.log = None

    def start(self, concurrency: int = 2, queues: str = "") -> None:
        self.concurrency = concurrency
        self.queues = queues or getattr(self, "queues", "")
        self.log_path = ROOT / "var" / f"worker-{self.name}.log"
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "a")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "starexport", "worker", "-l", "INFO",
             f"--concurrency={concurrency}", "-n", f"{self.name}@%h", "--without-gossip", "--without-mingle",
             "-B", "--scheduler", "celery.beat:PersistentScheduler", "-s", str(self.workdir / f"beat-{self.name}"),
             *(["-Q", self.queues] if self.queues else [])],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def connected() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited; see {self.log_path}")
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return b"Connected to redis" in f.read()

        wait_until(connected, timeout=60, what=f"worker {self.name}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tree(self) -> list:
        import psutil

        if not self.running():
            return []
        try:
            main = psutil.Process(self.proc.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        import psutil

        total = 0
        for process in self.tree():
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def kill(self) -> None:
        import psutil

        for process in self.tree():
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        if self.proc:
            self.proc.wait(10)
        if self.log:
            self.log.close()
            self.log = None

    def stop(self) -> None:
        import psutil

        if self.running():
            children = self.tree()[1:]
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
            # A warm shutdown waits for running tasks; whatever is left is ended by its id.
            for process in children:
                try:
                    process.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
            if self.proc.poll() is None:
                self.kill()
        if self.log:
            self.log.close()
            self.log = None


def reliability_env(sandbox_base: str, broker_url: str, **knobs) -> dict:
    """The test worker's environment on another broker. Knobs are STAREXPORT_* names without the
    prefix (`LEASE_SECONDS=6`) or whole variable names (`MEDIA_ROOT=...`, `AWS_...`)."""
    env = worker_env(sandbox_base)
    env["REDIS_URL"] = broker_url
    # Cache and results on the same server: when that Redis is down, all of it is.
    env["CACHE_REDIS_URL"] = broker_url.rsplit("/", 1)[0] + "/1"
    env.pop("CELERY_RESULT_BACKEND", None)
    for name, value in knobs.items():
        whole = name.startswith(("STAREXPORT_", "AWS_", "MEDIA_", "CELERY_", "DATABASE_", "REDIS_"))
        env[name if whole else f"STAREXPORT_{name}"] = str(value)
    return env


@contextmanager
def broker_at(url: str):
    """Point this process's Celery app (what `export_job_create` enqueues with) at another broker."""
    from starexport.celery import app

    def drop_pools():
        # Only forgotten, not closed: kombu keeps one pool per broker URL for the whole process.
        app._pool = None
        app.amqp._producer_pool = None

    saved = app.conf.broker_url
    app.conf.broker_url = url
    drop_pools()
    try:
        yield
    finally:
        app.conf.broker_url = saved
        drop_pools()


@pytest.fixture
def start_worker(django_db_setup, tmp_path):
    """`start_worker(env, concurrency=2)` starts a RelWorker; every one is stopped after the test."""
    workers: list[RelWorker] = []

    def start(env: dict, *, concurrency: int = 2, name: str = "", queues: str = "") -> RelWorker:
        worker = RelWorker(env, name or f"rel-{uuid.uuid4().hex[:8]}", tmp_path / "workers")
        worker.start(concurrency, queues=queues)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def purge_files():
    """`purge_files(*owners)`: their media and archives are deleted after the test, so the big
    files some tests make do not pile up in the test storage run after run."""
    owners = []
    yield lambda *more: owners.extend(more)
    import shutil

    from django.conf import settings

    for owner in owners:
        for folder in ("media", "archives"):
            shutil.rmtree(Path(settings.MEDIA_ROOT) / folder / str(owner.pk), ignore_errors=True)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


# --- the sandbox process's knobs -------------------------------------------------------------------
KNOB_DEFAULTS = {
    "latency_ms": 0,
    "fault_429_every": 0,
    "retry_after": 1,
    "fault_5xx_rate": 0.0,
    "truncate_rate": 0.0,
    "slow_body_ms": 0,
    "media_bytes": 0,
    "app_limits": {},
    "youtube_daily_units": 0,
    "youtube_day_seconds": 0,
    "records": 12,
    "page_size": 5,
}


def sandbox_config(base: str, **knobs) -> None:
    requests.post(f"{base}/_config", json=knobs, timeout=5).raise_for_status()


def sandbox_reset(base: str) -> None:
    sandbox_config(base, **KNOB_DEFAULTS)
    requests.post(f"{base}/_stats/reset", timeout=5).raise_for_status()


def sandbox_requests(base: str) -> dict[str, int]:
    return requests.get(f"{base}/_stats", timeout=5).json()["requests"]


def wait_until(predicate, *, timeout: float, what: str = "the condition", every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def session_worker(request):
    """The pipeline tests' session-wide `worker`, when this run has started one; else None."""
    try:
        fixturedefs = request._fixturemanager.getfixturedefs("worker", request.node) or ()
    except Exception:  # a pytest without this internal: nothing to pause
        return None
    for fixturedef in fixturedefs:
        cached = getattr(fixturedef, "cached_result", None)
        if cached and isinstance(cached[0], Worker):
            return cached[0]
    return None


@pytest.fixture
def rig(transactional_db, sole_sweeper, sandbox_process, settings):
    """The sandbox process as the installation's, the platforms seeded, its knobs reset before and
    after (the load runs' set-up)."""
    from tests.conftest import seed_platforms

    settings.STAREXPORT_SANDBOX = sandbox_process
    seed_platforms()
    sandbox_reset(sandbox_process)
    yield sandbox_process
    sandbox_reset(sandbox_process)


@pytest.fixture(scope="module")
def sole_sweeper(request):
    """Every worker's sweeper scans the whole test database, so the pipeline tests' session worker
    would take over the steps these tests leave to their own workers' sweepers, with its own
    settings. It is paused while the module runs and started again after."""
    worker = session_worker(request)
    if worker is None or not worker.proc or worker.proc.poll() is not None:
        yield
        return
    worker.stop()
    yield
    worker.start()
