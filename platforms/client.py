"""The one HTTP client for platform APIs and media hosts.

Every outgoing request goes through `guarded_session()`: requests-hardened resolves each host once,
refuses private, loopback, link-local and reserved addresses and connects to the address it
checked. Only the configured sandbox (exact scheme, host and port) may be on loopback. urllib3's
`Retry` retries 429 and 5xx answers and honours `Retry-After`.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.util.retry import Retry

from platforms.base import Extractor, ExtractorError, Request

USER_AGENT = "StarExport/0.1 (+self-hosted export of your own content)"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# Never wait longer than this on one Retry-After or rate-limit reset: a job must keep moving.
MAX_PAUSE_SECONDS = 120.0


class GuardedAdapter(IPFilterAdapter):
    """requests-hardened's address filter with our retry policy and pool size."""

    def __init__(self, *, https: bool, allow_loopback: bool, retries: Retry | int, pool_maxsize: int = 10):
        super().__init__(is_https_proto=https, allow_loopback=allow_loopback)
        HTTPAdapter.__init__(self, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize, max_retries=retries)


def api_retry(total: int = 4) -> Retry:
    return Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=0.5,
        backoff_jitter=0.5,
        backoff_max=30,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        redirect=5,
    )


def sandbox_origin() -> str | None:
    """`scheme://host:port` of the configured sandbox, the one loopback origin we may fetch from."""
    if not settings.STAREXPORT_SANDBOX:
        return None
    scheme, host, port = origin(settings.STAREXPORT_SANDBOX)
    return f"{scheme}://{host}:{port}"


def guarded_session(*, retries: Retry | int | None = None, pool_maxsize: int = 10) -> requests.Session:
    retries = api_retry() if retries is None else retries
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
        body_attempts: int = 4,
        sleep=time.sleep,
    ):
        self.extractor = extractor
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or guarded_session()
        self.timeout = timeout or settings.STAREXPORT["HTTP_TIMEOUT"]
        self.max_pages = max_pages or settings.STAREXPORT["MAX_PAGES_PER_RESOURCE"]
        self.body_attempts = body_attempts
        self.sleep = sleep
        self.requests_made = 0
        self.units = 0

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
        url = self.url_for(req)
        headers = {**self.extractor.auth_headers(self.token), **req.headers}
        last_error: Exception | None = None
        for attempt in range(1, self.body_attempts + 1):
            try:
                response = self.session.get(
                    url,
                    params=req.params or None,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                self.requests_made += 1
                self.units += self.extractor.units_for(req)
                response.content  # noqa: B018 — read the whole body here, where a cut-off is retried
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                last_error = exc
                self._backoff(attempt)
                continue
            if response.status_code >= 400:
                raise self._error(response)
            try:
                response._star_json = json.loads(response.content)
            except ValueError as exc:
                # A body cut off in transit: fetch the page again.
                last_error = exc
                self._backoff(attempt)
                continue
            return response
        # The error's type only: its text may carry the request URL, and with it a token.
        raise ExtractorError(
            f"{self.extractor.slug} API did not answer properly after {self.body_attempts} tries "
            f"({type(last_error).__name__}).",
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

    def _backoff(self, attempt: int) -> None:
        self.sleep(min(0.25 * 2 ** (attempt - 1), 8) + random.uniform(0, 0.25))

    def _error(self, response: requests.Response) -> ExtractorError:
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
                f"{name} kept answering {status} after several retries; try again later.",
                retryable=True,
                code="busy",
            )
        return ExtractorError(f"{name} answered {status}: {_excerpt(body)}")


def _excerpt(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)[:300]
    return text[:300]
