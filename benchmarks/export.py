"""The whole-export benchmark: `manage.py export --platform reddit --media`, end to end, against
aria2c + `zip -0` and against a small pool of threads + zipfile fetching the same files.

`make bench-export`, or `python -m benchmarks.export --help` for the knobs. The sandbox serves
Reddit's API and its media with a latency per request. Our side is the command as a user runs it:
start-up, the API paging, the media downloads (Reddit's audio merges included) and the ZIP, on a
throw-away SQLite database and local storage of its own for every run. The peers fetch exactly the
files our export fetched (every media file, and each audio track it merged), then pack them:

- `aria2c -j N -x 1 -s 1` into a folder, then `zip -q -r -0` of that folder;
- a pool of N threads, each with its own `requests.Session`, then `zipfile` with stored members —
  what a programmer writes in thirty lines (`--pool`, below).

Every client runs as a process of its own, so its CPU time (user + system, from wait4: ffmpeg
included for ours) is that client's alone. The sandbox's request counter shows each client's
requests. The last line is for machines:
`bench: export/aria2c_zip=R@N1 export/aria2c_zip=R@N2 export/pool=R@N2 cpu_per_file/aria2c=R`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from datetime import date
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

from benchmarks.media import (
    KB,
    LOCAL,
    MB,
    ROOT,
    BenchError,
    Run,
    child_env,
    cpu_of,
    free_port,
    machine,
    print_report,
    run_timed,
    sandbox_requests,
    stop_process,
    tool_version,
    verdict,
    wait_for,
)

TARGET_RATIO, TARGET_CPU_RATIO = 1.2, 3.0
USER = "bench"


# --- inside child processes --------------------------------------------------------------------
def connect_user() -> None:
    """The benchmark's user, connected to the sandbox's Reddit as the demo connects one."""
    import django

    django.setup()
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth import get_user_model

    from accounts.tokens import store_token
    from platforms.models import Platform
    from platforms.sandbox.auth import mint_token

    platform = Platform.objects.get(slug="reddit")
    # Files padded for the benchmark must not meet Reddit's limit; the limit is not what is measured.
    Platform.objects.filter(pk=platform.pk).update(max_file_size_mb=max(platform.max_file_size_mb, 64))
    owner, _ = get_user_model().objects.get_or_create(username=USER, defaults={"email": "bench@example.com"})
    account, _ = SocialAccount.objects.get_or_create(user=owner, provider=platform.provider_id, defaults={"uid": USER})
    store_token(account, access=mint_token(platform.slug, owner.username))


def files_of_last_export(out: Path) -> None:
    """The URLs our last export fetched: each file it stored, and each audio track it merged."""
    import django

    django.setup()
    from exports.models import ExportJob, MediaFile

    job = ExportJob.objects.filter(owner__username=USER).latest("id")
    urls: list[str] = []
    failed = 0
    for url, status, extra in job.media_files.values_list("source_url", "status", "extra"):
        if status != MediaFile.Status.DONE:
            failed += 1
            continue
        urls.append(url)
        if (extra or {}).get("audio_source"):
            urls.append(extra["audio_source"])
    out.write_text(json.dumps({"urls": list(dict.fromkeys(urls)), "failed": failed, "job": job.status}))


def pool_download_and_zip(urls_file: Path, folder: Path, archive: Path, threads: int) -> None:
    """The peer a programmer writes: N threads, a requests.Session each, then a stored ZIP."""
    import requests

    urls = urls_file.read_text().split()
    folder.mkdir(parents=True, exist_ok=True)
    local, lock, errors = threading.local(), threading.Lock(), []

    def worker() -> None:
        local.session = requests.Session()
        while True:
            with lock:
                if not urls:
                    return
                url = urls.pop()
            try:
                with local.session.get(url, stream=True, timeout=60) as response:
                    response.raise_for_status()
                    with open(folder / urlsplit(url).path.rsplit("/", 1)[-1], "wb") as out:
                        for chunk in response.iter_content(1 << 20):
                            out.write(chunk)
            except Exception as exc:
                errors.append(f"{url}: {exc}")

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise SystemExit(f"the pool failed: {errors[:3]}")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)


# --- the runs ----------------------------------------------------------------------------------
def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class Scale:
    """One size of export: the sandbox's records per listing and the padding of every media file."""

    def __init__(self, records: int, media_bytes: int):
        self.records, self.media_bytes = records, media_bytes

    def label(self) -> str:
        return f"{self.records} records" + (
            f", files padded to {self.media_bytes // KB} KB" if self.media_bytes else ""
        )


