"""GitHub REST API: the profile, repositories, stars (with their dates) and gists.

Media are files (kind "file"): the source archive (zipball) of each repository the user owns and
every file of each gist. Stars are other people's code and get no media.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from platforms.base import Extractor, ExtractorError, FetchContext, MediaItem, Page, Request, iso_utc

if TYPE_CHECKING:
    from platforms.client import ApiClient

API_VERSION = "2022-11-28"
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
# RFC 6570 expressions as GitHub writes them in its *_url templates: `{archive_format}`, `{/ref}`.
URI_TEMPLATE = re.compile(r"\{(/?)(\w+)\}")
UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_FILENAME_IN_ID = 100
NOT_OWNED_NOTE = "Source archives are included only for repositories you own"


def next_link(headers: dict | None) -> str | None:
    """The `rel="next"` URL of GitHub's Link header; None without headers or on the last page."""
    if not headers:
        return None
    link = next((v for k, v in headers.items() if k.lower() == "link"), "")
    match = LINK_NEXT.search(link or "")
    return match.group(1) if match else None


def expand_template(template: str, **values: str) -> str:
    """GitHub's URI template with `values` filled in; expressions without a value drop out."""

    def fill(match: re.Match) -> str:
        slash, name = match.groups()
        value = values.get(name, "")
        return f"{slash}{value}" if value else ""

    return URI_TEMPLATE.sub(fill, template)


def zipball_url(repo: dict) -> str:
    """The API URL of the repository's source archive at its default branch (GitHub answers it
    with a redirect to codeload.github.com)."""
    template = repo.get("archive_url")
    if isinstance(template, str) and template:
        return expand_template(template, archive_format="zipball")
    url = repo.get("url")
    return f"{url.rstrip('/')}/zipball" if isinstance(url, str) and url else ""


def gist_file_media_id(gist_id: str, filename: str) -> str:
    """`gist_<id>_<filename>` in safe characters. A name that had to change (or be shortened)
    gets a hash of the original, so `a b.py` and `a_b.py` in one gist stay two files."""
    safe = UNSAFE_ID_CHARS.sub("_", filename)
    safe = re.sub(r"\.{2,}", "_", safe)[:MAX_FILENAME_IN_ID]
    if safe != filename:
        # surrogatepass: a JSON name may hold a lone surrogate, which strict UTF-8 cannot encode.
        safe = f"{safe}_{hashlib.sha1(filename.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return f"gist_{UNSAFE_ID_CHARS.sub('_', gist_id)}_{safe}"


def _owner_login(repo: dict) -> str:
    owner = repo.get("owner")
    return str(owner.get("login") or "").lower() if isinstance(owner, dict) else ""


