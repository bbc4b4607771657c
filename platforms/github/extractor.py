"""GitHub REST API: the profile, repositories, stars (with their dates) and gists."""

from __future__ import annotations

import re
import time
from typing import Any

from platforms.base import Extractor, ExtractorError, FetchContext, Page, Request, iso_utc

API_VERSION = "2022-11-28"
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def next_link(headers: dict | None) -> str | None:
    """The `rel="next"` URL of GitHub's Link header; None without headers or on the last page."""
    if not headers:
        return None
    link = next((v for k, v in headers.items() if k.lower() == "link"), "")
    match = LINK_NEXT.search(link or "")
    return match.group(1) if match else None


class GitHubExtractor(Extractor):
    slug = "github"
    resources = ("user", "repos", "starred", "gists")
    account_resource = "user"

    paths = {"user": "/user", "repos": "/user/repos", "starred": "/user/starred", "gists": "/gists"}

    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if resource == "starred":
            # star+json wraps each repository as {starred_at, repo}: the date the user starred it.
            headers["Accept"] = "application/vnd.github.star+json"
        if cursor:
            return Request(url=cursor, headers=headers)
        params = {} if resource == "user" else {"per_page": 100}
        return Request(url=self.paths[resource], params=params, headers=headers)

    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        if resource not in self.paths:
            raise ExtractorError(f"GitHub has no resource {resource!r} here; expected one of {', '.join(self.paths)}.")
        if resource == "user":
            if not isinstance(body, dict) or "login" not in body:
                raise ExtractorError("GitHub's /user answer has no login: not a user profile.")
            return Page(records=[body])
        if not isinstance(body, list):
            message = body.get("message") if isinstance(body, dict) else None
            raise ExtractorError(f"GitHub's {resource} answer is not a list{f': {message}' if message else ''}.")
        page = Page(next=next_link(headers))
        for item in body:
            record_id = self.record_id(resource, item) if isinstance(item, dict) else ""
            if not record_id:
                page.skipped.append({"record_id": "", "reason": f"a {resource} item without an id: {str(item)[:80]}"})
                continue
            page.records.append(item)
        return page

    def record_id(self, resource: str, record: dict) -> str:
        if resource == "starred" and isinstance(record.get("repo"), dict):
            return str(record["repo"].get("id") or "")
        value = record.get("id")
        return "" if value is None else str(value)

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        if resource == "starred":
            return iso_utc(record.get("starred_at"))
        return iso_utc(record.get("created_at"))

    def wait_seconds(self, headers: dict) -> float:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            remaining = int(lower.get("x-ratelimit-remaining", 1))
            reset = float(lower.get("x-ratelimit-reset", 0))
        except ValueError:
            return 0.0
        if remaining > 0:
            return 0.0
        return max(0.0, reset - time.time()) + 1

    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        lower = {k.lower(): v for k, v in headers.items()}
        message = body.get("message", "") if isinstance(body, dict) else str(body)[:200]
        if status in (403, 429) and (lower.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()):
            return ExtractorError(
                "GitHub's rate limit is used up; the export continues after it resets.",
                retryable=True,
                code="rate_limited",
            )
        if status == 401:
            return ExtractorError(
                f"GitHub refused the stored token ({message or 'Bad credentials'}). Reconnect your GitHub account.",
                code="unauthorized",
            )
        return None
