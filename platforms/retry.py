"""The one retry policy for every request to a platform: API pages, media files, companion files.

One loop counts attempts: urllib3 under it makes exactly one request per call (`single_request`),
so N attempts cost N requests. urllib3 cannot retry alone here: a body cut off mid-stream is
resumed with `Range`, an expired signed URL is refreshed, a page that is not JSON is fetched
again — all of which the caller's loop sees and urllib3 does not.

Between attempts the policy waits the longest of: the server's `Retry-After` (seconds or an
HTTP date, parsed by urllib3), the platform's own rate-limit headers (the extractor's
`wait_seconds`, e.g. Reddit's `x-ratelimit-reset`), and exponential backoff with full jitter.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from urllib3.util.retry import Retry

# Answers worth another attempt: the platform is busy or limiting us, not refusing.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Never wait longer than this on one Retry-After or rate-limit reset: a job must keep moving,
# and a longer wait is the task's own retry (with the job's lease released) to make.
MAX_PAUSE_SECONDS = 120.0


def single_request() -> Retry:
    """urllib3's part: no retries of its own (our loop counts them), no redirects followed."""
    return Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False, raise_on_redirect=False)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float:
    """The `Retry-After` header in seconds (0 when absent or unreadable)."""
    if not headers:
        return 0.0
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return 0.0
    try:
        return max(0.0, float(Retry().parse_retry_after(str(value))))
    except Exception:  # urllib3 raises InvalidHeader on junk; a junk header means "no advice"
        return 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts one request gets and how long to wait between them."""

    attempts: int
    base: float = 0.5  # first backoff, doubled per attempt
    cap: float = 20.0  # longest backoff without advice from the server
    max_pause: float = MAX_PAUSE_SECONDS

    def retryable_status(self, status: int) -> bool:
        return status in RETRY_STATUSES

    def delay(
        self,
        attempt: int,
        headers: Mapping[str, str] | None = None,
        *,
        platform_wait: Callable[[dict], float] | None = None,
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1))) + self.base / 2
        advised = retry_after_seconds(headers)
        if headers and platform_wait is not None:
            try:
                advised = max(advised, float(platform_wait(dict(headers))))
            except (TypeError, ValueError):
                pass
        return min(self.max_pause, max(backoff, advised))

    def gave_up(self, attempts: int) -> str:
        return f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
