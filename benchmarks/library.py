"""The library benchmark: the library page and a search, with 100,000 records and 20,000 media rows.

`make bench-library`, or `python -m benchmarks.library --help` for the knobs. For each database
(PostgreSQL on a throw-away database of its own, then SQLite in a temporary directory) a child
process migrates an empty database, fills one user's library through the library's own writer
(exports/library.py, as exports and imports do, so the search index and the record-media links
are written as in use) across the six platforms, plus a second user whose records must never show,
and then times requests through Django's test client, signed in:

- the library page (`/library/`: the first 50 records with their media, the month chart and the
  calendar), and a page deep in the timeline (`?after=`);
- searches (`?q=`) for a common word (in about a tenth of the records), a rarer word, a word seen
  a few times, two words together, and a search with filters (platform and "with media").

Record text comes from a fixed (seeded) vocabulary with word frequencies as in real text (Zipf),
so the common and rare words match as many records as the table says. The last line is for machines:
`bench: postgresql_page_p95_ms=N postgresql_search_p95_ms=N sqlite_page_p95_ms=N sqlite_search_p95_ms=N`.
Target (printed as ok/MISSED): p95 < 150 ms for the page and for every search.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.media import ROOT, machine, verdict

SEED = "starexport-bench-library"
TARGET_MS = 150
OWNER, OTHER = "bench", "bench-other"
# (platform, resource, share of records, how the record carries its words)
SHAPES = (
    ("reddit", "submitted", 0.18, "title+selftext"),
    ("reddit", "comments", 0.12, "body"),
    ("twitter", "tweets", 0.25, "text"),
    ("instagram", "media", 0.10, "caption"),
    ("facebook", "posts", 0.10, "message"),
    ("github", "starred", 0.05, "full_name+description"),
    ("youtube", "videos", 0.10, "snippet"),
    ("youtube", "playlist_items", 0.10, "snippet"),
)
FIRST_DAY = 1262304000  # 2010-01-01, so the chart spans fourteen years of months


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyzéüß"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def make_record(
    rng: random.Random, words: list[str], weights: list[float], shape: str, n: int
) -> tuple[str, dict, str]:
    """A record of that shape: its id, its data, and the words a search finds in it."""

    def say(count: int) -> str:
        return " ".join(rng.choices(words, weights=weights, k=count))

    title, text = say(rng.randint(3, 9)), say(rng.randint(8, 40))
    record_id = f"b{n}"
    data: dict = {"id": record_id}
    if shape == "title+selftext":
        data.update(title=title, selftext=text, permalink=f"https://www.reddit.com/r/bench/{record_id}/")
    elif shape == "full_name+description":
        data.update(full_name=f"someone/{title.replace(' ', '-')}", description=text, html_url="https://github.com/x")
    elif shape == "snippet":
        data.update(snippet={"title": title, "description": text})
    else:
        data[shape] = f"{title}. {text}"
    return record_id, data, f"{title} {text}"


# --- the child: one database ---------------------------------------------------------------------
def fill(args) -> dict:
    """Fill the library; returns the words to search for with how many records hold each."""
    from django.contrib.auth import get_user_model

    from exports import library
    from exports.models import ExportJob, ExportRecord, MediaFile

    rng = random.Random(SEED)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) ** 1.05 for rank in range(len(words))]
    rng.shuffle(weights)
    users = [get_user_model().objects.create_user(username=name, password="x") for name in (OWNER, OTHER)]
    seen: dict[str, int] = {}
    media_left = args.media
    n = 0
    started = time.perf_counter()
    for user, total in ((users[0], args.records), (users[1], args.records // 10)):
        for platform, resource, share, shape in SHAPES:
            job = ExportJob.objects.create(owner=user, platform_id=platform)
            count = round(total * share)
            batch, files = [], []
            for _ in range(count):
                n += 1
                record_id, data, said = make_record(rng, words, weights, shape, n)
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIRST_DAY + rng.randrange(14 * 365 * 86400)))
                if user is users[0]:
                    for word in set(said.split()):
                        seen[word] = seen.get(word, 0) + 1
                batch.append(
                    ExportRecord(
                        job=job, resource=resource, external_id=record_id, position=n, timestamp=when, data=data
                    )
                )
                # Media on every fifth record of the owner, one to three files each, until 20,000.
                if user is users[0] and media_left > 0 and n % 5 == 0:
                    for i in range(min(media_left, rng.choice((1, 1, 1, 2, 3)))):
                        media_left -= 1
                        files.append(
                            MediaFile(
                                job=job,
                                media_id=f"{record_id}_{i}",
                                source_url=f"https://example.com/{record_id}_{i}.jpg",
                                kind="image" if i or n % 3 else "video",
                                ext="jpg" if i or n % 3 else "mp4",
                                record_ids=[record_id],
                                timestamp=when,
                                caption=" ".join(rng.choices(words, weights=weights, k=4)),
                                size=1000,
                                sha256=f"{n:032x}{i:032x}",
                                content_type="image/jpeg",
                                stored_name=f"media/{user.id}/{n:064x}",
                                status=MediaFile.Status.DONE,
                            )
                        )
                if len(batch) == 2000:
                    library.records_upsert(job, batch)
                    batch = []
            library.records_upsert(job, batch)
            MediaFile.objects.bulk_create(files, batch_size=2000)
            library.media_sync(job)
    fill_s = time.perf_counter() - started
    return {"words": seen, "fill_s": fill_s}


def pick(seen: dict[str, int], records: int) -> list[tuple[str, str, int]]:
    """(label, query, records holding it) for a common, a rarer and a scarce word, and two words."""

    def nearest(target: float) -> str:
        return min(seen, key=lambda w: (abs(seen[w] - target), w))

    common, rarer, scarce = nearest(records * 0.10), nearest(records * 0.01), nearest(5)
    pair = f"{common} {nearest(records * 0.05)}"
    return [
        ("common word", common, seen[common]),
        ("rarer word", rarer, seen[rarer]),
        ("scarce word", scarce, seen[scarce]),
        ("two words", pair, -1),
    ]


def time_requests(client, url: str, params: dict, rounds: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of this process per request (the CPU figure is what a busy
    machine cannot inflate; on SQLite it includes the database's work, on PostgreSQL not)."""
    client.get(url, params)  # warm: templates compiled, plans cached
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, params)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, response.status_code
    return wall, cpu


