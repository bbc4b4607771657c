"""Reddit OAuth API: the user's posts, comments and saved items, with the media the posts carry."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from platforms.base import (
    Extractor,
    ExtractorError,
    FetchContext,
    MediaItem,
    Page,
    Request,
    ext_from_url,
    iso_utc,
    text_cursor,
)
from platforms.mediatypes import size_from_rate

if TYPE_CHECKING:
    from platforms.client import ApiClient

# Reddit asks every client for a unique, descriptive User-Agent and throttles generic ones.
USER_AGENT = "web:starexport:0.1 (self-hosted export tool)"
LISTING_LIMIT = 1000
PAGE_SIZE = 100
LIMIT_NOTE = (
    f"Reddit lists at most {LISTING_LIMIT:,} items per listing (posts, comments, saved): anything older "
    "cannot be reached through its API."
)

IMAGE_EXTS = {"jpg", "jpeg", "png", "gif", "webp"}
VIDEO_EXTS = {"mp4", "webm", "mov"}
IMGUR_HOSTS = {"imgur.com", "i.imgur.com", "m.imgur.com"}
# preview.redd.it's `format=` says what is really served, whatever the path's extension claims.
FORMAT_EXTS = {"pjpg": "jpg", "jpg": "jpg", "jpeg": "jpg", "png": "png", "png8": "png", "gif": "gif", "mp4": "mp4"}
MIME_EXTS = {"image/jpg": "jpg", "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


def _header(headers: dict, name: str) -> str | None:
    name = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)


def _url(value: Any) -> str:
    """A URL from a Reddit body; without raw_json=1 Reddit escapes `&` as `&amp;`."""
    return html.unescape(value) if isinstance(value, str) else ""


def _ext(url: str, default: str = "") -> str:
    fmt = parse_qs(urlsplit(url).query).get("format", [""])[0].lower()
    return FORMAT_EXTS.get(fmt) or ext_from_url(url, default)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


# Markdown as Reddit writes it, read as text: `[words](url)` and bare links become link spans,
# `![alt](id)` (an image shown with the media) its alt text, r/ and u/ names links to Reddit.
MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^()\s>]*(?:\([^()\s]*\)[^()\s>]*)*)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_BARE = re.compile(r"https?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"]|(?<![\w/])/?[ru]/[A-Za-z0-9_-]{2,21}\b")
MD_MARKS = re.compile(r"\*\*|__|~~|\\(?=[\\`*_{}\[\]()#+\-.!|>~^])|&#x200B;")
RESOURCE_NAMES = {"submitted": "Your posts", "comments": "Your comments", "saved": "Saved"}


def _reddit_href(target: str) -> str:
    if target.startswith(("http://", "https://")):
        return target
    if target.startswith(("/r/", "/u/", "/user/", "r/", "u/")):
        return "https://www.reddit.com/" + target.lstrip("/")
    return ""


def markdown_text(source: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Reddit markdown as the words a person reads and (start, end, href) link spans in them."""
    out: list[str] = []
    links: list[tuple[int, int, str]] = []
    size = 0

    def plain(chunk: str) -> None:
        nonlocal size
        chunk = MD_MARKS.sub("", chunk)
        for found in MD_BARE.finditer(chunk):
            href = _reddit_href(found[0])
            if href:
                links.append((size + found.start(), size + found.end(), href))
        out.append(chunk)
        size += len(chunk)

    at = 0
    for found in MD_LINK.finditer(source):
        plain(source[at : found.start()])
        words = MD_MARKS.sub("", found[2]) or found[3]
        href = "" if found[1] else _reddit_href(found[3])
        if href:
            links.append((size, size + len(words), href))
        out.append(words)
        size += len(words)
        at = found.end()
    plain(source[at:])
    return "".join(out), links