class ExportBench:
    def __init__(self, args, work: Path, scale: Scale):
        self.args, self.work, self.scale, self.n = args, work, scale, args.concurrency
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.template = work / "template"
        self.sandbox = None
        self.sandbox_log = None

    def env(self, run: Path) -> dict[str, str]:
        env = child_env(run, self.base, self.n)
        env["STAREXPORT_VAR_DIR"] = str(run / "var")
        env.pop("STAREXPORT_TOKEN_KEY", None)  # the run's own key, in its var folder
        env.pop("STAREXPORT_TOKEN_KEY_FILE", None)
        return env

    def start(self) -> None:
        self.sandbox_log = open(self.work / f"sandbox-{self.port}.log", "w")
        command = ["manage.py", "sandbox", "--port", str(self.port), "--latency-ms", str(self.args.latency_ms)]
        command += ["--records", str(self.scale.records), "--media-bytes", str(self.scale.media_bytes)]
        self.sandbox = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=self.env(self.template),
            stdout=self.sandbox_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # One migrated database with the connected user; each run starts from a copy of it, and
        # of the token key beside it (tokens are never stored unencrypted).
        from cryptography.fernet import Fernet

        (self.template / "var").mkdir(parents=True, exist_ok=True)
        (self.template / "var" / "token.key").write_text(Fernet.generate_key().decode() + "\n")
        env = self.env(self.template)
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "-m", "benchmarks.export", "--connect"], cwd=ROOT, env=env, check=True)
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
        sandbox_requests(self.base, reset=True)
        before = cpu_of(self.sandbox.pid)
        value = action()
        return value, sandbox_requests(self.base), cpu_of(self.sandbox.pid) - before

    def ours(self, run: Path) -> tuple[Run, dict]:
        shutil.copytree(self.template / "var", run / "var")
        env = self.env(run)
        command = [sys.executable, "manage.py", "export", "--user", USER, "--platform", "reddit", "--media"]
        with open(run / "export.out", "w") as out, open(run / "export.err", "w") as err:
            try:
                timed = run_timed(command, cwd=ROOT, env=env, stdout=out, stderr=err)
            except BenchError as exc:
                raise BenchError(f"{exc}: {(run / 'export.err').read_text().strip()[-600:]}") from None
        archive = Path((run / "export.out").read_text().strip().splitlines()[-1])
        listing = run / "files.json"
        subprocess.run(
            [sys.executable, "-m", "benchmarks.export", "--files-of", str(listing)], cwd=ROOT, env=env, check=True
        )
        files = json.loads(listing.read_text())
        if files["failed"]:
            raise BenchError(f"our export did not fetch {files['failed']} of its files")
        files["archive_bytes"] = archive.stat().st_size
        return timed, files

    def aria2c_zip(self, run: Path, urls: Path) -> tuple[Run, Run, int]:
        folder, log = run / "aria2c", run / "aria2c.log"
        with open(log, "w") as out:
            try:
                fetched = run_timed(
                    ["aria2c", "--no-conf", "-i", str(urls), "-j", str(self.n), "-x", "1", "-s", "1",
                     "-d", str(folder), "--file-allocation=none", "--allow-overwrite=true",
                     "--auto-file-renaming=false", "--console-log-level=error", "--summary-interval=0",
                     "--show-console-readout=false", "--download-result=hide", "--enable-color=false"],
                    env=self.env(run), stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            except BenchError as exc:
                raise BenchError(f"{exc}: {log.read_text().strip()[-600:]}") from None
        zipped = run_timed(["zip", "-q", "-r", "-0", str(run / "aria2c.zip"), "."], cwd=folder)
        return fetched, zipped, (run / "aria2c.zip").stat().st_size

    def pool(self, run: Path, urls: Path) -> tuple[Run, int]:
        archive = run / "pool.zip"
        command = [sys.executable, "-m", "benchmarks.export", "--pool", str(urls), str(run / "pool"), str(archive)]
        timed = run_timed(command + ["--concurrency", str(self.n)], cwd=ROOT, env=self.env(run))
        return timed, archive.stat().st_size

    def round(self, index: int) -> dict:
        run = self.work / f"{self.scale.records}-{index}"
        run.mkdir()
        out = {}
        # Ours first: the peers need its list of files. The page cache holds nothing of ours.
        (out["ours"], out["files"]), out["ours_requests"], out["ours_server_cpu"] = self.served(lambda: self.ours(run))
        urls = run / "urls.txt"
        urls.write_text("".join(u + "\n" for u in out["files"]["urls"]))
        clients = [("aria", lambda: self.aria2c_zip(run, urls)), ("pool", lambda: self.pool(run, urls))]
        for name, action in clients if index % 2 == 0 else clients[::-1]:
            out[name], out[f"{name}_requests"], out[f"{name}_server_cpu"] = self.served(action)
        out["bytes"] = folder_bytes(run / "aria2c")
        shutil.rmtree(run)
        return out


def summary(scale: Scale, rounds: list[dict], n: int) -> tuple[list[str], dict]:
    files = len(rounds[0]["files"]["urls"])
    ours = [r["ours"].seconds for r in rounds]
    ours_cpu = [r["ours"].cpu_seconds for r in rounds]
    aria = [r["aria"][0].seconds + r["aria"][1].seconds for r in rounds]
    aria_cpu = [r["aria"][0].cpu_seconds + r["aria"][1].cpu_seconds for r in rounds]
    pool = [r["pool"][0].seconds for r in rounds]
    pool_cpu = [r["pool"][0].cpu_seconds for r in rounds]
    to_aria = median(o / a for o, a in zip(ours, aria, strict=True))
    to_pool = median(o / p for o, p in zip(ours, pool, strict=True))
    cpu_ratio = median(ours_cpu) / median(aria_cpu)

    def cell(values: list[float]) -> str:
        text = f"{median(values):.2f}"
        return text + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else "")

    def row(label: str, wall: list[float], cpu: list[float], requests: int, server: list[float]) -> str:
        per_file = median(cpu) / files * 1000
        return f"  {label:<34}{cell(wall):>20}{cell(cpu):>18}{per_file:>10.2f}{requests:>10}{median(server):>12.2f}"

    lines = [
        f"{scale.label()}: {files} files ({mb(rounds[0]['bytes'])} MB), {len(rounds)} round(s)",
        f"  {'':<34}{'wall s':>20}{'cpu s':>18}{'cpu ms/f':>10}{'requests':>10}{'server cpu':>12}",
        row(
            "ours: manage.py export --media",
            ours,
            ours_cpu,
            max(r["ours_requests"] for r in rounds),
            [r["ours_server_cpu"] for r in rounds],
        ),
        row(
            f"aria2c -j {n} + zip -0",
            aria,
            aria_cpu,
            max(r["aria_requests"] for r in rounds),
            [r["aria_server_cpu"] for r in rounds],
        ),
        row(
            f"pool: {n} threads + zipfile",
            pool,
            pool_cpu,
            max(r["pool_requests"] for r in rounds),
            [r["pool_server_cpu"] for r in rounds],
        ),
        f"  (of aria2c + zip: aria2c {median(r['aria'][0].seconds for r in rounds):.2f} s, "
        f"zip {median(r['aria'][1].seconds for r in rounds):.2f} s; "
        f"ZIP MB: ours {mb(rounds[0]['files']['archive_bytes'])}, zip {mb(rounds[0]['aria'][2])}, "
        f"pool {mb(rounds[0]['pool'][1])})",
        f"  ours / (aria2c + zip) = {to_aria:.2f}  (rounds: {' '.join(f'{o / a:.2f}' for o, a in zip(ours, aria, strict=True))})",
        f"  ours / pool = {to_pool:.2f}",
        f"  CPU ours / (aria2c + zip) = {cpu_ratio:.2f}",
    ]
    return lines, {"files": files, "aria": to_aria, "pool": to_pool, "cpu": cpu_ratio}