def child(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import DatabaseError, connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from exports.models import LibraryMedia, LibraryRecord

    setup_test_environment()
    call_command("migrate", verbosity=0)
    filled = fill(args)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        # Write the fill's dirty pages out now, not during the first timed case (needs the right).
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.get(username=OWNER)
    records = LibraryRecord.objects.filter(owner=owner).count()
    media = LibraryMedia.objects.filter(owner=owner).count()
    print(
        f"{connection.vendor}: {records:,} records and {media:,} media rows of the user "
        f"(+{LibraryRecord.objects.exclude(owner=owner).count():,} of another), filled in {filled['fill_s']:.0f} s "
        "through the library's writer",
        flush=True,
    )
    client = Client()
    client.force_login(owner)
    first = client.get("/library/")
    cursor_at = first.content.decode().split("after=")[1].split('"')[0] if b"after=" in first.content else ""
    middle = LibraryRecord.objects.filter(owner=owner).order_by("-timestamp", "-id")[records // 2]
    cases = [("page", "library page", "/library/", {}), ("page", "page 2 (?after=)", "/library/", {"after": cursor_at})]
    cases.append(("page", "half-way down", "/library/", {"after": f"{middle.timestamp}|{middle.id}"}))
    for label, query, holding in pick(filled["words"], records):
        shown = f"{label} ({holding:,} records)" if holding >= 0 else label
        cases.append(("search", f"search: {shown}", "/library/", {"q": query}))
    common = pick(filled["words"], records)[0][1]
    cases.append(
        ("search", "search + platform + media", "/library/", {"q": common, "platform": "reddit", "media": "1"})
    )
    for _, _, url, params in cases:  # one pass over every case first: caches and plans warm
        client.get(url, params)
    worst = {"page": 0.0, "search": 0.0}
    print(f"{'':40}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'cpu p50':>9}", flush=True)
    for group, label, url, params in cases:
        wall, cpu = time_requests(client, url, params, args.rounds)
        times = sorted(wall)
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        worst[group] = max(worst[group], p95)
        print(
            f"  {label:38}{statistics.median(times):9.1f}{p95:9.1f}{times[-1]:9.1f}{statistics.median(cpu):9.1f}  "
            f"{verdict(p95, TARGET_MS, below=True)}",
            flush=True,
        )
    print(f"RESULT {connection.vendor} {worst['page']:.0f} {worst['search']:.0f}", flush=True)


# --- the parent: one child per database ----------------------------------------------------------
def run_child(args, vendor: str, work: Path) -> tuple[int, int]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "EMAIL_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="starexport.settings",
        STAREXPORT_VAR_DIR=str(work / vendor),
        MEDIA_ROOT=str(work / vendor / "storage"),
        LOG_LEVEL="ERROR",
        DEBUG="false",
        # Static files are not collected for a benchmark; whitenoise would say so on every start.
        PYTHONWARNINGS="ignore::UserWarning",
    )
    database = ""
    if vendor == "postgresql":
        import psycopg

        database = f"starexport_bench_library_{os.getpid()}"
        with psycopg.connect(args.postgres + "/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = f"{args.postgres}/{database}"
    try:
        command = [sys.executable, "-m", "benchmarks.library", "--child", "--records", str(args.records)]
        command += ["--media", str(args.media), "--rounds", str(args.rounds)]
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    finally:
        if database:
            with psycopg.connect(args.postgres + "/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    result = (0, 0)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            _, _, page, search = line.split()
            result = (int(page), int(search))
        else:
            print(line, flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"the {vendor} run failed (exit {proc.returncode})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records of the user (default 100,000)")
    parser.add_argument("--media", type=int, default=20_000, help="media rows of the user (default 20,000)")
    parser.add_argument("--rounds", type=int, default=100, help="timed requests per case (default 100)")
    parser.add_argument("--databases", default="postgresql,sqlite", help="postgresql, sqlite or both")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        help="a PostgreSQL server where a throw-away database may be created (without a database name)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"Star Export library benchmark, {time.strftime('%Y-%m-%d')}")
    print(f"machine: {machine()}; load average (1 min) {os.getloadavg()[0]:.2f} at the start")
    print(f"{args.records:,} records, {args.media:,} media rows; {args.rounds} timed requests per case")
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-library-") as work:
        for vendor in [v.strip() for v in args.databases.split(",") if v.strip()]:
            page, search = run_child(args, vendor, Path(work))
            figures.append(f"{vendor}_page_p95_ms={page} {vendor}_search_p95_ms={search}")
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} at the end; target p95 < {TARGET_MS} ms")
    print("bench: " + " ".join(figures))


if __name__ == "__main__":
    main()
