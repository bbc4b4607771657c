"""The import benchmark: `import_archive` on a 2 GB X archive against `unzip` of the same file.

`make bench-import`, or `python -m benchmarks.importing --help` for the knobs. The archive is built
once per run (or kept between runs with `--keep`) from a fixed seed, in X's layout: data/tweets.js
in the v1.1 shape X writes, and every photo, video and poster in data/tweets_media/ as X names
them, stored (X does not deflate media). Each measured program runs as a process of its own, so a
peak RSS is that process's (read from wait4, not sampled) and no run warms another's interpreter:

- `unzip -q -o archive.zip -d DIR`, the peer: it only unpacks;
- our import alone, `job_import` timed inside its process (check the archive, read the tweets,
  store every media file under its content address), after the archive was copied into storage
  as the command does;
- `manage.py import_archive`, timed end to end: start-up, check, copy into storage, import, the
  library, and the export ZIP.

Ours run on a throw-away SQLite database and local storage in a temporary directory that is removed
at the end, whatever happens. The export is checked with ../shared/tools/verify_archive.py and
against the bytes the archive holds. The last line is for machines:
`bench: import/unzip=R import_total/unzip=R peak_rss_mb=N`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.media import (
    KB,
    MB,
    ROOT,
    BenchError,
    Run,
    child_env,
    machine,
    mb,
    run_timed,
    sizes_plan,
    tool_version,
    verdict,
)

GB = 1 << 30
SEED = "starexport-bench-import"
# Bump when the archive's contents change, so a kept archive of an older layout is not reused.
LAYOUT = 1
USER = "bench"
CACHE = ROOT / "var" / "bench-import"
VERIFY = ROOT.parent / "shared" / "tools" / "verify_archive.py"
TARGET_RSS_MB = 200

# What a tweet carries, as shares of tweets; photos come one to four to a tweet.
PHOTO_TWEETS, VIDEO_TWEETS, GIF_TWEETS = 0.30, 0.01, 0.01
PHOTOS_PER_TWEET = ((1, 70), (2, 15), (3, 7), (4, 8))
# Videos are few but heavy: this share of the bytes, each 1 to 64 MB. Photos, posters and GIFs
# (which X keeps as MP4) share the rest, 50 KB to 5 MB each.
VIDEO_BYTES = 0.35
SMALL, LARGE = (50 * KB, 5 * MB), (1 * MB, 64 * MB)
# A few real heads are enough: the importer reads a file's first bytes to tell what it is, and the
# incompressible padding after the head makes every file's bytes its own.
IMAGE_HEADS, VIDEO_HEADS = 64, 8
CHUNK = 1 << 20
# X's snowflake ids count milliseconds from this moment.
TWITTER_EPOCH_MS = 1288834974657
NEWEST = datetime(2024, 5, 31, 18, 0, tzinfo=UTC)
FIXED_TIME = (2024, 6, 1, 9, 0, 0)  # every member's date in the ZIP, so the build is byte-for-byte the same
WORDS = (
    "the a archive export photo video today new great thanks release week team code open source talk "
    "slides conference coffee train city weekend build test deploy bug fix ship small big idea note"
).split()
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# --- the archive ------------------------------------------------------------------------------
@dataclass
class Planned:
    name: str  # the member's name in the archive
    size: int
    kind: str  # "image" or "video"
    head: int  # which of the real heads it starts with


@dataclass
class Built:
    path: Path
    tweets: int
    tweets_js_bytes: int
    media: dict[str, list]  # member -> [sha256, size]
    seconds: float | None  # None: reused from the cache


class TweetMaker:
    """Tweets in the shape of X's archive (API v1.1, numbers as strings), newest first, and the
    files data/tweets_media/ holds for them."""

    def __init__(self, rng: random.Random, total_bytes: int, count: int):
        self.rng = rng
        shapes = []
        for _ in range(count):
            r = rng.random()
            if r < VIDEO_TWEETS:
                shapes.append(("video", 1))
            elif r < VIDEO_TWEETS + GIF_TWEETS:
                shapes.append(("animated_gif", 1))
            elif r < VIDEO_TWEETS + GIF_TWEETS + PHOTO_TWEETS:
                counts, weights = zip(*PHOTOS_PER_TWEET, strict=True)
                shapes.append(("photo", rng.choices(counts, weights)[0]))
            else:
                shapes.append(("text", 0))
        self.shapes = shapes
        videos = sum(kind == "video" for kind, _ in shapes)
        # A photo is one small file; a video is a large MP4 and a small poster; a GIF is two small files.
        small = sum({"photo": n, "video": 1, "animated_gif": 2, "text": 0}[kind] for kind, n in shapes)
        large_budget = int(total_bytes * VIDEO_BYTES) if videos else 0
        self.small_sizes = iter(sizes_plan(small, total_bytes - large_budget, *SMALL, rng))
        self.large_sizes = iter(sizes_plan(videos, large_budget, *LARGE, rng))
        self.ids: set[int] = set()
        self.when = NEWEST

    def snowflake(self, moment: datetime) -> str:
        while True:
            value = (int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22 | self.rng.getrandbits(22)
            if value not in self.ids:
                self.ids.add(value)
                return str(value)

    def key(self) -> str:
        return "".join(self.rng.choice(KEY_ALPHABET) for _ in range(15))

    def text(self) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(6, 40))).capitalize()

    def tweets(self):
        """(tweet, files) for every tweet."""
        for kind, n in self.shapes:
            self.when -= timedelta(minutes=self.rng.randint(10, 520))
            yield self.tweet(kind, n)

    def tweet(self, kind: str, n: int) -> tuple[dict, list[Planned]]:
        rng = self.rng
        tweet_id = self.snowflake(self.when)
        text = self.text()
        entities: dict = {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
        if rng.random() < 0.3:
            tag = rng.choice(WORDS)
            entities["hashtags"].append({"text": tag, "indices": [str(len(text) + 1), str(len(text) + 2 + len(tag))]})
            text += f" #{tag}"
        if rng.random() < 0.25:
            name = rng.choice(WORDS) + str(rng.randint(1, 999))
            entities["user_mentions"].append(
                {"name": name.title(), "screen_name": name, "indices": ["0", str(len(name) + 1)],
                 "id_str": str(rng.randint(10**6, 10**12)), "id": str(rng.randint(10**6, 10**12))}
            )  # fmt: skip
            text = f"@{name} {text}"
        if rng.random() < 0.2:
            link = f"https://t.co/{self.key()[:10]}"
            entities["urls"].append(
                {"url": link, "expanded_url": f"https://example.com/{self.key()}", "display_url": "example.com/…",
                 "indices": [str(len(text) + 1), str(len(text) + 1 + len(link))]}
            )  # fmt: skip
            text += f" {link}"
        media, files = [], []
        if kind != "text":
            link = f"https://t.co/{self.key()[:10]}"
            indices = [str(len(text) + 1), str(len(text) + 1 + len(link))]
            text += f" {link}"
            for index in range(n):
                item, item_files = self.media_item(tweet_id, kind, index, link, indices)
                media.append(item)
                files.extend(item_files)
            # entities lists the first item only, extended_entities all of them (X's own habit).
            entities["media"] = media[:1]
        created = self.when.strftime("%a %b %d %H:%M:%S +0000 %Y")
        tweet = {
            "edit_info": {
                "initial": {
                    "editTweetIds": [tweet_id],
                    "editableUntil": (self.when + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "editsRemaining": "5",
                    "isEditEligible": True,
                }
            },
            "retweeted": False,
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "entities": entities,
            "display_text_range": ["0", str(len(text))],
            "favorite_count": str(rng.randint(0, 300)),
            "id_str": tweet_id,
            "truncated": False,
            "retweet_count": str(rng.randint(0, 40)),
            "id": tweet_id,
            "possibly_sensitive": False,
            "created_at": created,
            "favorited": False,
            "full_text": text,
            "lang": "en",
        }
        if media:
            tweet["extended_entities"] = {"media": media}
        return tweet, files

    def media_item(self, tweet_id: str, kind: str, index: int, link: str, indices: list[str]):
        media_id = self.snowflake(self.when - timedelta(seconds=30))
        key = self.key()
        folder = f"data/tweets_media/{tweet_id}-"
        width, height = self.rng.choice([(1200, 900), (900, 1200), (2048, 1536), (1280, 720), (720, 1280)])
        item = {
            "expanded_url": f"https://twitter.com/bench/status/{tweet_id}/{'photo' if kind == 'photo' else 'video'}/{index + 1}",
            "indices": indices,
            "url": link,
            "id_str": media_id,
            "id": media_id,
            "sizes": {
                "large": {"w": str(width), "h": str(height), "resize": "fit"},
                "medium": {"w": str(width * 1200 // max(width, height)), "h": str(height * 1200 // max(width, height)), "resize": "fit"},
                "thumb": {"w": "150", "h": "150", "resize": "crop"},
                "small": {"w": str(width * 680 // max(width, height)), "h": str(height * 680 // max(width, height)), "resize": "fit"},
            },
            "type": kind,
            "display_url": f"pic.twitter.com/{link.rsplit('/', 1)[1]}",
        }  # fmt: skip
        image_head = self.rng.randrange(IMAGE_HEADS)
        if kind == "photo":
            picture = f"https://pbs.twimg.com/media/{key}.jpg"
            files = [Planned(folder + f"{key}.jpg", next(self.small_sizes), "image", image_head)]
        elif kind == "video":
            picture = f"https://pbs.twimg.com/ext_tw_video_thumb/{media_id}/pu/img/{key}.jpg"
            base = f"https://video.twimg.com/ext_tw_video/{media_id}/pu"
            renditions = [(256000, "320x180"), (832000, "640x360"), (2176000, "1280x720")]
            variants = [
                {"bitrate": str(rate), "content_type": "video/mp4", "url": f"{base}/vid/{size}/{self.key()}.mp4?tag=12"}
                for rate, size in renditions
            ]
            variants.insert(1, {"content_type": "application/x-mpegURL", "url": f"{base}/pl/{self.key()}.m3u8?tag=12"})
            item["video_info"] = {
                "aspect_ratio": ["16", "9"],
                "duration_millis": str(self.rng.randint(3000, 140000)),
                "variants": variants,
            }
            item["additional_media_info"] = {"monetizable": False}
            # X keeps the highest-bitrate rendition, named as its URL is.
            best = variants[-1]["url"].split("?")[0].rsplit("/", 1)[1]
            files = [
                Planned(folder + best, next(self.large_sizes), "video", self.rng.randrange(VIDEO_HEADS)),
                Planned(folder + f"{key}.jpg", next(self.small_sizes), "image", image_head),
            ]
        else:
            picture = f"https://pbs.twimg.com/tweet_video_thumb/{key}.jpg"
            item["video_info"] = {
                "aspect_ratio": ["4", "3"],
                "variants": [
                    {
                        "bitrate": "0",
                        "content_type": "video/mp4",
                        "url": f"https://video.twimg.com/tweet_video/{key}.mp4",
                    }
                ],
            }
            files = [
                Planned(folder + f"{key}.mp4", next(self.small_sizes), "video", self.rng.randrange(VIDEO_HEADS)),
                Planned(folder + f"{key}.jpg", next(self.small_sizes), "image", image_head),
            ]
        item["media_url"] = picture.replace("https://", "http://")
        item["media_url_https"] = picture
        return item, files


def ytd(name: str, items) -> bytes:
    return f"window.YTD.{name}.part0 = {json.dumps(items, indent=2)}".encode()


def member(name: str, compress_type: int, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type, info.file_size = compress_type, size
    info.external_attr = 0o644 << 16
    return info


def archive_build(path: Path, *, size_gb: float, tweets: int) -> Built:
    """Write the archive to `path` as a stream: no member is ever whole in memory."""
    from platforms.sandbox.media import image, video

    started = time.perf_counter()
    maker = TweetMaker(random.Random(f"{SEED}:{LAYOUT}:{size_gb}:{tweets}"), int(size_gb * GB), tweets)
    image_heads = [image(f"bench-photo-{i}") for i in range(IMAGE_HEADS)]
    video_heads = [video(f"bench-video-{i}") for i in range(VIDEO_HEADS)]
    planned: list[Planned] = []
    media: dict[str, list] = {}
    with zipfile.ZipFile(path, "w") as zf:
        # X deflates its data files and stores its media.
        with zf.open(member("data/tweets.js", zipfile.ZIP_DEFLATED), "w") as out:
            out.write(b"window.YTD.tweets.part0 = [")
            for n, (tweet, files) in enumerate(maker.tweets()):
                out.write((",\n" if n else "\n").encode() + json.dumps({"tweet": tweet}, indent=2).encode())
                planned.extend(files)
            out.write(b"\n]")
        tweets_js = zf.getinfo("data/tweets.js").file_size
        account = {"email": "bench@example.com", "createdVia": "web", "username": USER, "accountId": "1234567890",
                   "createdAt": "2010-03-01T10:00:00.000Z", "accountDisplayName": "Bench Mark"}  # fmt: skip
        zf.writestr(member("data/account.js", zipfile.ZIP_DEFLATED), ytd("account", [{"account": account}]))
        profile = {"description": {"bio": "Benchmarks the import", "website": "", "location": ""}}
        zf.writestr(member("data/profile.js", zipfile.ZIP_DEFLATED), ytd("profile", [{"profile": profile}]))
        for item in planned:
            heads = image_heads if item.kind == "image" else video_heads
            head = heads[item.head][: item.size]
            padding = random.Random(f"{SEED}:{item.name}")
            digest = hashlib.sha256(head)
            with zf.open(member(item.name, zipfile.ZIP_STORED, item.size), "w") as out:
                out.write(head)
                left = item.size - len(head)
                while left:
                    block = padding.randbytes(min(CHUNK, left))
                    out.write(block)
                    digest.update(block)
                    left -= len(block)
            media[item.name] = [digest.hexdigest(), item.size]
    return Built(path, tweets, tweets_js, media, time.perf_counter() - started)


def archive_for(args, work: Path) -> Built:
    """The archive for these knobs: from the cache when kept and complete, built otherwise. It is
    built in a process of its own so that this one, which starts every measured run, stays small
    (see `own_peak_mb`)."""
    folder = CACHE / f"x-layout{LAYOUT}-{args.size_gb:g}gb-{args.tweets}tweets" if args.keep else work / "built"
    path, facts = folder / "archive.zip", folder / "archive.json"
    if args.keep and path.exists() and facts.exists():
        known = json.loads(facts.read_text())
        if known["size"] == path.stat().st_size:
            return Built(path, known["tweets"], known["tweets_js_bytes"], known["media"], None)
    folder.mkdir(parents=True, exist_ok=True)
    facts.unlink(missing_ok=True)
    spec = work / "build.json"
    spec.write_text(json.dumps({"path": str(path), "size_gb": args.size_gb, "tweets": args.tweets}))
    run = run_timed([sys.executable, "-m", "benchmarks.importing", "--build", str(spec)], cwd=ROOT)
    known = json.loads(facts.read_text())
    return Built(path, known["tweets"], known["tweets_js_bytes"], known["media"], run.seconds)


def build_stage(spec: dict) -> None:
    path = Path(spec["path"])
    part = path.with_name(path.name + ".part")
    built = archive_build(part, size_gb=spec["size_gb"], tweets=spec["tweets"])
    part.rename(path)
    # Written last: an interrupted build leaves no facts, and is built again next time.
    facts = {"size": path.stat().st_size, "tweets": built.tweets, "tweets_js_bytes": built.tweets_js_bytes}
    path.with_name("archive.json").write_text(json.dumps({**facts, "media": built.media}))


# --- our import alone, inside a child process ---------------------------------------------------
def import_stage(spec: dict) -> dict:
    """What the command does before its job runs (check, copy into storage), then `job_import`,
    each timed on its own; the process ends there, so its peak RSS is the import's."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.core.files.storage import default_storage
    from django.db.models import Count

    from exports import importing
    from exports.cli import quiet
    from platforms import importer as platform_importer

    quiet()
    path = Path(spec["archive"])
    size = path.stat().st_size
    owner = get_user_model().objects.get(username=USER)
    job_id = uuid.uuid4()
    result = {}
    started = time.perf_counter()
    with open(path, "rb") as f:
        platform_importer.archive_inspect(f, platform_slug="twitter", size=size)
        result["inspect_seconds"] = time.perf_counter() - started
        f.seek(0)
        started = time.perf_counter()
        name = importing.upload_name_for(owner.pk, job_id, path.name)
        upload = default_storage.save(name, File(f, name=name))
        result["copy_seconds"] = time.perf_counter() - started
    job = importing.import_job_create(
        owner=owner, platform_slug="twitter", upload_name=upload, upload_size=size, job_id=job_id, enqueue=False
    )
    result["rss_before_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    importing.job_import(job)
    result["import_seconds"], result["import_cpu"] = time.perf_counter() - started, time.process_time() - cpu
    result["records"] = job.records.count()
    result["media"] = dict(job.media_files.values_list("status").annotate(n=Count("id")).order_by())
    return result


# --- the runs ----------------------------------------------------------------------------------
def own_peak_mb() -> float:
    """This process's peak RSS so far. Linux starts a child's peak RSS at its parent's (a vfork or a
    fork copies the high-water mark, and exec keeps it), so no child measured from here can show
    less: the report says so where a figure is at that floor."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settle(archive: Path) -> None:
    """Every run starts alike: what the last one wrote is on disk, and the archive is in the page
    cache (read once here), so no run pays for another's writes or reads the disk the others did not."""
    os.sync()
    with open(archive, "rb") as f:
        while f.read(8 * CHUNK):
            pass


class Bench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.load_at_start = os.getloadavg()[0]
        self.template = work / "template"
        self.floor_mb = 0.0

    def timed(self, cmd: list[str], **kwargs) -> Run:
        self.floor_mb = max(self.floor_mb, own_peak_mb())
        return run_timed(cmd, **kwargs)

    def env(self, folder: Path) -> dict[str, str]:
        # No sandbox: every file the tweets name is in the archive, so nothing is downloaded.
        return child_env(folder, "", 1)

    def prepare(self) -> None:
        """One migrated database with the user in it, copied for every run of ours (migrating
        takes seconds that are no one's to measure). The user has no connected account: an
        import needs none."""
        env = self.env(self.template)
        quiet = {"cwd": ROOT, "env": env, "check": True, "stdout": subprocess.DEVNULL}
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], **quiet)
        create = f"from django.contrib.auth import get_user_model; get_user_model().objects.create_user({USER!r})"
        subprocess.run([sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", create], **quiet)

    def fresh(self, name: str) -> Path:
        folder = self.work / name
        shutil.copytree(self.template / "var", folder / "var")
        return folder

    def unzip(self, built: Built) -> Run:
        target = self.work / "unzipped"
        settle(built.path)
        run = self.timed(["unzip", "-q", "-o", str(built.path), "-d", str(target)])
        found = sum(len(files) for _, _, files in os.walk(target))
        shutil.rmtree(target)
        if found != len(built.media) + 3:
            raise BenchError(f"unzip unpacked {found} files, the archive has {len(built.media) + 3}")
        return run

    def ours_import(self, built: Built) -> tuple[Run, dict]:
        folder = self.fresh("import")
        spec, out = folder / "spec.json", folder / "result.json"
        spec.write_text(json.dumps({"archive": str(built.path), "result": str(out)}))
        settle(built.path)
        try:
            run = self.timed(
                [sys.executable, "-m", "benchmarks.importing", "--import-stage", str(spec)],
                cwd=ROOT, env=self.env(folder),
            )  # fmt: skip
            return run, json.loads(out.read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def command(self, built: Built) -> tuple[Run, dict]:
        folder = self.fresh("command")
        stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
        settle(built.path)
        command = ["manage.py", "import_archive", "--user", USER, "--platform", "twitter", str(built.path)]
        try:
            with open(stdout, "w") as out, open(stderr, "w") as err:
                run = self.timed([sys.executable, *command], cwd=ROOT, env=self.env(folder), stdout=out, stderr=err)
        except BenchError as exc:
            raise BenchError(f"{exc}: {stderr.read_text().strip()[-600:]}") from None
        lines = stdout.read_text().strip().splitlines()
        export = Path(lines[-1]) if lines else None
        if export is None or not export.is_file():
            raise BenchError(f"import_archive printed no archive path (stdout: {stdout.read_text()[-300:]!r})")
        return run, self.check(built, export)

    def check(self, built: Built, export: Path) -> dict:
        """Outside the timings: the export passes verify_archive.py, and holds every file of the
        archive with its very bytes."""
        checked = {"export_bytes": export.stat().st_size, "verify": "verify_archive.py not found: not run"}
        if VERIFY.exists():
            proc = subprocess.run(
                [sys.executable, str(VERIFY), str(export), "twitter", "--media"], capture_output=True, text=True
            )
            said = proc.stdout.strip().splitlines()
            if proc.returncode != 0:
                raise BenchError(f"verify_archive.py refused the export: {' | '.join(said[-5:])}")
            checked["verify"] = said[-1] if said else "ok"
        with zipfile.ZipFile(export) as zf:
            document = next(n for n in zf.namelist() if "/" not in n and n.endswith(".json"))
            with zf.open(document) as f:
                data = json.load(f)
        exported = Counter((m["sha256"], m["size"]) for m in data["media"])
        expected = Counter(tuple(value) for value in built.media.values())
        if exported != expected:
            missing = sum((expected - exported).values())
            raise BenchError(f"{missing} of the archive's {len(built.media)} media files are not in the export")
        checked["media"] = sum(exported.values())
        checked["records"] = sum(len(items) for items in data["records"].values())
        tweets = len(data["records"].get("tweets", []))
        if tweets != built.tweets:
            raise BenchError(f"the export has {tweets} tweets, the archive {built.tweets}")
        return checked


# --- the report --------------------------------------------------------------------------------
def report(bench: Bench, built: Built, unzip: Run, ours: Run, stage: dict, total: Run, checked: dict) -> str:
    size = built.path.stat().st_size
    videos = sum(name.endswith(".mp4") for name in built.media)
    sizes = [s for _, s in built.media.values()]
    import_ratio = stage["import_seconds"] / unzip.seconds
    total_ratio = total.seconds / unzip.seconds
    peak = max(ours.peak_rss_mb, total.peak_rss_mb)
    made = (
        f"built in {built.seconds:.1f} s"
        if built.seconds is not None
        else f"kept from an earlier run in {CACHE.relative_to(ROOT)}/"
    )

    def row(label: str, seconds: float, cpu: float | str, rss: float | str) -> str:
        cpu = f"{cpu:.2f}" if isinstance(cpu, float) else cpu
        if isinstance(rss, float):
            rss = f"<={bench.floor_mb:.0f}" if rss < bench.floor_mb + 0.5 else f"{rss:.0f}"
        return f"  {label:<52}{seconds:>9.2f}{cpu:>9}{size / MB / seconds:>9.1f}{rss:>13}"

    unzip_version = tool_version(["unzip", "-v"], "UnZip").split(" of ")[0]
    statuses = ", ".join(f"{n:,} {status}" for status, n in sorted(stage["media"].items()))
    return "\n".join(
        [
            f"Star Export import benchmark, {date.today().isoformat()}",
            f"machine: {machine()}; {unzip_version}",
            # Anything else running shares the CPUs and the disk: say so.
            f"load average (1 min): {bench.load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
            f"archive: X's layout, {built.tweets:,} tweets (data/tweets.js {mb(built.tweets_js_bytes)} MB, deflated), "
            f"{len(built.media):,} files in data/tweets_media/ ({len(built.media) - videos:,} .jpg, {videos:,} .mp4), "
            f"{mb(size)} MB in all; media {min(sizes) / KB:.0f} KB to {mb(max(sizes))} MB each, stored; {made}",
            "each in a process of its own, after a sync and with the archive in the page cache; MB = 2^20 bytes; "
            f"'<={bench.floor_mb:.0f}': no more than the RSS of the process that started it, which Linux counts in",
            "",
            f"  {'':<52}{'wall s':>9}{'cpu s':>9}{'MB/s':>9}{'peak RSS MB':>13}",
            row("unzip -q -o archive.zip -d DIR", unzip.seconds, unzip.cpu_seconds, unzip.peak_rss_mb),
            row("ours: import (job_import, timed in its process)", stage["import_seconds"], stage["import_cpu"], "-"),
            row("  its process: start, check, copy in, job_import", ours.seconds, ours.cpu_seconds, ours.peak_rss_mb),
            f"    (of which the check {stage['inspect_seconds']:.2f} s, the copy into storage {stage['copy_seconds']:.2f} s; "
            f"peak RSS before job_import {stage['rss_before_mb']:.0f} MB)",
            row("ours: manage.py import_archive (total)", total.seconds, total.cpu_seconds, total.peak_rss_mb),
            f"  import / unzip = {import_ratio:.2f}   import_total / unzip = {total_ratio:.2f}",
            f"  peak RSS of ours: {peak:.0f} MB  target < {TARGET_RSS_MB}: {verdict(peak, TARGET_RSS_MB, below=True)}",
            "",
            f"job_import: {stage['records']:,} records; media {statuses}",
            f"export: {mb(checked['export_bytes'])} MB, {checked['records']:,} records, {checked['media']:,} of "
            f"{len(built.media):,} media files of the archive with the same bytes; {checked['verify']}",
            "",
            f"bench: import/unzip={import_ratio:.2f} import_total/unzip={total_ratio:.2f} peak_rss_mb={round(peak)}",
        ]
    )


def bench(args) -> str:
    if not shutil.which("unzip"):
        raise BenchError("unzip is not installed (Debian: apt-get install unzip)")
    work = Path(tempfile.mkdtemp(prefix="starexport-bench-import-"))
    try:
        # At the worst moment the archive, its copy in storage, the stored media and the export
        # are all on disk.
        needed = 4.2 * args.size_gb * GB
        if shutil.disk_usage(work).free < needed:
            raise BenchError(f"needs about {needed / GB:.1f} GB of free disk in {work.parent}")
        bench = Bench(args, work)
        built = archive_for(args, work)
        bench.prepare()
        unzip = bench.unzip(built)
        ours, stage = bench.ours_import(built)
        if stage["media"] != {"done": len(built.media)}:
            raise BenchError(f"job_import did not store every file of the archive: {stage['media']}")
        total, checked = bench.command(built)
        return report(bench, built, unzip, ours, stage, total, checked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.importing",
        description="manage.py import_archive on a large X archive against unzip of the same file: wall time "
        "and peak RSS.",
    )
    parser.add_argument("--size-gb", type=float, default=2, help="the archive's size in GB, 2^30 bytes (default 2)")
    parser.add_argument("--tweets", type=int, default=20_000, help="tweets in data/tweets.js (default 20000)")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the archive in {CACHE.relative_to(ROOT)}/ and reuse it next time"
    )
    parser.add_argument("--build", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--import-stage", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.build:
        build_stage(json.loads(Path(args.build).read_text()))
        return 0
    if args.import_stage:
        spec = json.loads(Path(args.import_stage).read_text())
        Path(spec["result"]).write_text(json.dumps(import_stage(spec)))
        return 0
    if args.size_gb <= 0 or args.tweets < 1:
        parser.error("--size-gb and --tweets must be positive")

    # A terminated benchmark still removes its files (the `finally` above).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        print(bench(args), flush=True)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
