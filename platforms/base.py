"""The extractor contract (DESIGN §3): what every platform module provides.

An extractor knows two things about its platform: which API requests page through a user's
content, and how to turn one response page into records and media. It never does I/O itself
except through the `ApiClient` handed to `pages()`, so `parse()` can be tested on recorded bodies.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platforms.client import ApiClient


class ExtractorError(Exception):
    """A page or an API answer we cannot use. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, code: str = ""):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


@dataclass
class MediaItem:
    url: str
    kind: str  # "image", "video" or "file"
    media_id: str
    record_id: str
    timestamp: str | None = None
    caption: str = ""
    ext: str = ""
    # Whatever else the platform says about the file: width, height, duration_ms, alt_text, ...
    extra: dict[str, Any] = field(default_factory=dict)
    # The file's size in bytes as the platform states it (a gist file's `size`) or implies it (a
    # video's bit rate × duration), when it does: the job's size estimate before downloading.
    expected_size: int | None = None

    def __post_init__(self):
        # Platforms send junk now and then (a list where a caption belongs); keep to the contract.
        self.caption = self.caption if isinstance(self.caption, str) else ""
        self.url = html.unescape(self.url or "")
        self.ext = (self.ext or "").lower().lstrip(".")
        self.media_id = str(self.media_id)
        self.record_id = str(self.record_id)
        if self.expected_size is not None:
            try:
                self.expected_size = max(0, int(self.expected_size)) or None
            except (TypeError, ValueError, OverflowError):
                self.expected_size = None


@dataclass
class Page:
    records: list[dict] = field(default_factory=list)
    media: list[MediaItem] = field(default_factory=list)
    next: str | None = None
    # Records that could not be read: {"record_id": ..., "reason": ...}; they are skipped.
    skipped: list[dict] = field(default_factory=list)


@dataclass
class Request:
    """One API call. `url` is a path below the platform's API base, or a full URL the API gave."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FetchContext:
    """What `pages()` needs besides the client: the user's options and what earlier calls found."""

    options: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    account: dict | None = None
    notes: list[str] = field(default_factory=list)
    # Called with (resource, page_number) before each request, for progress.
    on_request: Any = None
    # Resources to stop paging: the caller adds one when a page held nothing new.
    done: set[str] = field(default_factory=set)


class Extractor:
    slug: str = ""
    resources: tuple[str, ...] = ()
    # The resource whose single record is the user's profile (the archive's `account`).
    account_resource: str | None = None

    # --- parsing (pure) --------------------------------------------------------------------
    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        raise NotImplementedError

    def record_id(self, resource: str, record: dict) -> str:
        return str(record.get("id", ""))

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        """The record's creation time as ISO 8601 UTC ending in Z, or None."""
        return None

    # --- requests -------------------------------------------------------------------------
    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        """The request for the first page (cursor None) or the page after `cursor`."""
        raise NotImplementedError

    def prepare(self, client: ApiClient, ctx: FetchContext) -> None:
        """Calls needed before paging (the user's id or name, say). Fills ctx.state."""

    def wait_seconds(self, headers: dict) -> float:
        """How long to pause after a response, from the platform's rate-limit headers."""
        return 0.0

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        """The platform's own error body as an error a person can act on (None: use the default)."""
        return None

    def units_for(self, req: Request) -> int:
        """API quota units a request costs (YouTube counts them); 0 where the platform has no quota."""
        return 0

    def summary(self, resource: str, record: dict) -> dict[str, str]:
        """Title, text and link of a record for the offline viewer; platforms may refine it."""
        title = _first_text(record, ("title", "name", "full_name", "login"))
        text = _first_text(record, ("text", "caption", "message", "description", "selftext", "body", "story", "bio"))
        link = _first_text(record, ("permalink_url", "permalink", "html_url", "url"))
        if link.startswith("/"):
            link = ""
        return {"title": title, "text": text, "link": link if link.startswith(("http://", "https://")) else ""}

    # A platform that must touch a downloaded file before it is verified defines
    # `finish_media(media_file, path, fetch) -> dict | None` (see exports/download.py).
    finish_media = None

    def refresh_media_url(self, client: ApiClient, media_id: str, record_id: str) -> str | None:
        """A fresh URL for a media item whose signed CDN URL expired, or None where there is none."""
        return None

    def pages(self, client: ApiClient, ctx: FetchContext) -> Iterator[tuple[str, Page]]:
        """Every page of every resource, in order. Platforms with dependent calls override this."""
        self.prepare(client, ctx)
        for resource in self.resources:
            yield from self.resource_pages(client, ctx, resource)

    def resource_pages(self, client: ApiClient, ctx: FetchContext, resource: str) -> Iterator[tuple[str, Page]]:
        cursor = None
        number = 0
        while True:
            req = self.request(resource, cursor, ctx)
            if req is None:
                return
            number += 1
            if ctx.on_request:
                ctx.on_request(resource, number)
            response = client.get(req)
            page = self.parse(resource, client.json(response), dict(response.headers))
            yield resource, page
            if resource in ctx.done:
                return
            client.pause(self.wait_seconds(dict(response.headers)))
            if not page.next or number >= client.max_pages:
                return
            cursor = page.next


def text_cursor(value: Any) -> str | None:
    """A paging cursor as the contract has it: non-empty text, or None (the last page)."""
    return value if isinstance(value, str) and value else None


def iso_utc(value: Any) -> str | None:
    """A timestamp in any of the platforms' forms as ISO 8601 UTC ending in Z."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), tz=UTC)
        else:
            text = str(value).strip()
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            # Facebook writes +0000 without a colon.
            if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
                text = text[:-2] + ":" + text[-2:]
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def ext_from_url(url: str, default: str = "") -> str:
    """The file extension in a URL's path (`.../abc.JPG?x=1` -> `jpg`)."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        ext = last.rsplit(".", 1)[-1].lower()
        if ext.isalnum() and len(ext) <= 5:
            return ext
    return default


def _first_text(record: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, dict):
            value = value.get("title") or value.get("text")
        if isinstance(value, str) and value.strip():
            return value.strip()
    snippet = record.get("snippet")
    if isinstance(snippet, dict) and snippet is not record:
        return _first_text(snippet, keys)
    return ""


class DownloadFailed(Exception):
    """A media file (or a companion such as a video's sound) could not be fetched; `reason` is for a person."""

    def __init__(self, reason: str, *, retryable: bool = False, restart: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.restart = restart  # the partial file is useless: start from byte 0
