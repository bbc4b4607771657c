"""The web benchmark: `/exports/<id>/status.json` under `wrk -t2 -c50`, as scripts and open job
pages poll it, for a finished job and a running one, on SQLite and on PostgreSQL.

`make bench-web`, or `python -m benchmarks.web --help` for the knobs. The site runs as the demo runs
it (`gunicorn starexport.wsgi -w 2`, sync workers) without a sandbox, on a throw-away database: a
SQLite file in a temporary directory with the demo's file cache, and a PostgreSQL database of its
own (created and dropped here) with a Redis cache, as in production. A child process creates the
user, signs them in and creates the two jobs, as the site would have; gunicorn is stopped and the
database removed at the end, whatever happens.

The last line is for machines: `bench-web: sqlite_finished_p99_ms=N sqlite_running_p99_ms=N …`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.media import (
    LOCAL,
    ROOT,
    BenchError,
    cpu_of,
    free_port,
    machine,
    print_report,
    stop_process,
    tool_version,
    verdict,
    wait_for,
)

TARGET_P99_MS = 100
JOBS = ("finished", "running")
DEMO_GUNICORN = "-w 2"  # scripts/demo.sh
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# Only sessions and cached answers of its own user go there, under keys of their own.
REDIS_URL = "redis://127.0.0.1:6379/12"


# --- the site's data, inside a child process -----------------------------------------------------
def prepare(spec: dict) -> dict:
    """A signed-in user with a finished job and a running one, each with 100 media files of which
    a few failed (failures are listed in the JSON, so they are part of what is measured)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from exports.models import ExportJob, MediaFile
    from platforms.models import Platform

    platform = Platform.objects.get(slug="reddit")
    owner = get_user_model().objects.create_user("bench", "bench@example.com", "a-long-bench-password-1")
    now = timezone.now()
    common = {"owner": owner, "platform": platform, "formats": ["json", "csv"], "include_media": True}
    finished = ExportJob.objects.create(
        **common,
        status=ExportJob.Status.SUCCEEDED,
        progress=100,
        step="Done: 120 records, 95 media files",
        records_count=120,
        archive_name="archives/bench/reddit-export.zip",
        archive_size=41_000_000,
        expires_at=now + timezone.timedelta(days=7),
        succeeded_at=now,
    )
    running = ExportJob.objects.create(
        **common,
        status=ExportJob.Status.DOWNLOADING,
        progress=60,
        step="Downloading media: 60/100 files",
        records_count=120,
    )
    for job, failed, done in ((finished, 5, 95), (running, 2, 58)):
        MediaFile.objects.bulk_create(
            MediaFile(
                job=job,
                media_id=f"m{i}",
                source_url=f"https://i.redd.it/m{i}.jpg",
                kind="image",
                ext="jpg",
                record_ids=[f"t3_{i}"],
                status=MediaFile.Status.FAILED if i < failed else MediaFile.Status.DONE,
                last_error="HTTP 404 from i.redd.it" if i < failed else "",
                size=400_000,
            )
            for i in range(failed + done)
        )
        ExportJob.objects.filter(id=job.id).update(
            media_total=100, media_done=done, media_failed=failed, media_bytes=done * 400_000
        )
    client = Client()
    client.force_login(owner)
    return {
        "cookie": f"sessionid={client.cookies['sessionid'].value}",
        "finished": str(finished.id),
        "running": str(running.id),
    }


