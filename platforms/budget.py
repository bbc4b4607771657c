"""One request budget per platform app, shared by every worker on every machine.

Every user's export goes through the same OAuth app, and the platforms limit the app (Reddit about
100 requests a minute per client id, YouTube 10,000 units a day per Google project). So before each
API request — and each media request to the API's own host — a caller takes a token from its
platform's budget, kept in Redis by `limits` (a moving window: at most N requests in any W seconds,
atomic across processes). The size comes from the `Platform` row: `rate_limit_per_hour`, enforced
over windows of `rate_window_seconds`, plus `daily_units` where the platform counts quota units.

- **Adapting down.** The platform's own headers may say less is left than we think (another app on
  the same key, a lower limit than configured): a wait they ask for (the extractor's
  `wait_seconds`: nothing left until Reddit's or GitHub's reset, Meta's usage percentages) holds
  the whole platform, every worker, until it passes.
- **Daily units** are counted per quota day (YouTube's resets at midnight Pacific); when they are
  spent, callers wait for the reset, and the time is kept where the job page can show it.
- **Fair turns.** When the budget is the bottleneck, callers queue in Redis ordered by when their
  user was last served, least recently first, and only the head may take a token: users take
  turns, so a user with a huge account cannot starve one with a small one. A background caller
  (a scheduled export nobody is watching) queues behind every caller a person is waiting for,
  and takes turns with the other background ones.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from redis.exceptions import RedisError

from platforms.retry import MAX_PAUSE_SECONDS

log = logging.getLogger(__name__)
# What a budget that cannot be reached raises (Redis down or restarting).
UNREACHABLE = (RedisError, StorageError, OSError)

NAMESPACE = "starexport-budget"
POLL_SECONDS = 0.05
# A place in the queue whose holder stopped refreshing it (its worker died) is dropped after this.
ALIVE_MS = 3000
# How long a user's last turn is remembered; older than this, the user counts as never served.
SERVED_TTL = 86400
# A user whose last request is this old has gone idle: the next one starts a new count.
IDLE_SECONDS = 300
# Added to a background caller's place in the queue: behind any epoch time a watched one has.
BACKGROUND_RANK = 1e11


@dataclass(frozen=True)
class Size:
    requests: int  # at most this many requests ...
    window: int  # ... in any this many seconds
    daily_units: int = 0  # quota units per quota day (0: the platform has no units)
    quota_timezone: str = "UTC"  # where the quota day starts at midnight

    @property
    def per_second(self) -> float:
        return self.requests / self.window


def size_of(platform, quota_timezone: str = "UTC") -> Size:
    window = max(1, platform.rate_window_seconds)
    requests = max(1, math.floor(platform.rate_limit_per_hour * window / 3600))
    return Size(requests, window, platform.daily_units, quota_timezone)


_storages: dict[str, object] = {}
_clients: dict[str, object] = {}


def storage_url() -> str:
    return settings.STAREXPORT["BUDGET_STORAGE"]


def _storage(url: str):
    if url not in _storages:
        _storages[url] = storage_from_string(url)
    return _storages[url]


def _redis(url: str):
    """A Redis client for the turn queue; None for the in-memory storage of a one-process install."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    if url not in _clients:
        import redis

        _clients[url] = redis.Redis.from_url(url, decode_responses=True)
    return _clients[url]


def quota_day(now: float, timezone: str) -> tuple[str, float]:
    """The quota day `now` falls in and when it ends (epoch seconds). A test may shorten the day
    (`QUOTA_DAY_SECONDS`); the sandbox uses the same epoch-aligned days, so both roll over together."""
    length = settings.STAREXPORT["QUOTA_DAY_SECONDS"]
    if length:
        number = int(now // length)
        return f"d{number}", (number + 1) * length
    local = datetime.fromtimestamp(now, ZoneInfo(timezone))
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), ZoneInfo(timezone))
    return local.date().isoformat(), midnight.timestamp()


