"""The one HTTP client for platform APIs and media hosts.

Every outgoing request goes through `guarded_session()`: requests-hardened resolves each host once,
refuses private, loopback, link-local and reserved addresses and connects to the address it
checked. Only the configured sandbox (exact scheme, host and port) may be on loopback. Retries
follow the one policy of `platforms.retry`: urllib3 makes one request per call, our loop counts
the attempts.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.util.retry import Retry

from platforms import budget as budgets
from platforms.base import Extractor, ExtractorError, Request
from platforms.retry import MAX_PAUSE_SECONDS, RETRY_STATUSES, RetryPolicy, single_request

USER_AGENT = "StarExport/0.1 (+self-hosted export of your own content)"


class GuardedAdapter(IPFilterAdapter):
    """requests-hardened's address filter with our retry policy and pool size."""

    def __init__(self, *, https: bool, allow_loopback: bool, retries: Retry | int, pool_maxsize: int = 10):
        super().__init__(is_https_proto=https, allow_loopback=allow_loopback)
        HTTPAdapter.__init__(self, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize, max_retries=retries)


def sandbox_origin() -> str | None:
    """`scheme://host:port` of the configured sandbox, the one loopback origin we may fetch from."""
    if not settings.STAREXPORT_SANDBOX:
        return None
    scheme, host, port = origin(settings.STAREXPORT_SANDBOX)
    return f"{scheme}://{host}:{port}"


def guarded_session(*, retries: Retry | int | None = None, pool_maxsize: int = 10) -> requests.Session:
    retries = single_request() if retries is None else retries
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.mount(
        "http://",
        GuardedAdapter(https=False, allow_loopback=False, retries=retries, pool_maxsize=pool_maxsize),
    )
    session.mount(
        "https://",
        GuardedAdapter(https=True, allow_loopback=False, retries=retries, pool_maxsize=pool_maxsize),
    )
    origin = sandbox_origin()
    if origin:
        # requests picks the longest matching prefix: only this exact origin reaches loopback.
        session.mount(
            origin + "/",
            GuardedAdapter(
                https=origin.startswith("https"),
                allow_loopback=True,
                retries=retries,
                pool_maxsize=pool_maxsize,
            ),
        )
    return session


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


SECRET_PARAMS = frozenset({"access_token", "client_secret", "refresh_token"})


def without_query_params(url: str, names: frozenset[str]) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def same_origin(url: str, base: str) -> bool:
    return origin(url) == origin(base)


