"""X (Twitter) API v2: the user's own timeline, with the photos, videos and GIFs of each post."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

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

TIMELINE_LIMIT = 3200
TWEET_FIELDS = (
    "created_at,public_metrics,entities,attachments,conversation_id,in_reply_to_user_id,referenced_tweets,lang"
)
MEDIA_FIELDS = "url,preview_image_url,type,variants,width,height,alt_text,duration_ms"
USER_FIELDS = "created_at,description,location,profile_image_url,protected,public_metrics,url,verified"


def _header(headers: dict, name: str) -> str | None:
    name = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)


def original_image(url: str) -> tuple[str, str]:
    """The URL of an image at the size it was uploaded (`name=orig`), and its extension.

    pbs.twimg.com writes the format either in the path (`X.jpg?name=small`) or in the query
    (`X?format=png&name=small`); both accept `name=orig`.
    """
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "name"]
    fmt = next((v for k, v in query if k == "format"), "")
    ext = ext_from_url(url) or fmt.lower() or "jpg"
    query.append(("name", "orig"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), ext


def best_mp4(variants: Any) -> dict | None:
    """The highest-bitrate MP4 variant; HLS playlists (m3u8) are not a file to keep."""
    mp4s = [
        v
        for v in variants or []
        if isinstance(v, dict) and v.get("content_type") == "video/mp4" and isinstance(v.get("url"), str)
    ]
    return max(mp4s, key=lambda v: v.get("bit_rate") or 0, default=None)


def _error_detail(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body or "")[:200]
    if body.get("detail") or body.get("title"):
        return str(body.get("detail") or body.get("title"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("detail") or first.get("message") or first.get("title") or "")
    return ""


class TwitterExtractor(Extractor):
    slug = "twitter"
    resources = ("tweets",)
    # /2/users/me is read in prepare(); the timeline is the only paged resource.
    account_resource = None

    # --- requests -------------------------------------------------------------------------
    def prepare(self, client: ApiClient, ctx: FetchContext) -> None:
        body = client.json(client.get(Request(url="/2/users/me", params={"user.fields": USER_FIELDS})))
        user = body.get("data") if isinstance(body, dict) else None
        if not isinstance(user, dict) or not user.get("id"):
            detail = _error_detail(body)
            raise ExtractorError(
                f"X did not say which account the token belongs to{f' ({detail})' if detail else ''}. "
                "Reconnect your X account.",
                code="unauthorized",
            )
        ctx.state["user_id"] = str(user["id"])
        ctx.account = user

    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        if resource not in self.resources:
            raise ExtractorError(f"X has no resource {resource!r} here; expected one of {', '.join(self.resources)}.")
        user_id = ctx.state.get("user_id")
        if not user_id:
            raise ExtractorError("The X user id is unknown; prepare() must run before paging.")
        params: dict[str, Any] = {
            "max_results": 100,
            "tweet.fields": TWEET_FIELDS,
            "expansions": "attachments.media_keys",
            "media.fields": MEDIA_FIELDS,
        }
        if cursor:
            params["pagination_token"] = cursor
        return Request(url=f"/2/users/{user_id}/tweets", params=params)

    def resource_pages(self, client: ApiClient, ctx: FetchContext, resource: str) -> Iterator[tuple[str, Page]]:
        oldest: str | None = None
        count = 0
        for item in super().resource_pages(client, ctx, resource):
            for record in item[1].records:
                moment = self.record_timestamp(resource, record)
                if moment and (oldest is None or moment < oldest):
                    oldest = moment
            count += len(item[1].records)
            yield item
        # The timeline endpoint stops at the newest 3,200 posts however far back an account goes.
        ctx.state["reached_back_to"] = oldest
        reached = f"back to {oldest[:10]}" if oldest else "no posts at all"
        ctx.notes.append(
            f"X's API gives only the most recent {TIMELINE_LIMIT:,} posts of a timeline; this export has "
            f"{count:,} posts, reaching {reached}. For older posts, import the archive X lets you download "
            "(Settings → Your account → Download an archive of your data)."
        )

    def wait_seconds(self, headers: dict) -> float:
        # X's reset is an epoch time in seconds.
        try:
            remaining = int(float(_header(headers, "x-rate-limit-remaining") or "1"))
            reset = float(_header(headers, "x-rate-limit-reset") or 0)
        except ValueError:
            return 0.0
        if remaining > 0:
            return 0.0
        return max(0.0, reset - time.time()) + 1

    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        detail = _error_detail(body)
        kind = str(body.get("type", "")) if isinstance(body, dict) else ""
        if status == 401:
            return ExtractorError(
                f"X refused the stored token (401 {detail or 'Unauthorized'}). Reconnect your X account and "
                "start the export again.",
                code="unauthorized",
            )
        if status == 403:
            if isinstance(body, dict) and body.get("reason") == "client-not-enrolled":
                message = (
                    "X refused this app (403 client-not-enrolled): the operator's X app must belong to a "
                    "Project with API v2 access to read timelines."
                )
            else:
                message = (
                    f"X refused access (403 {detail or 'Forbidden'}). Reconnect your X account and allow reading posts."
                )
            return ExtractorError(message, code="forbidden")
        if status == 404:
            return ExtractorError(f"X has no such user (404 {detail}). Reconnect your X account.", code="not_found")
        if status == 429:
            if "usage-capped" in kind:
                return ExtractorError(
                    f"The X app's monthly post cap is used up ({detail}); exports work again when it resets.",
                    code="quota",
                )
            reset = _header(headers, "x-rate-limit-reset")
            when = ""
            if reset and reset.isdigit():
                when = f" until {datetime.fromtimestamp(int(reset), tz=UTC).strftime('%H:%M')} UTC"
            return ExtractorError(
                f"X's rate limit is used up{when}; the export tries again after it resets.",
                retryable=True,
                code="rate_limited",
            )
        if status >= 500:
            return ExtractorError(
                f"X kept answering {status} (its servers are busy); try again later.", retryable=True, code="busy"
            )
        if status == 400:
            return ExtractorError(f"X rejected the request (400): {detail}", code="bad_request")
        return None

    # --- parsing --------------------------------------------------------------------------
    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        if not isinstance(body, dict):
            raise ExtractorError(
                f"X's {resource} answer is not a JSON object ({type(body).__name__}); the answer may have been "
                "cut off. Try the export again."
            )
        tweets = body.get("data", [])
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        if "data" not in body and not meta:
            detail = _error_detail(body)
            raise ExtractorError(
                f"X's {resource} answer has no posts and no paging information"
                f"{f': {detail}' if detail else ''}. Try the export again; reconnect the account if it persists."
            )
        if not isinstance(tweets, list):
            raise ExtractorError(f"X's {resource} answer has `data` that is not a list of posts.")

        includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
        media = includes.get("media") if isinstance(includes.get("media"), list) else []
        media_by_key = {m["media_key"]: m for m in media if isinstance(m, dict) and isinstance(m.get("media_key"), str)}
        page = Page(next=text_cursor(meta.get("next_token")))
        for tweet in tweets:
            if not isinstance(tweet, dict) or not tweet.get("id"):
                page.skipped.append({"record_id": "", "reason": f"a post without an id: {str(tweet)[:80]}"})
                continue
            try:
                keys = (tweet.get("attachments") or {}).get("media_keys") or []
                joined = [media_by_key[k] for k in keys if k in media_by_key]
                record = {**tweet, "media": joined}
                media = self.media_for(record)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                page.skipped.append({"record_id": str(tweet["id"]), "reason": f"unreadable attachments: {exc!r}"})
                continue
            page.records.append(record)
            page.media.extend(media)
        return page

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        return iso_utc(record.get("created_at"))

    def summary(self, resource: str, record: dict) -> dict[str, Any]:
        """A post is its text (titled by its first line, the viewer's default) with its entities
        as links: t.co links shown as the address they stand for, @names and #tags to X."""
        text = str(record.get("text") or "")
        spans: list[tuple[int, int, str, str]] = []  # start, end, href, the words shown instead
        entities = record.get("entities") if isinstance(record.get("entities"), dict) else {}
        for kind, make in (
            ("urls", lambda e: (e.get("expanded_url") or e.get("url"), e.get("display_url"))),
            ("mentions", lambda e: (f"https://x.com/{quote(str(e.get('username') or ''))}", None)),
            ("hashtags", lambda e: (f"https://x.com/hashtag/{quote(str(e.get('tag') or ''))}", None)),
            ("cashtags", lambda e: (f"https://x.com/search?q=%24{quote(str(e.get('tag') or ''))}", None)),
        ):
            for entity in entities.get(kind) or []:
                start, end = (entity.get("start"), entity.get("end")) if isinstance(entity, dict) else (None, None)
                if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
                    href, shown = make(entity)
                    if isinstance(href, str) and href.startswith(("http://", "https://")):
                        spans.append((start, end, href, shown if isinstance(shown, str) and shown else ""))
        words, links, at = [], [], 0
        size = 0
        for start, end, href, shown in sorted(spans):
            if start < at:
                continue  # overlapping entities: the first one wins
            words.append(text[at:start])
            size += start - at
            shown = shown or text[start:end]
            words.append(shown)
            links.append((size, size + len(shown), href))
            size += len(shown)
            at = end
        words.append(text[at:])
        record_id = str(record.get("id") or "")
        return {
            "title": "",
            "text": "".join(words),
            "links": links,
            "link": f"https://x.com/i/web/status/{quote(record_id)}" if record_id else "",
            "context": "Reply" if record.get("in_reply_to_user_id") else "",
            "resource_name": {"tweets": "Your posts", "deleted_tweets": "Deleted posts"}.get(resource, ""),
        }

    # --- media ----------------------------------------------------------------------------
    def media_for(self, record: dict) -> list[MediaItem]:
        base = {
            "record_id": str(record["id"]),
            "timestamp": self.record_timestamp("tweets", record),
            "caption": record.get("text") or "",
        }
        found: list[MediaItem] = []
        for media in record.get("media") or []:
            key = str(media["media_key"])
            extra = {
                k: media[k] for k in ("type", "width", "height", "duration_ms", "alt_text") if media.get(k) is not None
            }
            if media.get("type") == "photo":
                if media.get("url"):
                    url, ext = original_image(media["url"])
                    found.append(MediaItem(url=url, kind="image", media_id=key, ext=ext, extra=extra, **base))
                continue
            # Videos and animated GIFs: X serves a GIF as an MP4, so both are kept as video.
            variant = best_mp4(media.get("variants"))
            if variant:
                video_extra = {**extra, "bit_rate": variant.get("bit_rate")}
                size = size_from_rate(variant.get("bit_rate"), (media.get("duration_ms") or 0) / 1000)
                found.append(
                    MediaItem(
                        url=variant["url"],
                        kind="video",
                        media_id=key,
                        ext="mp4",
                        extra=video_extra,
                        expected_size=size,
                        **base,
                    )
                )
            if media.get("preview_image_url"):
                url, ext = original_image(media["preview_image_url"])
                poster = {k: v for k, v in extra.items() if k in ("width", "height", "alt_text")}
                poster["preview_of"] = key
                found.append(MediaItem(url=url, kind="image", media_id=f"{key}_preview", ext=ext, extra=poster, **base))
        unique: dict[str, MediaItem] = {}
        for item in found:
            unique.setdefault(item.media_id, item)
        return list(unique.values())