def filename_ext(filename: str, default: str = "txt") -> str:
    stem, dot, ext = filename.rpartition(".")
    if dot and stem and ext.isalnum() and len(ext) <= 10:
        return ext.lower()
    return default


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
        if resource in ("repos", "starred"):
            # Newest first, so an export of only what is new can stop at the first known page.
            params.update(sort="created", direction="desc")
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
            page.media.extend(self.media_for(resource, item, record_id))
        return page

    def media_for(self, resource: str, record: dict, record_id: str) -> list[MediaItem]:
        """The files a record carries.

        `repos`: the source archive of every repository that is not a fork. A fork's archive is
        mostly its upstream's code, not the user's; the record still says where it came from.
        `parse()` sees one page and not the user's login, so it cannot tell the user's own
        repositories from those they collaborate on or see through an organisation; `pages()`,
        which has the login from `/user` by then, drops the archives of those (`owned_media`).
        `gists`: every file of every gist, as GitHub serves it raw.

        A file is dated by its record (DESIGN §2: `{date}` is the record's date), so a repository's
        archive sits beside its creation date; when its code last changed is `extra["pushed_at"]`.
        """
        if resource == "repos":
            if record.get("fork") or not (url := zipball_url(record)):
                return []
            full_name = str(record.get("full_name") or record.get("name") or record_id)
            return [
                MediaItem(
                    url=url,
                    kind="file",
                    media_id=f"repo_{record_id}",
                    record_id=record_id,
                    timestamp=self.record_timestamp(resource, record),
                    caption=full_name,
                    ext="zip",
                    extra={
                        "full_name": full_name,
                        "default_branch": record.get("default_branch") or "",
                        "size_kb": record.get("size"),
                        "private": bool(record.get("private")),
                        "pushed_at": iso_utc(record.get("pushed_at")),
                    },
                )
            ]
        if resource == "gists":
            files = record.get("files")
            if not isinstance(files, dict):
                return []
            timestamp = self.record_timestamp(resource, record)
            items = []
            for key, file in files.items():
                if not isinstance(file, dict) or not isinstance(file.get("raw_url"), str) or not file["raw_url"]:
                    continue
                filename = str(file.get("filename") or key)
                items.append(
                    MediaItem(
                        url=file["raw_url"],
                        kind="file",
                        media_id=gist_file_media_id(record_id, filename),
                        record_id=record_id,
                        timestamp=timestamp,
                        caption=filename,
                        ext=filename_ext(filename),
                        expected_size=file.get("size"),
                        extra={
                            "language": file.get("language"),
                            "size": file.get("size"),
                            "gist_id": record_id,
                            "updated_at": iso_utc(record.get("updated_at")),
                        },
                    )
                )
            return items
        return []

    def pages(self, client: ApiClient, ctx: FetchContext) -> Iterator[tuple[str, Page]]:
        self.prepare(client, ctx)
        for resource in self.resources:
            for name, page in self.resource_pages(client, ctx, resource):
                if name == "user" and page.records and ctx.account is None:
                    ctx.account = page.records[0]
                elif name == "repos" and ctx.account:
                    page.media = self.owned_media(page, ctx)
                yield name, page

    def owned_media(self, page: Page, ctx: FetchContext) -> list[MediaItem]:
        """The page's source archives of repositories the user owns. /user/repos also lists
        repositories the user collaborates on or sees through an organisation: those are listed,
        but their code is not the user's to take (and an organisation's can be huge)."""
        login = str(ctx.account.get("login") or "").lower()
        owners = {self.record_id("repos", r): _owner_login(r) for r in page.records}
        kept = [m for m in page.media if owners.get(m.record_id) == login]
        if len(kept) < len(page.media):
            count = ctx.state.get("github_not_owned", 0) + len(page.media) - len(kept)
            ctx.state["github_not_owned"] = count
            # One note for the whole export, its count kept current page by page.
            ctx.notes[:] = [n for n in ctx.notes if not n.startswith(NOT_OWNED_NOTE)]
            ctx.notes.append(f"{NOT_OWNED_NOTE}; {count} repositories owned by others are listed without their code.")
        return kept

    def record_id(self, resource: str, record: dict) -> str:
        if resource == "starred" and isinstance(record.get("repo"), dict):
            return str(record["repo"].get("id") or "")
        value = record.get("id")
        return "" if value is None else str(value)

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        if resource == "starred":
            return iso_utc(record.get("starred_at"))
        return iso_utc(record.get("created_at"))

    def summary(self, resource: str, record: dict) -> dict[str, Any]:
        if resource == "user":
            login = str(record.get("login") or "")
            return {
                "title": str(record.get("name") or login),
                "text": str(record.get("bio") or ""),
                "link": str(record.get("html_url") or ""),
                "context": f"@{login}" if login else "",
                "resource_name": "Profile",
            }
        if resource == "gists":
            files = record.get("files") if isinstance(record.get("files"), dict) else {}
            return {
                "title": str(record.get("description") or next(iter(files), "")),
                "text": "\n".join(files),
                "link": str(record.get("html_url") or ""),
                "context": "Public gist" if record.get("public") else "Secret gist",
                "resource_name": "Your gists",
            }
        # A starred repository comes wrapped with the day it was starred.
        repo = record.get("repo") if resource == "starred" and isinstance(record.get("repo"), dict) else record
        facts = [
            "Fork" if repo.get("fork") else "",
            "Private" if repo.get("private") else "",
            str(repo.get("language") or ""),
            f"★ {repo['stargazers_count']:,}" if isinstance(repo.get("stargazers_count"), int) else "",
        ]
        return {
            "title": str(repo.get("full_name") or repo.get("name") or ""),
            "text": str(repo.get("description") or ""),
            "link": str(repo.get("html_url") or ""),
            "context": " · ".join(f for f in facts if f),
            "resource_name": "Starred" if resource == "starred" else "Your repositories",
        }

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