class ApiClient:
    """Calls one platform's API for one user: bearer token, timeouts, retries, rate limits."""

    def __init__(
        self,
        extractor: Extractor,
        *,
        base_url: str,
        token: str,
        session: requests.Session | None = None,
        timeout: float | None = None,
        max_pages: int | None = None,
        attempts: int | None = None,
        sleep=time.sleep,
        budget: budgets.Budget | None | bool = True,
        background: bool = False,
    ):
        self.extractor = extractor
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or guarded_session()
        self.timeout = timeout or settings.STAREXPORT["HTTP_TIMEOUT"]
        self.max_pages = max_pages or settings.STAREXPORT["MAX_PAGES_PER_RESOURCE"]
        self.policy = RetryPolicy(attempts or settings.STAREXPORT["API_ATTEMPTS"])
        self.sleep = sleep
        self.requests_made = 0
        self.units = 0
        # The platform app's budget, shared with every other job (True: found on first use).
        self._budget = budget
        self.who = budget_owner(token)
        # Nobody is watching (a scheduled export): its requests yield their turn to watched ones.
        self.background = background

    @property
    def budget(self) -> budgets.Budget | None:
        if self._budget is True:
            self._budget = budgets.budget_for(self.extractor.slug)
        return self._budget or None

    def url_for(self, req: Request) -> str:
        if req.url.startswith(("http://", "https://")):
            # Paging URLs the API hands back (Facebook's paging.next) must stay on the API's own
            # host: the bearer token is never sent anywhere else.
            if not same_origin(req.url, self.base_url):
                raise ExtractorError(f"The API pointed to another host ({urlsplit(req.url).hostname}); refused.")
            # Graph API paging URLs carry the token in `access_token`; it travels in the
            # Authorization header instead, so it never sits in a URL that may be logged.
            return without_query_params(req.url, SECRET_PARAMS)
        return urljoin(self.base_url + "/", req.url.lstrip("/"))

    def get(self, req: Request) -> requests.Response:
        """One page: each attempt is exactly one request; 429, 5xx, a broken connection and a body
        cut off in transit are tried again, up to the policy's attempts."""
        url = self.url_for(req)
        headers = {**self.extractor.auth_headers(self.token), **req.headers}
        attempts = self.policy.attempts
        last_error = ""
        quota_waits = 0
        attempt = 0
        while attempt < attempts:
            attempt += 1
            advice = None
            units = self.extractor.units_for(req)
            if self.budget is not None:
                self.budget.take(self.who, units=units, background=self.background)
            try:
                response = self.session.get(
                    url,
                    params=req.params or None,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                self.requests_made += 1
                self.units += units
                response.content  # noqa: B018 — read the whole body here, where a cut-off is retried
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                # The error's type only: its text may carry the request URL, and with it a token.
                last_error = type(exc).__name__
            else:
                if self.budget is not None:
                    self.budget.observe(response.headers, platform_wait=self.extractor.wait_seconds)
                status = response.status_code
                if status >= 400 and not (self.policy.retryable_status(status) and attempt < attempts):
                    error = self._error(response, attempts=attempt)
                    if error.code == "quota" and self.budget is not None and self.budget.size.daily_units:
                        if quota_waits < 2:
                            # The platform counts more units than we did: wait for its reset.
                            quota_waits += 1
                            attempt -= 1
                            self.budget.spend_day()
                            continue
                    raise error
                if status >= 400:
                    last_error, advice = f"{status}", response.headers
                else:
                    try:
                        response._star_json = json.loads(response.content)
                        return response
                    except ValueError:
                        last_error = "a body that is not JSON"  # cut off in transit: fetch it again
            if attempt < attempts:
                self.sleep(self.policy.delay(attempt, advice, platform_wait=self.extractor.wait_seconds))
        raise ExtractorError(
            f"{self.extractor.slug} API did not answer properly ({last_error}); {self.policy.gave_up(attempts)}.",
            retryable=True,
            code="network",
        )

    def json(self, response: requests.Response) -> Any:
        if hasattr(response, "_star_json"):
            return response._star_json
        try:
            return response.json()
        except ValueError as exc:
            raise ExtractorError("The API answered with a body that is not JSON.", retryable=True) from exc

    def pause(self, seconds: float) -> None:
        if seconds and seconds > 0:
            self.sleep(min(seconds, MAX_PAUSE_SECONDS))

    def _error(self, response: requests.Response, *, attempts: int = 1) -> ExtractorError:
        try:
            body = response.json()
        except ValueError:
            body = response.text[:300]
        specific = self.extractor.error_for(response.status_code, body, dict(response.headers))
        if specific is not None:
            return specific
        name = self.extractor.slug
        status = response.status_code
        if status == 401:
            return ExtractorError(
                f"{name} refused the stored token (401). Reconnect your account and start the export again.",
                code="unauthorized",
            )
        if status == 403:
            return ExtractorError(f"{name} refused access (403): {_excerpt(body)}", code="forbidden")
        if status == 404:
            return ExtractorError(f"{name} has no such resource (404): {_excerpt(body)}", code="not_found")
        if status in RETRY_STATUSES:
            return ExtractorError(
                f"{name} kept answering {status} ({self.policy.gave_up(attempts)}); try again later.",
                retryable=True,
                code="busy",
            )
        return ExtractorError(f"{name} answered {status}: {_excerpt(body)}")


def budget_owner(token: str) -> str:
    """Whose turn a request is, for fair turns: one user per token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16] if token else "anonymous"


def _excerpt(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)[:300]
    return text[:300]
