"""The downloader: streams media files to storage, verified, resumable, and never into our network.

- Bounded concurrency per job (a thread pool) and per host (a semaphore per host name).
- Size checked and SHA-256 taken while streaming (no second read; on local storage the finished
  file is moved into place, not copied); a body shorter than its Content-Length is retried and
  resumed with `Range` from a partial file that survives a worker restart.
- One retry policy (`platforms.retry`) for files and their companions: each attempt is one
  request, so a dead file costs exactly `DOWNLOAD_ATTEMPTS` requests; waits honour `Retry-After`
  and the platform's rate-limit headers.
- The platform's max file size is enforced while streaming; the real type is sniffed from the
  first bytes and checked against the platform's formats (an HTML page named image.jpg is refused).
- Addresses are checked by requests-hardened on every hop; redirects are followed here, each one
  checked against the platform's media hosts, and capped.
- Bytes are stored once per owner under their checksum (DESIGN §1).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from exports.models import MediaFile
from exports.writer import MediaRefused, disk_problem, media_verify_and_store
from platforms import budget as budgets
from platforms.base import DownloadFailed
from platforms.client import guarded_session, same_origin, sandbox_origin
from platforms.outage import DOWN_STATUSES, Pause, health_for
from platforms.registry import get_extractor
from platforms.retry import RETRY_STATUSES, RetryPolicy, single_request

log = logging.getLogger(__name__)

CHUNK = 1 << 20
URLLIB3_BREAKS = (ProtocolError, ReadTimeoutError, OSError)
MAX_REDIRECTS = 5
PROGRESS_EVERY_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0

_host_slots: dict[str, threading.BoundedSemaphore] = {}
_host_slots_lock = threading.Lock()


@dataclass
class Outcome:
    ok: bool
    reason: str = ""
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    ext: str = ""
    stored_name: str = ""
    extra: dict | None = None  # what post-processing learned about the file (merged audio, ...)
    paused: Pause | None = None  # not tried: the platform looks down; the file waits for it


class PlatformPaused(Exception):
    """The platform looks down: the file is put back untouched until the pause ends."""

    def __init__(self, pause: Pause):
        super().__init__(f"paused until {pause.until}")
        self.pause = pause


@dataclass
class Streamed:
    """What was learned of a file's bytes while they were written: no second read is needed."""

    size: int
    sha256: str


def host_allowed(url: str, platform) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    sandbox = sandbox_origin()
    if sandbox and same_origin(url, sandbox):
        return True
    if parts.scheme != "https":
        return False
    host = parts.hostname.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in platform.media_hosts)


def host_slot(host: str) -> threading.BoundedSemaphore:
    with _host_slots_lock:
        if host not in _host_slots:
            _host_slots[host] = threading.BoundedSemaphore(settings.STAREXPORT["DOWNLOAD_PER_HOST"])
        return _host_slots[host]