class RedditExtractor(Extractor):
    slug = "reddit"
    resources = ("submitted", "comments", "saved")
    # /api/v1/me is read in prepare(); there is no listing resource for the profile.
    account_resource = None

    # --- requests -------------------------------------------------------------------------
    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}

    def prepare(self, client: ApiClient, ctx: FetchContext) -> None:
        me = client.json(client.get(Request(url="/api/v1/me", params={"raw_json": 1})))
        if not isinstance(me, dict) or not me.get("name"):
            raise ExtractorError(
                "Reddit did not say which account the token belongs to. Reconnect your Reddit account.",
                code="unauthorized",
            )
        ctx.state["name"] = me["name"]
        ctx.account = me
        if LIMIT_NOTE not in ctx.notes:
            ctx.notes.append(LIMIT_NOTE)

    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        if resource not in self.resources:
            raise ExtractorError(
                f"Reddit has no resource {resource!r} here; expected one of {', '.join(self.resources)}."
            )
        name = ctx.state.get("name")
        if not name:
            raise ExtractorError("The Reddit user name is unknown; prepare() must run before paging.")
        params: dict[str, Any] = {"limit": PAGE_SIZE, "raw_json": 1}
        if cursor:
            params["after"] = cursor
        return Request(url=f"/user/{quote(name, safe='')}/{resource}", params=params)

    def resource_pages(self, client: ApiClient, ctx: FetchContext, resource: str) -> Iterator[tuple[str, Page]]:
        count = 0
        for item in super().resource_pages(client, ctx, resource):
            count += len(item[1].records) + len(item[1].skipped)
            yield item
        if count >= LISTING_LIMIT:
            ctx.notes.append(
                f"Reddit's {resource} listing stopped at {count:,} items, its limit: older ones are missing here. "
                "Reddit's data request (reddit.com/settings/data-request) has them all."
            )

    def wait_seconds(self, headers: dict) -> float:
        # Reddit's reset is seconds from now, and both values may be floats ("595.0").
        try:
            remaining = float(_header(headers, "x-ratelimit-remaining") or "nan")
            reset = float(_header(headers, "x-ratelimit-reset") or 0)
        except ValueError:
            return 0.0
        if remaining != remaining or remaining >= 1:
            return 0.0
        return max(0.0, reset) + 1

    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        if isinstance(body, dict):
            detail = body.get("message") or body.get("explanation") or body.get("reason") or ""
            reason = str(body.get("reason") or "")
        else:
            detail, reason = "", ""
        if status == 401:
            return ExtractorError(
                "Reddit refused the stored token (401 Unauthorized). Reconnect your Reddit account and start "
                "the export again.",
                code="unauthorized",
            )
        if status == 403:
            if reason.lower() in {"suspended", "banned"}:
                message = "Reddit says this account is suspended, so its listings cannot be read."
            else:
                message = (
                    f"Reddit refused access (403 {detail or 'Forbidden'}). The connection may lack the "
                    "'history' permission: reconnect your Reddit account and allow it."
                )
            return ExtractorError(message, code="forbidden")
        if status == 404:
            return ExtractorError(
                "Reddit has no such user (404). The account may have been deleted or renamed; reconnect it.",
                code="not_found",
            )
        if status == 429:
            reset = _header(headers, "x-ratelimit-reset")
            after = f" for about {round(float(reset))} s" if reset and reset.replace(".", "", 1).isdigit() else ""
            return ExtractorError(
                f"Reddit's rate limit is used up{after}; the export tries again after it resets.",
                retryable=True,
                code="rate_limited",
            )
        if status >= 500:
            return ExtractorError(
                f"Reddit kept answering {status} (its servers are busy); try again later.",
                retryable=True,
                code="busy",
            )
        return None

    # --- parsing --------------------------------------------------------------------------
    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        listings = body if isinstance(body, list) else [body]
        if not listings or not all(self._is_listing(x) for x in listings):
            raise ExtractorError(self._unreadable(resource, body))
        # A thread (/comments/{id}) answers with [post listing, comments listing]: it has no paging.
        after = listings[0]["data"].get("after") if len(listings) == 1 else None
        page = Page(next=text_cursor(after))
        for listing in listings:
            for child in listing["data"]["children"]:
                self._add(page, child)
        return page

    @staticmethod
    def _is_listing(value: Any) -> bool:
        return (
            isinstance(value, dict)
            and value.get("kind") == "Listing"
            and isinstance(value.get("data"), dict)
            and isinstance(value["data"].get("children"), list)
        )

    @staticmethod
    def _unreadable(resource: str, body: Any) -> str:
        if isinstance(body, dict) and ("error" in body or "message" in body):
            return f"Reddit answered {resource} with an error: {body.get('message') or body.get('error')}."
        return (
            f"Reddit's {resource} answer is not a Listing of things ({type(body).__name__}); "
            "the API may have changed or the answer was cut off. Try the export again."
        )

    def _add(self, page: Page, child: Any) -> None:
        data = child.get("data") if isinstance(child, dict) else None
        if not isinstance(data, dict) or not child.get("kind"):
            page.skipped.append({"record_id": "", "reason": f"a listing item that is not a thing: {str(child)[:80]}"})
            return
        record = {**data, "kind": child["kind"]}
        record_id = self.record_id("", record)
        if not data.get("id") or not record_id:
            page.skipped.append({"record_id": record_id, "reason": "a listing item without an id"})
            return
        try:
            media = self.media_for(record)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            page.skipped.append({"record_id": record_id, "reason": f"unreadable media fields: {exc!r}"})
            return
        page.records.append(record)
        page.media.extend(media)

    def record_id(self, resource: str, record: dict) -> str:
        if record.get("name"):
            return str(record["name"])
        if record.get("kind") and record.get("id"):
            return f"{record['kind']}_{record['id']}"
        return ""

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        return iso_utc(record.get("created_utc"))

    def summary(self, resource: str, record: dict) -> dict[str, Any]:
        # A post has its title; a comment is titled by its own first line (the viewer's default),
        # with the thread it answers as context, as Reddit's profile page shows it.
        comment = record.get("kind") == "t1"
        text, links = markdown_text(str((record.get("body") if comment else record.get("selftext")) or ""))
        permalink = str(record.get("permalink") or "")
        where = str(record.get("subreddit_name_prefixed") or "")
        if not where and record.get("subreddit"):
            where = f"r/{record['subreddit']}"
        thread = str(record.get("link_title") or "")
        return {
            "title": "" if comment else str(record.get("title") or ""),
            "text": text,
            "links": links,
            "link": f"https://www.reddit.com{permalink}" if permalink.startswith("/") else _reddit_href(permalink),
            "context": " · ".join(part for part in (where, f"on “{thread}”" if comment and thread else "") if part),
            "resource_name": RESOURCE_NAMES.get(resource, ""),
        }

    # --- media ----------------------------------------------------------------------------
    def media_for(self, record: dict) -> list[MediaItem]:
        """Every file a post (or a comment's inline media) carries, best rendition first."""
        # A crosspost's own fields point at the original's thread; the files are on the original.
        parents = record.get("crosspost_parent_list")
        source = parents[0] if isinstance(parents, list) and parents and isinstance(parents[0], dict) else record
        base = {
            "record_id": self.record_id("", record),
            "timestamp": self.record_timestamp("", record),
        }
        caption = record.get("title") or ""
        post_id = str(source.get("id") or record["id"])

        found = (
            self._gallery(source, base)
            or self._hosted_video(source, post_id, caption, base)
            or self._direct_link(source, post_id, caption, base)
            or self._inline(source, caption, base)
        )
        if not found:
            preview = self._preview(source, f"{post_id}_preview", caption, base)
            found = [preview] if preview else []

        unique: list[MediaItem] = []
        seen: set[str] = set()
        for item in found:
            if item.url and item.media_id not in seen and item.url not in seen:
                seen.update((item.media_id, item.url))
                unique.append(item)
        return unique

    def _gallery(self, post: dict, base: dict) -> list[MediaItem]:
        items = (post.get("gallery_data") or {}).get("items") or []
        metadata = post.get("media_metadata") or {}
        found = []
        for entry in items:
            meta = metadata.get(entry.get("media_id")) if isinstance(entry, dict) else None
            item = self._metadata_item(meta, entry.get("caption") or "", base) if meta else None
            if item:
                if entry.get("outbound_url"):
                    item.extra["outbound_url"] = entry["outbound_url"]
                found.append(item)
        return found

    def _inline(self, post: dict, caption: str, base: dict) -> list[MediaItem]:
        """Images placed inside a text post or comment arrive in media_metadata without gallery_data."""
        if post.get("gallery_data"):
            return []
        metadata = post.get("media_metadata") or {}
        items = (self._metadata_item(meta, caption, base) for meta in metadata.values() if isinstance(meta, dict))
        return [item for item in items if item]

    def _metadata_item(self, meta: dict, caption: str, base: dict) -> MediaItem | None:
        if meta.get("status", "valid") != "valid" or not meta.get("id"):
            return None
        source = meta.get("s") or {}
        extra = {k: v for k, v in (("width", source.get("x")), ("height", source.get("y"))) if v is not None}
        if meta.get("m"):
            extra["content_type"] = meta["m"]
        if meta.get("e") == "AnimatedImage":
            # The GIF on i.redd.it is the original; the MP4 is Reddit's conversion of it.
            if source.get("gif"):
                url, kind, ext = _url(source["gif"]), "image", "gif"
            elif source.get("mp4"):
                url, kind, ext = _url(source["mp4"]), "video", "mp4"
            else:
                return None
        elif meta.get("e") == "Image" and source.get("u"):
            url, kind = _url(source["u"]), "image"
            ext = MIME_EXTS.get(str(meta.get("m", "")).lower()) or _ext(url, "jpg")
        else:
            # RedditVideo inside text carries only DASH/HLS playlists, no single file to fetch.
            return None
        return MediaItem(url=url, kind=kind, media_id=meta["id"], caption=caption, ext=ext, extra=extra, **base)

    def _hosted_video(self, post: dict, post_id: str, caption: str, base: dict) -> list[MediaItem]:
        video = None
        for key in ("secure_media", "media"):
            holder = post.get(key)
            if isinstance(holder, dict) and isinstance(holder.get("reddit_video"), dict):
                video = holder["reddit_video"]
                break
        if not video or not video.get("fallback_url"):
            return []
        has_audio = video.get("has_audio")
        if has_audio is None and video.get("is_gif"):
            has_audio = False
        extra = {
            # v.redd.it serves picture and sound apart: the fallback MP4 has no audio track, so the
            # playlists are kept for whoever wants to join them.
            "dash_url": _url(video.get("dash_url")),
            "hls_url": _url(video.get("hls_url")),
            "has_audio": has_audio,
        }
        for key in ("width", "height", "duration", "bitrate_kbps", "is_gif"):
            if video.get(key) is not None:
                extra[key] = video[key]
        url = _url(video["fallback_url"])
        # The post's preview image is not taken beside the video: it is only a fallback (see media_for).
        return [
            MediaItem(
                url=url,
                kind="video",
                media_id=f"{post_id}_video",
                caption=caption,
                ext=ext_from_url(url, "mp4"),
                extra=extra,
                expected_size=size_from_rate((video.get("bitrate_kbps") or 0) * 1000, video.get("duration")),
                **base,
            )
        ]

    def finish_media(self, media_file, path, fetch) -> dict | None:
        """The downloader's last step: a v.redd.it video gets its separate sound track joined in."""
        # Imported here: parsing stays free of the downloader and its models.
        from platforms.reddit.media import merge_audio

        return merge_audio(media_file, path, fetch)

    def _direct_link(self, post: dict, post_id: str, caption: str, base: dict) -> list[MediaItem]:
        url = _url(post.get("url_overridden_by_dest") or post.get("url"))
        if not url.startswith(("http://", "https://")):
            return []
        host, ext = _host(url), ext_from_url(url)
        if host in IMGUR_HOSTS and ext:
            parts = urlsplit(url)
            path = parts.path
            if ext == "gifv":
                # imgur's .gifv is an HTML page around an MP4 of the same name.
                path, ext = path[: -len(".gifv")] + ".mp4", "mp4"
            url = urlunsplit(("https", "i.imgur.com", path, parts.query, ""))
        elif not (host == "i.redd.it" or post.get("post_hint") == "image"):
            return []
        if ext in IMAGE_EXTS:
            kind = "image"
        elif ext in VIDEO_EXTS:
            kind = "video"
        else:
            return []
        return [
            MediaItem(
                url=url,
                kind=kind,
                media_id=f"{post_id}_{kind}",
                caption=caption,
                ext=ext,
                extra=self._preview_size(post),
                **base,
            )
        ]

    @staticmethod
    def _preview_source(post: dict) -> dict:
        images = (post.get("preview") or {}).get("images") or []
        source = images[0].get("source") if images and isinstance(images[0], dict) else None
        return source if isinstance(source, dict) else {}

    def _preview_size(self, post: dict) -> dict:
        source = self._preview_source(post)
        return {k: source[k] for k in ("width", "height") if source.get(k) is not None}

    def _preview(self, post: dict, media_id: str, caption: str, base: dict) -> MediaItem | None:
        url = _url(self._preview_source(post).get("url"))
        if not url:
            return None
        return MediaItem(
            url=url,
            kind="image",
            media_id=media_id,
            caption=caption,
            ext=_ext(url, "jpg"),
            extra=self._preview_size(post),
            **base,
        )