def mb(n: float) -> str:
    return f"{n / MB:,.1f}"


def bench(args) -> str:
    for tool, package in (("aria2c", "aria2"), ("zip", "zip"), ("ffmpeg", "ffmpeg")):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed (Debian: apt-get install {package})")
    scales = [Scale(int(r), int(float(kb) * KB)) for r, _, kb in (s.partition(":") for s in args.scales.split(","))]
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="starexport-bench-export-"))
    body, results = [], []
    try:
        for scale in scales:
            one = ExportBench(args, work / f"scale-{scale.records}", scale)
            one.work.mkdir()
            try:
                one.start()
                rounds = [one.round(i) for i in range(args.rounds)]
            finally:
                one.stop()
            lines, figures = summary(scale, rounds, args.concurrency)
            body += [*lines, ""]
            results.append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    last = results[-1]
    aria_version = tool_version(["aria2c", "--version"], "aria2 version")
    zip_version = tool_version(["zip", "-v"], "This is Zip").removeprefix("This is ").split(" (")[0]
    header = [
        f"Star Export whole-export benchmark, {date.today().isoformat()}",
        f"machine: {machine()}; {aria_version}; {zip_version}",
        f"load average (1 min): {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
        f"sandbox Reddit at {args.latency_ms} ms latency per request; concurrency {args.concurrency}; "
        "median (min-max); MB = 2^20 bytes; cpu ms/f = CPU per file fetched",
        "",
    ]
    targets = [
        f"target at {last['files']} files: ours <= {TARGET_RATIO} x aria2c + zip: {last['aria']:.2f} "
        f"{verdict(last['aria'], TARGET_RATIO)}; CPU within {TARGET_CPU_RATIO:g} x aria2c + zip's: "
        f"{last['cpu']:.2f} {verdict(last['cpu'], TARGET_CPU_RATIO)}",
        "",
        "bench: "
        + " ".join(f"export/aria2c_zip={r['aria']:.2f}@{r['files']}" for r in results)
        + f" export/pool={last['pool']:.2f}@{last['files']} cpu_per_file/aria2c={last['cpu']:.2f}",
    ]
    return "\n".join(header + body + targets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.export",
        description="`manage.py export --platform reddit --media` end to end against aria2c + zip -0 "
        "and a thread pool + zipfile on the same files.",
    )
    parser.add_argument(
        "--scales",
        default="60:0,330:400",
        help="RECORDS:KB,... — the sandbox's records per listing and each media file's size in KB "
        "(0: as drawn). Default 60:0,330:400: 178 files as drawn, then 1,000 files of 400 KB",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel downloads of every client (default 8)")
    parser.add_argument("--latency-ms", type=int, default=20, help="the sandbox's latency per request (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="runs at each scale; medians are shown (default 3)")
    parser.add_argument("--connect", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--files-of", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--pool", nargs=3, metavar=("URLS", "DIR", "ZIP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.connect:
        connect_user()
        return 0
    if args.files_of:
        files_of_last_export(Path(args.files_of))
        return 0
    if args.pool:
        pool_download_and_zip(*map(Path, args.pool), threads=args.concurrency)
        return 0
    if min(args.concurrency, args.rounds) < 1:
        parser.error("--concurrency and --rounds must be positive")
    return print_report(bench, args)


if __name__ == "__main__":
    sys.exit(main())
