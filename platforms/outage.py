"""When a platform looks down, every worker pauses it instead of spending each file's attempts.

A platform "looks down" when each of the last `OUTAGE_REQUESTS` requests to it (from any worker,
any job) failed with a 5xx answer, a timeout or a broken connection. Then the platform is paused:
no worker sends it anything until the pause ends ("Reddit is not answering; trying again at
14:05 UTC"). After the pause one request tries again: an answer ends the outage, another failure
pauses it again for twice as long (up to `OUTAGE_MAX_PAUSE_SECONDS`). A platform that has not
answered for `OUTAGE_GIVE_UP_SECONDS` is no longer paused: its files spend their own attempts and
fail with their reasons, so a job always ends.

The state is kept in Redis beside the request budgets (every worker on every machine sees it), or
in this process on a one-process install.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from platforms.budget import UNREACHABLE, _redis, storage_url

log = logging.getLogger(__name__)

NAMESPACE = "starexport-outage"
# Answers that mean the platform is not answering (429 is a limit, not an outage).
DOWN_STATUSES = frozenset({500, 502, 503, 504})
# How often one process writes down that the platform answered, at most.
SUCCESS_EVERY_SECONDS = 0.5
# How long one process trusts what it last read of a pause.
SEEN_SECONDS = 0.25


@dataclass(frozen=True)
class Pause:
    until: float  # epoch seconds
    since: float  # when the failures began

    @property
    def seconds_left(self) -> float:
        return max(0.0, self.until - time.time())

    @property
    def until_text(self) -> str:
        return f"{datetime.fromtimestamp(self.until, UTC):%H:%M:%S} UTC"

    def sentence(self, display_name: str) -> str:
        return f"{display_name} is not answering; trying again at {self.until_text}"


class _Local:
    """The in-process state of a one-process install."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: dict[str, list[bool]] = {}
        self.state: dict[str, dict] = {}


_local = _Local()


class Health:
    """One platform's recent answers, shared by every worker."""

    def __init__(self, slug: str):
        conf = settings.STAREXPORT
        self.slug = slug
        self.window = max(2, conf["OUTAGE_REQUESTS"])
        self.first_pause = float(conf["OUTAGE_PAUSE_SECONDS"])
        self.max_pause = float(conf["OUTAGE_MAX_PAUSE_SECONDS"])
        self.give_up = float(conf["OUTAGE_GIVE_UP_SECONDS"])
        self.redis = _redis(storage_url())
        self.key = f"{NAMESPACE}:{slug}"
        self._answered, self._written_at = False, 0.0
        # What `paused()` last read, kept a moment: a download asks before every file and attempt.
        self._seen: tuple[float, Pause | None] = (0.0, None)

    # --- what happened ---------------------------------------------------------------------
    def record(self, answered: bool) -> None:
        """One request's outcome: `answered` is False for a 5xx, a timeout or a broken connection."""
        try:
            if self.redis is not None:
                self._record_redis(answered)
            else:
                self._record_local(answered)
        except UNREACHABLE as exc:  # the outage guard must never stop a download by itself
            log.warning("could not keep %s's health (%s)", self.slug, exc)
        if not answered:
            self._seen = (0.0, None)  # this failure may have started a pause: read it afresh

    def _record_redis(self, answered: bool) -> None:
        now = time.monotonic()
        if answered and self._answered and now - self._written_at < SUCCESS_EVERY_SECONDS:
            # A busy download answers many times a second: one answer in a while is enough to
            # break another worker's run of failures, and saves a round trip per file.
            return
        self._answered, self._written_at = answered, now
        pipe = self.redis.pipeline()
        pipe.lpush(f"{self.key}:last", "1" if answered else "0")
        pipe.ltrim(f"{self.key}:last", 0, self.window - 1)
        pipe.expire(f"{self.key}:last", 86400)
        if answered:
            pipe.delete(f"{self.key}:state")  # it answers: no pause, and the next one starts short
            pipe.execute()
            return
        pipe.lrange(f"{self.key}:last", 0, -1)
        last = pipe.execute()[-1]
        if len(last) < self.window or "1" in last:
            return
        with self.redis.lock(f"{self.key}:lock", timeout=5, blocking_timeout=5):
            state = json.loads(self.redis.get(f"{self.key}:state") or "{}")
            state = self._next_state(state)
            if state is not None:
                self.redis.set(f"{self.key}:state", json.dumps(state), ex=int(self.give_up + self.max_pause) + 60)

    def _record_local(self, answered: bool) -> None:
        with _local.lock:
            last = _local.outcomes.setdefault(self.slug, [])
            last.insert(0, answered)
            del last[self.window :]
            if answered:
                _local.state.pop(self.slug, None)
                return
            if len(last) < self.window or any(last):
                return
            state = self._next_state(_local.state.get(self.slug, {}))
            if state is not None:
                _local.state[self.slug] = state

    def _next_state(self, state: dict) -> dict | None:
        """Another failure with every recent request failed: pause (again, for longer)."""
        now = time.time()
        if state.get("until", 0) > now:
            return None  # already paused: failures of requests sent before the pause add nothing
        since = state.get("since", now)
        if now - since >= self.give_up:
            return {**state, "until": 0, "gave_up": True}
        pause = min(self.max_pause, self.first_pause * 2 ** state.get("pauses", 0))
        log.warning("%s looks down: pausing it for %.0f s", self.slug, pause)
        return {"since": since, "until": now + pause, "pauses": state.get("pauses", 0) + 1}

    # --- what to do --------------------------------------------------------------------------
    def paused(self) -> Pause | None:
        """The pause in force now, or None (the platform may be asked)."""
        read_at, pause = self._seen
        if time.monotonic() - read_at < SEEN_SECONDS:
            return pause if pause is None or pause.until > time.time() else None
        pause = self._read()
        self._seen = (time.monotonic(), pause)
        return pause

    def _read(self) -> Pause | None:
        try:
            if self.redis is not None:
                state = json.loads(self.redis.get(f"{self.key}:state") or "{}")
            else:
                with _local.lock:
                    state = dict(_local.state.get(self.slug, {}))
        except UNREACHABLE:
            return None
        if state.get("until", 0) > time.time():
            return Pause(until=state["until"], since=state["since"])
        return None


def health_for(slug: str) -> Health:
    return Health(slug)


def health_reset(slug: str) -> None:
    """Forget a platform's outage (tests; an operator after fixing a network)."""
    health = Health(slug)
    if health.redis is not None:
        try:
            health.redis.delete(f"{health.key}:state", f"{health.key}:last")
        except UNREACHABLE as exc:
            log.warning("could not forget %s's outage (%s)", slug, exc)
    with _local.lock:
        _local.state.pop(slug, None)
        _local.outcomes.pop(slug, None)