class Downloader:
    def __init__(
        self,
        *,
        platform,
        owner_id: int,
        session: requests.Session | None = None,
        concurrency: int | None = None,
        attempts: int | None = None,
        timeout: float | None = None,
        storage=None,
        sleep: Callable[[float], None] = time.sleep,
        refresh_url: Callable[[MediaFile], str | None] | None = None,
        finish: Callable | None = None,
        api_auth: dict[str, str] | None = None,
        heartbeat: Callable[[MediaFile], None] | None = None,
        who: str | None = None,
        background: bool = False,
    ):
        conf = settings.STAREXPORT
        # Some media are served by the API itself (GitHub's zipball): those requests carry the
        # user's token, which is never sent to any other origin, redirects included.
        self.api_auth = api_auth or {}
        self.api_base = platform.base_url
        # Those requests spend the platform app's shared budget too, in the user's turn.
        self.who = who or f"owner-{owner_id}"
        self.background = background
        self._budget: budgets.Budget | None | bool = True
        # Called now and then while a file streams, to keep its claim (and the job's) alive: a
        # long transfer must not look like a dead worker.
        self.heartbeat = heartbeat
        self.beat_every = min(HEARTBEAT_SECONDS, conf["LEASE_SECONDS"] / 3)
        self._current = threading.local()
        self.platform = platform
        self.owner_id = owner_id
        self.concurrency = concurrency or conf["DOWNLOAD_CONCURRENCY"]
        self.attempts = attempts or conf["DOWNLOAD_ATTEMPTS"]
        self.timeout = timeout or conf["HTTP_TIMEOUT"]
        self.policy = RetryPolicy(self.attempts)
        self.platform_wait = get_extractor(platform.slug).wait_seconds
        self.health = health_for(platform.slug)
        self.session = session or guarded_session(retries=single_request(), pool_maxsize=max(10, self.concurrency))
        self.storage = storage or default_storage
        self.sleep = sleep
        self.refresh_url = refresh_url
        # The platform's last touch on a downloaded file before it is verified (Reddit merges a
        # v.redd.it video with its separate audio track): finish(media_file, path, fetch) -> extra.
        self.finish = finish
        self.partial_dir = Path(settings.VAR_DIR) / "partial"

    @property
    def budget(self) -> budgets.Budget | None:
        if self._budget is True:
            self._budget = budgets.budget_for(self.platform.slug)
        return self._budget or None

    # --- many files --------------------------------------------------------------------------
    def run(self, job, media_file_ids: list[int], *, claim, on_progress: Callable[[], None] | None = None) -> None:
        """Download each claimable file of a chunk; a file another worker holds, or that is done,
        is skipped. `claim(job, ids)` takes the chunk's files at once and returns those taken.

        Files of the chunk that share a URL are fetched once; a URL the job already holds (done
        in an earlier chunk) is not fetched at all (DESIGN §1). Each thread keeps its database
        connection for the whole chunk."""
        claimed = claim(job, media_file_ids)
        if not claimed:
            return
        twins = self.twins_of(job.id, claimed)
        groups: dict[str, list[MediaFile]] = {}
        for media_file in claimed:
            # A file without an address is its own group: it fails on its own.
            groups.setdefault(media_file.source_url or f"#{media_file.id}", []).append(media_file)
        work = deque(groups.values())
        last_report = [0.0]
        report_lock = threading.Lock()

        def one(group: list[MediaFile]) -> None:
            first, *same = group
            pause = self.health.paused()
            if pause is not None:  # the platform looks down: the files wait, untried
                for media_file in group:
                    self.save_outcome(media_file, Outcome(False, paused=pause))
                return
            outcome = self.download_and_save(first, twins=twins)
            for media_file in same:
                self.save_outcome(media_file, outcome)
            # Throttled: progress is written at most once a second, not per file, and a thread
            # never waits for another one writing it: that one's figures will do.
            if on_progress and time.monotonic() - last_report[0] >= PROGRESS_EVERY_SECONDS:
                if report_lock.acquire(blocking=False):
                    try:
                        if time.monotonic() - last_report[0] >= PROGRESS_EVERY_SECONDS:
                            last_report[0] = time.monotonic()
                            on_progress()
                    finally:
                        report_lock.release()

        def drain() -> None:
            while True:
                try:
                    group = work.popleft()
                except IndexError:
                    return
                one(group)

        threads = min(self.concurrency, len(work))
        if threads <= 1:
            drain()
            return

        def drain_in_pool() -> None:
            try:
                drain()
            finally:
                # The thread's own connection, kept for the chunk: not left open after it.
                connection.close()

        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="download") as pool:
            for future in [pool.submit(drain_in_pool) for _ in range(threads)]:
                future.result()

    @staticmethod
    def twins_of(job_id: int, media_files: list[MediaFile]) -> dict[str, MediaFile]:
        """The job's files already done for the same URLs as these, by URL (one query)."""
        urls = {m.source_url for m in media_files if m.source_url}
        done = MediaFile.objects.filter(job_id=job_id, source_url__in=urls, status=MediaFile.Status.DONE)
        return {
            m.source_url: m for m in done.only("source_url", "size", "sha256", "content_type", "ext", "stored_name")
        }

    def download_and_save(self, media_file: MediaFile, *, twins: dict[str, MediaFile] | None = None) -> Outcome:
        """Fetch one claimed file (or take the bytes of a done file of the job with the same URL)
        and write its result. `twins`: the chunk's done files by URL; without it, one query."""
        if twins is None:
            twin = (
                MediaFile.objects.filter(job_id=media_file.job_id, source_url=media_file.source_url, status="done")
                .exclude(id=media_file.id)
                .first()
            )
        else:
            twin = twins.get(media_file.source_url)
        if twin is not None and twin.id != media_file.id:
            # The same URL reached through another media id: fetched once (DESIGN §1).
            outcome = Outcome(True, size=twin.size, sha256=twin.sha256, content_type=twin.content_type, ext=twin.ext)
            outcome.stored_name = twin.stored_name
        else:
            outcome = self.download(media_file)
        self.save_outcome(media_file, outcome)
        return outcome

    def save_outcome(self, media_file: MediaFile, outcome: Outcome) -> None:
        """The file's result in one UPDATE."""
        fields = ["status", "lease_until", "last_error"]
        media_file.lease_until = None
        if outcome.paused is not None:
            # Back in the queue as it was: the claim's attempt is handed back, and the step line
            # (not the failures list) says why it waits.
            MediaFile.objects.filter(id=media_file.id).update(
                status=MediaFile.Status.PENDING,
                lease_until=None,
                attempts=Greatest(F("attempts") - 1, Value(0)),
                updated_at=timezone.now(),
            )
            media_file.status = MediaFile.Status.PENDING
            return
        if outcome.ok:
            media_file.status = MediaFile.Status.DONE
            media_file.last_error = ""
            media_file.size, media_file.sha256 = outcome.size, outcome.sha256
            media_file.content_type, media_file.stored_name = outcome.content_type, outcome.stored_name
            media_file.ext = outcome.ext or media_file.ext
            fields += ["size", "sha256", "content_type", "stored_name", "ext"]
            if outcome.extra:
                media_file.extra = {**(media_file.extra or {}), **outcome.extra}
                fields.append("extra")
        else:
            media_file.status = MediaFile.Status.FAILED
            media_file.last_error = outcome.reason[:2000]
        MediaFile.objects.filter(id=media_file.id).update(
            **{f: getattr(media_file, f) for f in fields}, updated_at=timezone.now()
        )

    # --- one file ----------------------------------------------------------------------------
    def beat(self) -> None:
        media_file = getattr(self._current, "media_file", None)
        if self.heartbeat is None or media_file is None:
            return
        now = time.monotonic()
        if now - getattr(self._current, "last_beat", 0.0) >= self.beat_every:
            self._current.last_beat = now
            self.heartbeat(media_file)

    def download(self, media_file: MediaFile) -> Outcome:
        self._current.media_file, self._current.last_beat = media_file, time.monotonic()
        try:
            return self._download(media_file)
        finally:
            self._current.media_file = None

    def _download(self, media_file: MediaFile) -> Outcome:
        partial = (
            self.partial_dir
            / str(media_file.job_id)
            / (hashlib.sha1(media_file.media_id.encode()).hexdigest() + ".part")
        )
        partial.parent.mkdir(parents=True, exist_ok=True)
        url = media_file.source_url
        keep_partial = False
        try:
            streamed = self.fetch_with_retries(
                url, partial, refresh=lambda: self.refresh_url(media_file) if self.refresh_url else None
            )
            extra = None
            if self.finish:
                before = _identity(partial)
                extra = self.finish(media_file, partial, self.fetch_companion)
                if _identity(partial) != before:
                    streamed = None  # the platform rewrote the file (a merged sound track): hashed anew
            outcome = self.verify_and_store(media_file, partial, streamed=streamed)
            outcome.extra = extra
            return outcome
        except PlatformPaused as paused:
            # What arrived is kept: the file resumes from there once the platform answers again.
            keep_partial = True
            return Outcome(False, paused=paused.pause)
        except DownloadFailed as failure:
            return Outcome(False, failure.reason.removeprefix("expired:").strip())
        except Exception as exc:  # a file never takes the job down: it is recorded as failed
            log.exception("download of %s failed", url)
            return Outcome(False, f"unexpected error: {exc}")
        finally:
            # A final outcome either way; only a worker that dies, or a pause, leaves the partial.
            if not keep_partial:
                partial.unlink(missing_ok=True)

    def fetch_companion(self, url: str, dest: Path) -> None:
        """Download a file that belongs with a media file (an audio track) under the same rules:
        allowed hosts, address checks, size limit, retries. Raises DownloadFailed."""
        self.fetch_with_retries(url, dest)

    def fetch_with_retries(self, url: str, dest: Path, *, refresh: Callable[[], str | None] | None = None) -> Streamed:
        """`fetch` under the retry policy: at most `attempts` requests, the wait between them from
        the policy. A signed URL that expired is refreshed once through `refresh` (that request
        counts as an attempt too). Raises DownloadFailed, its reason saying how many attempts."""
        refreshed = False
        for attempt in range(1, self.policy.attempts + 1):
            pause = self.health.paused()
            if pause is not None:
                raise PlatformPaused(pause)
            try:
                return self.fetch(url, dest)
            except DownloadFailed as failure:
                if failure.restart:
                    dest.unlink(missing_ok=True)
                if failure.reason.startswith("expired:") and refresh and not refreshed:
                    # Signed CDN URLs expire: ask the API once for a fresh one.
                    refreshed = True
                    fresh = refresh()
                    if fresh:
                        url = fresh
                        continue
                if not failure.retryable:
                    raise
                if attempt == self.policy.attempts:
                    raise DownloadFailed(f"{failure.reason} ({self.policy.gave_up(attempt)})") from failure
                pause = self.health.paused()
                if pause is not None:  # this failure was one too many: the platform looks down
                    raise PlatformPaused(pause) from failure
                self.sleep(
                    self.policy.delay(attempt, getattr(failure, "headers", None), platform_wait=self.platform_wait)
                )
        raise DownloadFailed(
            f"the link expired and no attempt was left for a fresh one ({self.policy.gave_up(self.policy.attempts)})"
        )

    def fetch(self, url: str, partial: Path) -> Streamed:
        """Stream `url` into `partial`, continuing what is there, hashing the bytes as they are
        written. Raises DownloadFailed."""
        parts = urlsplit(url)
        # The per-host bound covers the whole transfer, not just the request.
        with host_slot(f"{parts.hostname}:{parts.port}"):
            return self._fetch(url, partial)

    def _fetch(self, url: str, partial: Path) -> Streamed:
        limit = self.platform.max_file_size
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        response = self.open(url, headers)
        with response:
            status = response.status_code
            if status == 416 and have:
                raise DownloadFailed("the server refused to resume the download", retryable=True, restart=True)
            if status == 401 and self.api_auth and same_origin(url, self.api_base):
                raise DownloadFailed(
                    f"{self.platform.display_name} refused the stored token (401); reconnect your account"
                )
            if status in (403, 410):
                raise DownloadFailed(f"expired: the server answered {status} (the link may have expired)")
            if status == 404:
                raise DownloadFailed("the file is gone (404 Not Found)")
            if status in RETRY_STATUSES:
                busy = DownloadFailed(f"the server kept answering {status}", retryable=True)
                busy.headers = dict(response.headers)  # Retry-After and rate-limit advice for the wait
                raise busy
            if status >= 400:
                raise DownloadFailed(f"the server answered {status}")
            if status == 200 and have:
                have = 0  # Range ignored: the whole file is coming again
            elif status == 206:
                start = _content_range_start(response.headers.get("Content-Range", ""))
                if start != have:
                    raise DownloadFailed("the server resumed at the wrong offset", retryable=True, restart=True)
            length = response.headers.get("Content-Length")
            expected = have + int(length) if length and length.isdigit() else None
            if expected is not None and expected > limit:
                raise DownloadFailed(
                    f"the file is {_mb(expected)}, over {self.platform.display_name}'s limit of {_mb(limit)}"
                )
            mode = "ab" if have else "wb"
            written = have
            digest = hashlib.sha256()
            if have:  # resumed: the bytes already there count too
                with open(partial, "rb") as kept:
                    while block := kept.read(CHUNK):
                        digest.update(block)
            try:
                with open(partial, mode) as out:
                    # read1 hands over whatever has arrived, so a connection that breaks loses
                    # nothing already received and the resume starts exactly where it stopped.
                    for chunk in iter(lambda: response.raw.read1(CHUNK, decode_content=True), b""):
                        written += len(chunk)
                        if written > limit:
                            raise DownloadFailed(
                                f"the file grew past {self.platform.display_name}'s limit of {_mb(limit)}; stopped"
                            )
                        digest.update(chunk)
                        try:
                            out.write(chunk)
                        except OSError as exc:  # our disk, not the network: retrying will not help
                            raise DownloadFailed(disk_problem(exc)) from exc
                        self.beat()
            except DownloadFailed:
                partial.unlink(missing_ok=True)
                raise
            except (requests.RequestException, *URLLIB3_BREAKS) as exc:
                raise DownloadFailed(
                    f"the connection broke after {written} bytes ({type(exc).__name__})", retryable=True
                ) from exc
            if expected is not None and written != expected:
                raise DownloadFailed(f"the body was cut short ({written} of {expected} bytes)", retryable=True)
            return Streamed(size=written, sha256=digest.hexdigest())

    def open(self, url: str, headers: dict) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            if not host_allowed(url, self.platform):
                raise DownloadFailed(
                    f"refused to fetch from {urlsplit(url).hostname or url!r}: not a {self.platform.display_name} media host"
                )
            hop_headers = dict(headers)
            if self.api_auth and same_origin(url, self.api_base):
                hop_headers.update(self.api_auth)
            if budgets.is_api_request(url, self.api_base) and self.budget is not None:
                self.budget.take(self.who, background=self.background)
            try:
                response = self.session.get(
                    url, headers=hop_headers, stream=True, timeout=self.timeout, allow_redirects=False
                )
            except requests.exceptions.InvalidURL as exc:
                raise DownloadFailed(f"refused: {exc}") from exc
            except requests.RequestException as exc:
                if "InvalidIPAddress" in type(exc).__name__ or "Forbidden IP" in str(exc):
                    raise DownloadFailed(f"refused to connect to a private address ({exc})") from exc
                self.health.record(False)
                raise DownloadFailed(f"could not connect ({type(exc).__name__})", retryable=True) from exc
            self.health.record(response.status_code not in DOWN_STATUSES)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = urljoin(url, location)
                continue
            return response
        raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects")

    def verify_and_store(self, media_file: MediaFile, partial: Path, *, streamed: Streamed | None = None) -> Outcome:
        """Check the finished file and keep it; with what was learned while streaming, the file is
        not read again, and on local storage it is moved into place rather than copied."""
        try:
            stored = media_verify_and_store(
                lambda: open(partial, "rb"),
                kind=media_file.kind,
                ext=media_file.ext,
                platform=self.platform,
                owner_id=self.owner_id,
                origin="the server sent",
                storage=self.storage,
                sha256=streamed.sha256 if streamed else None,
                size=streamed.size if streamed else None,
                move_from=partial,
            )
        except MediaRefused as refused:
            raise DownloadFailed(refused.reason) from refused
        partial.unlink(missing_ok=True)
        return Outcome(
            True,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
            ext=stored.ext,
            stored_name=stored.stored_name,
        )


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Enough to tell that a file was replaced or rewritten."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _content_range_start(value: str) -> int | None:
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