# --- wrk -----------------------------------------------------------------------------------------
WRK_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$")


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict:
    """p50/p99 (ms), requests, requests/s and errors from `wrk --latency` output."""
    result = {"non_2xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        match = WRK_LINE.match(line)
        if match:
            result[f"p{match[1]}"] = to_ms(match[2], match[3])
        elif match := re.search(r"(\d+) requests in", line):
            result["requests"] = int(match[1])
        elif match := re.search(r"Requests/sec:\s+([\d.]+)", line):
            result["rps"] = float(match[1])
        elif match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            result["non_2xx"] = int(match[1])
        elif line.strip().startswith("Socket errors:"):
            result["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
    return result


# --- one set-up: a database, its site, its runs ----------------------------------------------------
@dataclass
class Setup:
    name: str  # "sqlite" or "postgresql"
    label: str
    env: dict
    drop: str = ""  # the PostgreSQL database to drop at the end


def base_env(work: Path) -> dict:
    """Embedded defaults under `work`, whatever the caller's environment; production's DEBUG."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "EMAIL_URL",
                 "STAREXPORT_SANDBOX", "TEST_DATABASE_NAME"):  # fmt: skip
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="starexport.settings",
        STAREXPORT_VAR_DIR=str(work / "var"),
        MEDIA_ROOT=str(work / "storage"),
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="ERROR",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    return env


def postgres_database(admin_url: str, name: str, *, create: bool) -> None:
    """Create (or drop) database `name` on the server of `admin_url`."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


class WebBench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.gunicorn: subprocess.Popen | None = None
        self.log = None

    def setups(self) -> list[Setup]:
        out = []
        for name in self.args.databases:
            env = base_env(self.work / name)
            if name == "sqlite":
                out.append(Setup(name, "SQLite, the demo's file cache", env))
                continue
            db = f"starexport_bench_web_{os.getpid()}"
            env["DATABASE_URL"] = urlunsplit(urlsplit(self.args.postgres_url)._replace(path=f"/{db}"))
            label = "PostgreSQL, the demo's file cache"
            if self.args.redis_url:
                env["REDIS_URL"] = env["CACHE_REDIS_URL"] = self.args.redis_url
                label = "PostgreSQL, Redis cache"
            out.append(Setup(name, label, env, drop=db))
        return out

    def run_child(self, env: dict, *argv: str) -> None:
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout).strip()[-600:]}")

    def start(self, setup: Setup) -> str:
        port = free_port()
        self.log = open(self.work / f"gunicorn-{setup.name}.log", "w")
        gunicorn = Path(sys.executable).parent / "gunicorn"
        command = [str(gunicorn), "starexport.wsgi", "-b", f"127.0.0.1:{port}", *shlex.split(self.args.gunicorn)]
        self.gunicorn = subprocess.Popen(command, cwd=ROOT, env=setup.env, stdout=self.log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/accounts/login/", self.gunicorn)
        return base

    def stop(self) -> None:
        if self.gunicorn is not None:
            stop_process(self.gunicorn, 20)
            self.gunicorn = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def server_cpu(self) -> float:
        """CPU seconds gunicorn's master and workers have used so far (Linux's /proc)."""
        pid = self.gunicorn.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return cpu_of(pid) + sum(cpu_of(int(child)) for child in children)

    def get_json(self, url: str, cookie: str) -> dict:
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        with LOCAL.open(request, timeout=10) as response:
            return json.load(response)

    def measure(self, setup: Setup) -> dict:
        spec = self.work / f"{setup.name}-spec.json"
        spec.write_text(json.dumps({"result": str(spec)}))
        if setup.drop:
            postgres_database(self.args.postgres_url, setup.drop, create=True)
        self.run_child(setup.env, "manage.py", "migrate", "--noinput", "--verbosity", "0")
        self.run_child(setup.env, "-m", "benchmarks.web", "--prepare", str(spec))
        data = json.loads(spec.read_text())
        base = self.start(setup)
        results = {}
        try:
            for job in JOBS:
                url = f"{base}/exports/{data[job]}/status.json"
                answer = self.get_json(url, data["cookie"])  # also warms both workers' first request
                expected = "succeeded" if job == "finished" else "downloading"
                if answer.get("status") != expected or len(answer.get("failures", [])) != answer["media"]["failed"]:
                    raise BenchError(f"the {job} job's status.json is not what was set up: {answer}")
                for _ in range(20):
                    self.get_json(url, data["cookie"])
                cpu = self.server_cpu()
                run = subprocess.run(
                    ["wrk", f"-t{self.args.threads}", f"-c{self.args.connections}", f"-d{self.args.seconds}s",
                     "--latency", "-H", f"Cookie: {data['cookie']}", url],
                    capture_output=True, text=True, timeout=self.args.seconds + 60,
                )  # fmt: skip
                if run.returncode != 0:
                    raise BenchError(f"wrk failed: {run.stderr.strip()[-400:]}")
                results[job] = parse_wrk(run.stdout)
                results[job]["cpu_ms"] = (self.server_cpu() - cpu) * 1000 / max(1, results[job].get("requests", 0))
                if "p99" not in results[job]:
                    raise BenchError(f"no latency figures in wrk's output: {run.stdout[-400:]}")
        finally:
            self.stop()
        return results


def report(args, setups: list[Setup], results: dict, load_at_start: float) -> str:
    lines = [
        f"Star Export web benchmark, {date.today().isoformat()}",
        f"machine: {machine()}; {tool_version(['wrk', '-v'], 'wrk ').split(' Copyright')[0]}",
        f"load average (1 min): {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
        f"gunicorn starexport.wsgi {args.gunicorn} (DEBUG=false); "
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s on /exports/<id>/status.json, signed in",
        "jobs: finished (succeeded, 100 media files, 5 failed) and running (downloading, 60 of 100, 2 failed)",
        "cpu ms: CPU time of gunicorn's processes per request answered (the rest of the machine aside)",
        "",
        f"  {'database':<36}{'job':<10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'cpu ms':>8}  target",
    ]
    machine_line = []
    for setup in setups:
        for job in JOBS:
            r = results[setup.name][job]
            errors = r["non_2xx"] + r["socket_errors"]
            met = verdict(r["p99"], TARGET_P99_MS, below=True) if errors == 0 else "MISSED (errors)"
            lines.append(
                f"  {setup.label:<36}{job:<10}{r['requests']:>10}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                f"{errors:>8}{r['cpu_ms']:>8.2f}  p99 < {TARGET_P99_MS}, 0 errors: {met}"
            )
            machine_line.append(f"{setup.name}_{job}_p99_ms={r['p99']:.1f} {setup.name}_{job}_rps={r['rps']:.0f}")
            machine_line.append(f"{setup.name}_{job}_errors={errors}")
    lines += ["", "bench-web: " + " ".join(machine_line)]
    return "\n".join(lines)


def bench(args) -> str:
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="starexport-bench-web-"))
    web = WebBench(args, work)
    setups: list[Setup] = []
    try:
        setups = web.setups()
        results = {setup.name: web.measure(setup) for setup in setups}
        return report(args, setups, results, load_at_start)
    finally:
        web.stop()
        for setup in setups:
            if setup.drop:
                postgres_database(args.postgres_url, setup.drop, create=False)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.web",
        description="status.json under wrk for a finished and a running job, on SQLite and PostgreSQL.",
    )
    parser.add_argument("--seconds", type=int, default=20, help="wrk's run per job and database (default 20)")
    parser.add_argument("--connections", type=int, default=50, help="wrk's -c (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk's -t (default 2)")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated: sqlite, postgresql (default both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL),
        help=f"a PostgreSQL server's URL to create the throw-away database from (default {POSTGRES_URL})",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        help=f"the PostgreSQL set-up's cache, as production has it (default {REDIS_URL}; '' for the file cache)",
    )
    parser.add_argument(
        "--gunicorn",
        default=DEMO_GUNICORN,
        help=f"gunicorn's options besides the bind (default: the demo's {DEMO_GUNICORN!r})",
    )
    parser.add_argument("--prepare", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.prepare:
        spec = json.loads(Path(args.prepare).read_text())
        Path(spec["result"]).write_text(json.dumps(prepare(spec)))
        return 0
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and postgresql, not {', '.join(sorted(unknown)) or 'nothing'}")
    if min(args.seconds, args.connections, args.threads) < 1:
        parser.error("--seconds, --connections and --threads must be positive")

    return print_report(bench, args)


if __name__ == "__main__":
    sys.exit(main())
