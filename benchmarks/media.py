"""The media benchmark: our download and archive stages against aria2c and zip, on the same files.

`make bench`, or `python -m benchmarks.media --help` for the knobs. The sandbox (`manage.py
sandbox`) serves the files from a process of its own with a latency per request; aria2c, zip and
each of our stages run as processes of their own, so a peak RSS is that one process's (read from
wait4, not sampled) and no stage warms another's interpreter. Our stages are the real code path —
`media_download_many`, then `archive_build` — on a throw-away SQLite database and local storage in
a temporary directory that is removed at the end, as the sandbox is stopped, whatever happens.

The last line is for machines: `bench: download/aria2c=R archive/zip0=R peak_rss_mb=N`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
KB, MB = 1 << 10, 1 << 20
SMALLEST, LARGEST = 10 * KB, 5 * MB
MP4_SHARE = 0.25
SIZE_SIGMA = 1.3  # spread of the log-normal sizes, in e-folds
SEED = "starexport-bench"
TARGET_DOWNLOAD, TARGET_ARCHIVE, TARGET_RSS_MB = 1.15, 1.2, 200
# The sandbox is reached on loopback; a proxy from the environment must not sit in between.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """The benchmark cannot measure what it says it measures (a tool missing, a file not fetched)."""


@dataclass
class BenchFile:
    name: str  # the URL's last segment, which is also the name aria2c saves it under
    size: int
    url: str

    @property
    def stem(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def ext(self) -> str:
        return self.name.rpartition(".")[2]


# --- the files ---------------------------------------------------------------------------------
def sizes_plan(count: int, total: int, low: int, high: int, rng: random.Random) -> list[int]:
    """`count` sizes in [low, high] adding up to about `total`: log-normal around a middle found by
    bisection, so most files weigh a few hundred KB and a few reach the top of the range."""
    total = min(max(total, count * low), count * high)
    draws = [rng.gauss(0, SIZE_SIGMA) for _ in range(count)]

    def sizes(middle: float) -> list[int]:
        return [min(high, max(low, round(middle * math.exp(z)))) for z in draws]

    lo, hi = math.log(low), math.log(high)  # bounds for the log of the middle
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(sizes(math.exp(mid))) > total:
            hi = mid
        else:
            lo = mid
    return sizes(math.exp((lo + hi) / 2))


def bench_files(base: str, *, count: int, total_mb: float) -> list[BenchFile]:
    rng = random.Random(SEED)
    files = []
    for i, size in enumerate(sizes_plan(count, int(total_mb * MB), SMALLEST, LARGEST, rng)):
        name = f"bench-{i}.{'mp4' if rng.random() < MP4_SHARE else 'jpg'}"
        files.append(BenchFile(name, size, f"{base}/reddit/media/{name}?bytes={size}"))
    return files


def big_job_files(base: str, big_mb: int) -> list[BenchFile]:
    """One big video and a few small images: the job whose peak RSS is measured."""
    sizes = {"rss-video.mp4": big_mb * MB, "rss-0.jpg": 40 * KB, "rss-1.jpg": 300 * KB, "rss-2.jpg": 3 * MB}
    return [BenchFile(name, size, f"{base}/reddit/media/{name}?bytes={size}") for name, size in sizes.items()]


# --- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server process exited with status {proc.returncode} before answering")
        try:
            LOCAL.open(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{url} did not answer within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sandbox_requests(base: str, *, reset: bool = False) -> int:
    """Requests the sandbox answered since the last reset (so retries show up in the table)."""
    if reset:
        LOCAL.open(urllib.request.Request(base + "/_stats/reset", data=b"", method="POST"), timeout=10).close()
        return 0
    with LOCAL.open(base + "/_stats", timeout=10) as response:
        return json.load(response)["requests_total"]


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far; Linux's /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system, all threads
    peak_rss_mb: float


def run_timed(cmd: list[str], **kwargs) -> Run:
    """Run a command to its end; its wall time and its own peak RSS (wait4 gives that child's)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, **kwargs)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])} … exited with status {proc.returncode}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def child_env(work: Path, base: str, concurrency: int) -> dict[str, str]:
    """Embedded defaults (SQLite, local storage) under `work`, whatever the caller's environment."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "EMAIL_URL", "TEST_DATABASE_NAME"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="starexport.settings",
        STAREXPORT_VAR_DIR=str(work / "var"),
        MEDIA_ROOT=str(work / "storage"),
        STAREXPORT_SANDBOX=base,
        # One host serves every file: the per-host cap must not undercut the concurrency compared.
        STAREXPORT_DOWNLOAD_CONCURRENCY=str(concurrency),
        STAREXPORT_DOWNLOAD_PER_HOST=str(concurrency),
        # zipstream warns once per stored member that compress_level does not apply to it.
        LOG_LEVEL="ERROR",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    if not env.get("STAREXPORT_TOKEN_KEY") and not env.get("STAREXPORT_TOKEN_KEY_FILE"):
        # The throw-away user's token is stored encrypted like any other: a key of the run's own.
        from cryptography.fernet import Fernet

        env["STAREXPORT_TOKEN_KEY"] = Fernet.generate_key().decode()
    return env


# --- our stages, inside a child process --------------------------------------------------------
def job_stage(spec: dict) -> dict:
    """Create a job for the files, then time our download stage and our archive stage on it."""
    import django

    django.setup()
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth import get_user_model

    from accounts.tokens import store_token
    from exports.archive import archive_build
    from exports.downloading import media_download_many
    from exports.models import ExportJob, MediaFile
    from platforms.models import Platform
    from platforms.sandbox.auth import mint_token

    files = [BenchFile(**f) for f in spec["files"]]
    platform = Platform.objects.get(slug="reddit")
    # Reddit's seeded limit (100 MB) would refuse the big video; the limit is not what is measured.
    needed_mb = -(-max(f.size for f in files) // MB)
    if platform.max_file_size_mb < needed_mb:
        Platform.objects.filter(pk=platform.pk).update(max_file_size_mb=needed_mb)
        platform.refresh_from_db()
    owner, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    # Connected as demo_setup connects a user: the download stage asks for the user's token.
    account, _ = SocialAccount.objects.get_or_create(
        user=owner, provider=platform.provider_id, defaults={"uid": "bench"}
    )
    store_token(account, access=mint_token(platform.slug, owner.username))
    job = ExportJob.objects.create(
        owner=owner, platform=platform, formats=["json"], include_media=True, status=ExportJob.Status.DOWNLOADING
    )
    MediaFile.objects.bulk_create(
        MediaFile(
            job=job,
            media_id=f.stem,
            source_url=f.url,
            kind="video" if f.ext == "mp4" else "image",
            ext=f.ext,
            record_ids=[f"t3_{f.stem}"],
            timestamp="2024-05-01T12:00:00Z",
        )
        for f in files
    )
    ids = list(job.media_files.order_by("id").values_list("id", flat=True))

    started, cpu = time.perf_counter(), time.process_time()
    media_download_many(job, ids)
    result = {"download_seconds": time.perf_counter() - started, "download_cpu": time.process_time() - cpu}
    done = job.media_files.filter(status=MediaFile.Status.DONE)
    result["failed"] = list(
        job.media_files.exclude(status=MediaFile.Status.DONE).values_list("media_id", "last_error")[:5]
    )
    if result["failed"]:
        return result

    started, cpu = time.perf_counter(), time.process_time()
    archive = archive_build(job)
    result["archive_seconds"], result["archive_cpu"] = time.perf_counter() - started, time.process_time() - cpu
    result["archive_bytes"] = archive.size

    result["files"] = {
        media_id: [sha256, size] for media_id, sha256, size in done.values_list("media_id", "sha256", "size")
    }
    return result


# --- the report --------------------------------------------------------------------------------
def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = f"{os.cpu_count()} CPUs" + (f" ({model})" if model else "")
    return f"{platform.system()} {platform.machine()}, {cpus}, Python {platform.python_version()}"


def tool_version(cmd: list[str], marker: str) -> str:
    output = subprocess.run(cmd, capture_output=True, text=True).stdout
    return next((line.strip() for line in output.splitlines() if marker in line), "")


def verdict(value: float, target: float, *, below: bool = False) -> str:
    # Judged on the figure as printed, so the verdict never contradicts the number beside it.
    value = round(value) if below else round(value, 2)
    met = value < target if below else value <= target
    return "ok" if met else "MISSED"


def mb(n: float) -> str:
    return f"{n / MB:,.1f}"


class Bench:
    """The sandbox process, the files, and the runs of each client against them."""

    def __init__(self, args, work: Path):
        self.args, self.work, self.n = args, work, args.concurrency
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = child_env(work, self.base, self.n)
        self.files = bench_files(self.base, count=args.files, total_mb=args.total_mb)
        self.urls = work / "urls.txt"
        self.urls.write_text("".join(f.url + "\n" for f in self.files))
        self.sandbox: subprocess.Popen | None = None
        self.sandbox_log = None
        self.load_at_start = os.getloadavg()[0]

    def start(self) -> None:
        self.sandbox_log = open(self.work / "sandbox.log", "w")
        command = ["manage.py", "sandbox", "--port", str(self.port), "--latency-ms", str(self.args.latency_ms)]
        self.sandbox = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=self.env, stdout=self.sandbox_log, stderr=subprocess.STDOUT
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=self.env, check=True)
        wait_for(self.base + "/_health", self.sandbox)
        # The sandbox imports Pillow and PyAV on its first image and video: not on anyone's clock.
        for name in ("warm-up.jpg", "warm-up.mp4"):
            LOCAL.open(f"{self.base}/reddit/media/{name}", timeout=30).close()

    def stop(self) -> None:
        if self.sandbox is not None:
            stop_process(self.sandbox)
        if self.sandbox_log is not None:
            self.sandbox_log.close()

    def served(self, action):
        """(what `action` returns, requests the sandbox answered, CPU seconds the sandbox spent)."""
        sandbox_requests(self.base, reset=True)
        before = cpu_of(self.sandbox.pid)
        value = action()
        return value, sandbox_requests(self.base), cpu_of(self.sandbox.pid) - before

    def aria2c(self, target: Path) -> Run:
        log = self.work / "aria2c.log"
        with open(log, "w") as out:
            try:
                return run_timed(
                    ["aria2c", "--no-conf", "-i", str(self.urls), "-j", str(self.n), "-x", "1", "-s", "1",
                     "-d", str(target), "--file-allocation=none", "--allow-overwrite=true",
                     "--auto-file-renaming=false", "--console-log-level=error", "--summary-interval=0",
                     "--show-console-readout=false", "--download-result=hide", "--enable-color=false"],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            except BenchError as exc:
                raise BenchError(f"{exc}: {log.read_text().strip()[-600:]}") from None

    def ours(self, name: str, files: list[BenchFile]) -> tuple[Run, dict]:
        """Our download and archive stages on a new job, in a process of their own."""
        spec_path, result_path = self.work / f"{name}-spec.json", self.work / f"{name}-result.json"
        spec_path.write_text(json.dumps({"files": [asdict(f) for f in files], "result": str(result_path)}))
        run = run_timed(
            [sys.executable, "-m", "benchmarks.media", "--job-stage", str(spec_path)], cwd=ROOT, env=self.env
        )
        result = json.loads(result_path.read_text())
        if result["failed"]:
            shown = "; ".join(f"{media_id}: {reason}" for media_id, reason in result["failed"])
            raise BenchError(f"our downloader did not fetch every file of the {name} job: {shown}")
        return run, result

    def round(self, index: int) -> dict:
        fetched = self.work / f"aria2c-{index}"
        out = {}
        # Turn about: neither client always meets the sandbox and the page cache as the other left them.
        for who in ("aria2c", "ours") if index % 2 == 0 else ("ours", "aria2c"):
            if who == "aria2c":
                out["aria"], out["aria_requests"], out["aria_server_cpu"] = self.served(lambda: self.aria2c(fetched))
            else:
                (out["ours_run"], out["ours"]), out["ours_requests"], out["ours_server_cpu"] = self.served(
                    lambda: self.ours(f"round-{index}", self.files)
                )
        out["bytes"], out["same"], out["reencoded"] = self.compare(fetched, out["ours"]["files"])
        for level in ("0", "9"):
            archive = self.work / f"zip{level}.zip"
            out[f"zip{level}"] = run_timed(["zip", "-q", "-r", f"-{level}", str(archive), "."], cwd=fetched)
            out[f"zip{level}_bytes"] = archive.stat().st_size
            archive.unlink()
        # The next round starts from empty storage: stored bytes are never fetched twice (DESIGN §1).
        shutil.rmtree(fetched)
        shutil.rmtree(self.work / "storage", ignore_errors=True)
        return out

    def compare(self, fetched: Path, ours: dict) -> tuple[int, int, int]:
        """(bytes, files with the same bytes, .mp4 files whose head differs) — outside the timings.

        The sandbox encodes a video anew for each request and PyAV's output is not always the same
        while other encodes run at once, so an .mp4 may differ in its first few KB, never in size.
        """
        total = same = reencoded = 0
        for f in self.files:
            path = fetched / f.name
            if not path.exists():
                raise BenchError(f"aria2c did not fetch {f.name}")
            sha256, size = ours[f.stem]
            if path.stat().st_size != size:
                raise BenchError(f"{f.name}: aria2c has {path.stat().st_size} bytes, we have {size}")
            total += size
            with open(path, "rb") as fh:
                if hashlib.file_digest(fh, "sha256").hexdigest() == sha256:
                    same += 1
                elif f.ext == "mp4":
                    reencoded += 1
                else:
                    raise BenchError(f"{f.name}: aria2c's copy and ours differ")
        return total, same, reencoded


def cell(values: list[float], digits: int = 2) -> str:
    text = f"{median(values):.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):.{digits}f}-{max(values):.{digits}f})"
    return text


def report(bench: Bench, rounds: list[dict], big: list[BenchFile], big_run: Run, big_result: dict) -> str:
    args, n, files = bench.args, bench.n, bench.files
    total = rounds[0]["bytes"]
    videos = sum(f.ext == "mp4" for f in files)
    download = [r["ours"]["download_seconds"] / r["aria"].seconds for r in rounds]
    archive0 = [r["ours"]["archive_seconds"] / r["zip0"].seconds for r in rounds]
    archive9 = [r["ours"]["archive_seconds"] / r["zip9"].seconds for r in rounds]
    peak = big_run.peak_rss_mb

    def row(label: str, seconds: list[float], cpu: list[float], *rest) -> str:
        line = f"  {label:<38}{cell(seconds):>20}{cell(cpu):>18}{total / MB / median(seconds):>8.1f}"
        return line + "".join(f"{value:>12}" for value in rest)

    def ratios(values: list[float]) -> str:
        return f"{median(values):.2f}" + (
            f" (rounds: {' '.join(f'{v:.2f}' for v in values)})" if len(values) > 1 else ""
        )

    aria_version = tool_version(["aria2c", "--version"], "aria2 version")
    zip_version = tool_version(["zip", "-v"], "This is Zip").removeprefix("This is ").split(" (")[0]
    reencoded = sum(r["reencoded"] for r in rounds)
    return "\n".join(
        [
            f"Star Export media benchmark, {date.today().isoformat()}",
            f"machine: {machine()}; {aria_version}; {zip_version}",
            # Anything else running shares the CPUs with the sandbox and the clients: say so.
            f"load average (1 min): {bench.load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
            f"files: {len(files)} ({len(files) - videos} .jpg, {videos} .mp4), {mb(total)} MB in all, "
            f"{min(f.size for f in files) / KB:.0f} KB to {mb(max(f.size for f in files))} MB each; "
            f"{args.latency_ms} ms latency per request; concurrency {n}",
            f"{len(rounds)} round(s), aria2c and ours taking turns to go first; median (min-max); MB = 2^20 bytes",
            "",
            f"{'download':<40}{'wall s':>20}{'cpu s':>18}{'MB/s':>8}{'requests':>12}{'server cpu':>12}",
            row(
                f"aria2c -j {n} -x 1 -s 1",
                [r["aria"].seconds for r in rounds],
                [r["aria"].cpu_seconds for r in rounds],
                max(r["aria_requests"] for r in rounds),
                f"{median([r['aria_server_cpu'] for r in rounds]):.2f}",
            ),
            row(
                f"ours: media_download_many, {n} threads",
                [r["ours"]["download_seconds"] for r in rounds],
                [r["ours"]["download_cpu"] for r in rounds],
                max(r["ours_requests"] for r in rounds),
                f"{median([r['ours_server_cpu'] for r in rounds]):.2f}",
            ),
            f"  ours / aria2c = {ratios(download)}  target <= {TARGET_DOWNLOAD}: {verdict(median(download), TARGET_DOWNLOAD)}",
            f"  (server cpu: seconds the sandbox spent serving that client, on the same {os.cpu_count()} CPUs)",
            f"  same bytes as aria2c's copy: {sum(r['same'] for r in rounds)} of {len(files) * len(rounds)} files"
            + (f"; {reencoded} .mp4 of equal size whose head the sandbox encoded anew" if reencoded else ""),
            "",
            f"{'archive (the same files)':<40}{'wall s':>20}{'cpu s':>18}{'MB/s':>8}{'ZIP MB':>12}",
            row(
                "zip -r -0",
                [r["zip0"].seconds for r in rounds],
                [r["zip0"].cpu_seconds for r in rounds],
                mb(rounds[0]["zip0_bytes"]),
            ),
            row(
                "zip -r -9",
                [r["zip9"].seconds for r in rounds],
                [r["zip9"].cpu_seconds for r in rounds],
                mb(rounds[0]["zip9_bytes"]),
            ),
            row(
                "ours: archive_build",
                [r["ours"]["archive_seconds"] for r in rounds],
                [r["ours"]["archive_cpu"] for r in rounds],
                mb(rounds[0]["ours"]["archive_bytes"]),
            ),
            f"  ours / zip -0 = {ratios(archive0)}  target <= {TARGET_ARCHIVE}: {verdict(median(archive0), TARGET_ARCHIVE)}",
            f"  ours / zip -9 = {ratios(archive9)}",
            "",
            "peak RSS of our stages (one process: download, then archive)",
            f"  job of {len(big)} files with one {args.big_mb} MB video: {peak:.0f} MB "
            f"(download {big_result['download_seconds']:.1f} s, archive {big_result['archive_seconds']:.1f} s)  "
            f"target < {TARGET_RSS_MB}: {verdict(peak, TARGET_RSS_MB, below=True)}",
            f"  the {len(files)}-file job above: {max(r['ours_run'].peak_rss_mb for r in rounds):.0f} MB",
            "",
            f"bench: download/aria2c={median(download):.2f} archive/zip0={median(archive0):.2f} "
            f"peak_rss_mb={round(peak)}",
        ]
    )


def bench(args) -> str:
    for tool, package in (("aria2c", "aria2"), ("zip", "zip")):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed (Debian: apt-get install {package})")
    work = Path(tempfile.mkdtemp(prefix="starexport-bench-"))
    bench = None
    try:
        bench = Bench(args, work)
        bench.start()
        rounds = [bench.round(index) for index in range(args.rounds)]
        big = big_job_files(bench.base, args.big_mb)
        big_run, big_result = bench.ours("big", big)
        return report(bench, rounds, big, big_run, big_result)
    finally:
        if bench is not None:
            bench.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media",
        description="Our media download and archive stages against aria2c and zip on the same files, "
        "and the worker's peak RSS on a job with one big video.",
    )
    parser.add_argument("--files", type=int, default=1000, help="media files to fetch (default 1000)")
    parser.add_argument("--total-mb", type=float, default=400, help="their total size in MB (default 400)")
    parser.add_argument("--big-mb", type=int, default=1024, help="the big video of the RSS job, in MB (default 1024)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("STAREXPORT_DOWNLOAD_CONCURRENCY") or 8),
        help="parallel downloads, ours and aria2c's -j (default: the DOWNLOAD_CONCURRENCY setting, 8)",
    )
    parser.add_argument("--latency-ms", type=int, default=20, help="the sandbox's latency per request (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each comparison; medians are shown (default 3)")
    parser.add_argument("--job-stage", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.job_stage:
        spec = json.loads(Path(args.job_stage).read_text())
        Path(spec["result"]).write_text(json.dumps(job_stage(spec)))
        return 0
    if min(args.files, args.concurrency, args.big_mb, args.rounds) < 1 or args.total_mb <= 0:
        parser.error("--files, --total-mb, --big-mb, --concurrency and --rounds must be positive")

    return print_report(bench, args)


def print_report(bench, args) -> int:
    """Print what `bench(args)` returns; a `BenchError` is one line on stderr and status 1.
    A terminated benchmark still runs its `finally`: its servers stop and its files go."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        print(bench(args), flush=True)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