class Budget:
    """One platform's shared budget. `take(who)` before each request; `observe(headers)` after."""

    def __init__(
        self,
        slug: str,
        size: Size,
        *,
        url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.slug, self.size = slug, size
        url = url or storage_url()
        self.storage = _storage(url)
        self.redis = _redis(url)
        self.sleep, self.clock = sleep, clock
        # Requests reach the platform a moment after their token is taken; a little slack on the
        # window keeps a late arrival from making N+1 in the platform's own window.
        margin = settings.STAREXPORT["BUDGET_MARGIN_SECONDS"]
        self.item = RateLimitItemPerSecond(size.requests, math.ceil(size.window + margin), namespace=NAMESPACE)
        self.window = MovingWindowRateLimiter(self.storage)
        self.units_item = RateLimitItemPerSecond(max(1, size.daily_units), 2 * 86400, namespace=NAMESPACE)
        self.units = FixedWindowRateLimiter(self.storage)
        prefix = f"{NAMESPACE}:{slug}"
        self.k_queue, self.k_served = f"{prefix}:queue", f"{prefix}:served"
        self.k_hold, self.k_spent = f"{prefix}:hold", f"{prefix}:spent-until"
        self.k_count, self.k_pressed = f"{prefix}:count", f"{prefix}:pressed"

    # --- taking ----------------------------------------------------------------------------------
    def take(self, who: str, *, units: int = 0, background: bool = False) -> float:
        """Wait until this request may go (the day's units, the platform's hold, the user's turn,
        the window); returns the seconds waited. `background`: nobody is watching this request
        (a scheduled export): it yields its turn to any request someone is waiting for.

        A budget that cannot be reached (Redis restarting) lets the request go: an export must
        not fail because its pacing is down, and the platform's own 429s are still retried."""
        started = self.clock()
        try:
            return self._take(who, units, started, background)
        except UNREACHABLE as exc:
            log.warning("the %s request budget is unreachable (%s); going on without it", self.slug, exc)
            return self.clock() - started

    def _take(self, who: str, units: int, started: float, background: bool = False) -> float:
        if units and self.size.daily_units:
            self._take_units(units)
        if self.redis is None:
            while not self.window.hit(self.item, self.slug):
                self.sleep(self._until_free())
            return self.clock() - started
        place = f"{who}|{uuid.uuid4().hex[:8]}"
        try:
            while True:
                head = self._queue_head(who, place, background)
                if head != place:
                    self.sleep(POLL_SECONDS)
                    continue
                hold = self.hold_left()
                if hold > 0:
                    self.sleep(min(hold, 1.0))
                    continue
                if self.window.hit(self.item, self.slug):
                    self._served(who)
                    return self.clock() - started
                self._pressed()
                self.sleep(min(1.0, max(POLL_SECONDS, self._until_free())))
        finally:
            self.redis.zrem(self.k_queue, place)
            self.redis.delete(f"{self.k_queue}:{place}")

    def _pressed(self) -> None:
        """The head of the queue found the window full: the budget is the bottleneck now
        (remembered for a window, so that a glance between two turns still sees it)."""
        self.redis.set(self.k_pressed, "1", ex=max(1, self.size.window))

    def _served(self, who: str) -> None:
        """Remember the turn, and count the user's requests since it last went idle (the ETA's
        measure of how far a job has come)."""
        now = self.clock()
        last = self.redis.hget(self.k_served, who)
        pipe = self.redis.pipeline()
        if not last or now - float(last) > IDLE_SECONDS:
            pipe.hset(self.k_count, who, 0)
        pipe.hincrby(self.k_count, who, 1)
        pipe.hset(self.k_served, who, repr(now))
        pipe.expire(self.k_served, SERVED_TTL)
        pipe.expire(self.k_count, SERVED_TTL)
        pipe.execute()

    def _queue_head(self, who: str, place: str, background: bool = False) -> str | None:
        """Join (or stay in) the queue, ranked by when `who` was last served (background callers
        after every other); the head's place."""
        served = self.redis.hget(self.k_served, who)
        rank = (float(served) if served else 0.0) + (BACKGROUND_RANK if background else 0.0)
        pipe = self.redis.pipeline()
        pipe.zadd(self.k_queue, {place: rank})
        pipe.set(f"{self.k_queue}:{place}", "1", px=ALIVE_MS)
        pipe.zrange(self.k_queue, 0, 0)
        head = (pipe.execute()[2] or [None])[0]
        if head not in (None, place) and not self.redis.exists(f"{self.k_queue}:{head}"):
            self.redis.zrem(self.k_queue, head)  # its worker died while waiting
            return self._queue_head(who, place, background)
        return head

    def _until_free(self) -> float:
        stats = self.window.get_window_stats(self.item, self.slug)
        return max(POLL_SECONDS, stats.reset_time - time.time())

    def _take_units(self, units: int) -> None:
        while True:
            day, resets_at = quota_day(self.clock(), self.size.quota_timezone)
            if self.units.hit(self.units_item, self.slug, "units", day, cost=units):
                return
            self._mark_spent(resets_at)
            # Short naps, so a worker stopped meanwhile is not stuck in a long sleep.
            self.sleep(min(30.0, max(POLL_SECONDS, resets_at - self.clock())))

    def _mark_spent(self, resets_at: float) -> None:
        if self.redis is not None:
            ms = max(1, int((resets_at - self.clock()) * 1000))
            self.redis.set(self.k_spent, repr(resets_at), px=ms)

    # --- what the platform says ------------------------------------------------------------------
    def observe(self, headers: Mapping[str, str] | None, *, platform_wait: Callable[[dict], float] | None = None):
        """Adapt down to what the platform's headers say is left."""
        if not headers:
            return
        try:
            self._observe(headers, platform_wait)
        except UNREACHABLE as exc:
            log.warning("the %s request budget is unreachable (%s)", self.slug, exc)

    def _observe(self, headers: Mapping[str, str], platform_wait: Callable[[dict], float] | None) -> None:
        # Each extractor reads its platform's own headers (Reddit's and GitHub's remaining and
        # reset, Meta's usage percentages) into a wait; here that wait holds every worker. Taking
        # "remaining" out of our moving window instead would block it for a whole window, long
        # after the platform's own reset.
        if platform_wait is None:
            return
        try:
            wait = float(platform_wait(dict(headers)))
        except (TypeError, ValueError):
            wait = 0.0
        if wait > 0:
            self.hold(wait)

    def hold(self, seconds: float) -> None:
        """No request to this platform, from any worker, for `seconds`."""
        seconds = min(seconds, MAX_PAUSE_SECONDS)
        if self.redis is not None and seconds > 0:
            until = self.clock() + seconds
            current = self.hold_until()
            if until > current:
                self.redis.set(self.k_hold, repr(until), px=int(seconds * 1000))

    def hold_until(self) -> float:
        if self.redis is None:
            return 0.0
        value = self.redis.get(self.k_hold)
        return float(value) if value else 0.0

    def hold_left(self) -> float:
        return max(0.0, self.hold_until() - self.clock())

    def spend_day(self) -> None:
        """The platform said the day's units are gone (another app on the same project, say)."""
        day, resets_at = quota_day(self.clock(), self.size.quota_timezone)
        left = self.units.get_window_stats(self.units_item, self.slug, "units", day).remaining
        if left > 0:
            self.units.hit(self.units_item, self.slug, "units", day, cost=left)
        self._mark_spent(resets_at)

    # --- what people read ------------------------------------------------------------------------
    def state(self) -> dict | None:
        """Used, left and when the window frees up; units of the day; users waiting; the hold.
        None when the budget cannot be reached."""
        try:
            return self._state()
        except UNREACHABLE as exc:
            log.warning("the %s request budget is unreachable (%s)", self.slug, exc)
            return None

    def _state(self) -> dict:
        stats = self.window.get_window_stats(self.item, self.slug)
        used = self.size.requests - stats.remaining
        state = {
            "requests": self.size.requests,
            "window_seconds": self.size.window,
            "used": used,
            "left": stats.remaining,
            "resets_at": _at(stats.reset_time) if used else None,
            "waiting": self.waiting(),
            "held_until": _at(self.hold_until()) if self.hold_left() > 0 else None,
            "daily_units": self.size.daily_units or None,
            "units_used": None,
            "units_reset_at": None,
            "spent_until": None,
        }
        if self.size.daily_units:
            day, resets_at = quota_day(self.clock(), self.size.quota_timezone)
            units = self.units.get_window_stats(self.units_item, self.slug, "units", day)
            state["units_used"] = self.size.daily_units - units.remaining
            state["units_reset_at"] = _at(resets_at)
            spent = self.redis.get(self.k_spent) if self.redis is not None else None
            if spent and float(spent) > self.clock():
                state["spent_until"] = _at(float(spent))
        return state

    def share(self, who: str) -> dict | None:
        """For the ETA: the user's requests since it went idle, how many users are drawing from
        the budget now, and whether the budget is the bottleneck. None without Redis."""
        if self.redis is None:
            return None
        try:
            now = self.clock()
            served = self.redis.hgetall(self.k_served)
            count = self.redis.hget(self.k_count, who)
            stats = self.window.get_window_stats(self.item, self.slug)
            waiting_users = self.waiting_users()
            pressed = bool(self.redis.exists(self.k_pressed))
        except UNREACHABLE:
            return None
        # Users waiting for a turn now, or served within a few rounds of turns (a busy machine
        # may keep one from asking for a while), share the budget now.
        recent = min(max(30.0, 5 * len(served) * self.size.window / self.size.requests), self.size.window)
        active = {user for user, at in served.items() if now - float(at) <= recent} | waiting_users
        return {
            "requests": int(count or 0),
            "users": max(1, len(active)),
            # Requests waited for a turn lately, or the window is (nearly) full: the budget sets
            # the pace.
            "bottleneck": pressed or bool(waiting_users) or stats.remaining <= self.size.requests // 10,
        }

    @property
    def per_second(self) -> float:
        """The rate the budget lets through, its window's slack included."""
        return self.size.requests / self.item.get_expiry()

    def waiting(self) -> int:
        """Users with a request waiting for a token."""
        return len(self.waiting_users())

    def waiting_users(self) -> set[str]:
        if self.redis is None:
            return set()
        return {place.rsplit("|", 1)[0] for place in self.redis.zrange(self.k_queue, 0, -1)}

    def clear(self) -> None:
        """Forget every count (tests; an operator after raising a limit)."""
        self.window.clear(self.item, self.slug)
        self.units.clear(self.units_item, self.slug, "units", quota_day(self.clock(), self.size.quota_timezone)[0])
        if self.redis is not None:
            self.redis.delete(self.k_queue, self.k_served, self.k_hold, self.k_spent, self.k_count, self.k_pressed)


def is_api_request(url: str, api_base: str) -> bool:
    """Whether a media request goes to the platform's API itself (GitHub's zipball) and so spends
    the app's budget. In the sandbox, where the API and the media host share one origin, the
    platform's `/media/` folder is the media host."""
    target, base = urlsplit(url), urlsplit(api_base)
    if (target.scheme, target.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return False
    return not target.path.startswith(base.path.rstrip("/") + "/media/")


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# --- finding a platform's budget ------------------------------------------------------------------
_cache: dict[str, tuple[float, Budget | None]] = {}
CACHE_SECONDS = 15.0  # an edit in the admin reaches every worker within this


def budget_for(slug: str) -> Budget | None:
    """The platform's shared budget, its size read from the `Platform` row (None when budgets are
    off or the platform is unknown)."""
    if not settings.STAREXPORT["BUDGETS"]:
        return None
    now = time.monotonic()
    cached = _cache.get(slug)
    if (
        cached
        and now - cached[0] < CACHE_SECONDS
        and (cached[1] is None or cached[1].storage is _storage(storage_url()))
    ):
        return cached[1]
    from platforms.models import Platform
    from platforms.registry import available, get_extractor

    platform = Platform.objects.filter(slug=slug).first()
    budget = None
    if platform is not None and available(slug):  # not "Everything", which is no platform of its own
        zone = getattr(get_extractor(slug), "quota_timezone", "UTC")
        try:
            budget = Budget(slug, size_of(platform, zone))
        except UNREACHABLE as exc:
            log.warning("the %s request budget is unreachable (%s); going on without it", slug, exc)
    _cache[slug] = (now, budget)
    return budget


def forget_cached_budgets() -> None:
    _cache.clear()
