"""YouTube: the user's channel, uploads, their videos' details and the user's playlists (Data API v3).

Each call depends on the one before: the channel names its uploads playlist, the playlist's items
name the videos, and videos.list takes at most 50 ids at a time. The API does not hand out the
video files themselves, so media are the thumbnails, the channel's avatar and its banner.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from platforms.base import (
    Extractor,
    ExtractorError,
    FetchContext,
    MediaItem,
    Page,
    Request,
    ext_from_url,
    iso_utc,
)

if TYPE_CHECKING:
    from platforms.client import ApiClient

API = "/youtube/v3"
MAX_RESULTS = 50  # the most any list call returns, and the most ids videos.list accepts
THUMBNAIL_SIZES = ("maxres", "standard", "high", "medium", "default")

PARTS = {
    "channels": "snippet,contentDetails,statistics,brandingSettings",
    "playlist_items": "snippet,contentDetails,status",
    "videos": "snippet,contentDetails,statistics,status",
    "playlists": "snippet,contentDetails,status",
}
PATHS = {
    "channels": f"{API}/channels",
    "playlist_items": f"{API}/playlistItems",
    "videos": f"{API}/videos",
    "playlists": f"{API}/playlists",
}

# What each endpoint costs of the project's daily units (Google's quota calculator); every list call
# costs the same whatever its parts or page size, a search costs a hundred.
UNITS = {
    f"{API}/channels": 1,
    f"{API}/playlistItems": 1,
    f"{API}/videos": 1,
    f"{API}/playlists": 1,
    f"{API}/search": 100,
}
# The daily units come back at midnight Pacific time.
QUOTA_TIMEZONE = "America/Los_Angeles"

QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
TOKEN_REASONS = frozenset({"authError", "invalidCredentials", "expiredToken"})
PERMISSION_REASONS = frozenset({"insufficientPermissions", "forbidden", "accessNotConfigured"})
GONE_REASONS = frozenset({"channelNotFound", "playlistNotFound", "videoNotFound", "notFound"})
BUSY_REASONS = frozenset({"backendError", "internalError", "serviceUnavailable"})


def best_thumbnail(thumbnails: Any) -> tuple[str, dict] | None:
    """The largest of YouTube's named thumbnail sizes that is there: (url, {size, width, height})."""
    if not isinstance(thumbnails, dict):
        return None
    for size in THUMBNAIL_SIZES:
        entry = thumbnails.get(size)
        if isinstance(entry, dict) and entry.get("url"):
            extra = {"size": size, "width": entry.get("width"), "height": entry.get("height")}
            return entry["url"], {k: v for k, v in extra.items() if v is not None}
    return None


def _reasons(body: Any) -> tuple[set[str], str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return set(), ""
    reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason")}
    return reasons, str(error.get("message") or "").strip()


class YouTubeExtractor(Extractor):
    slug = "youtube"
    resources = ("channels", "playlist_items", "videos", "playlists")
    account_resource = "channels"

    # --- parsing ----------------------------------------------------------------------------
    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        if resource not in self.resources:
            raise ExtractorError(f"YouTube has no resource {resource!r}; expected one of {', '.join(self.resources)}.")
        if isinstance(body, dict) and "error" in body:
            status = _int_or(body["error"].get("code") if isinstance(body["error"], dict) else None, 400)
            raise self.error_for(status, body, {}) or ExtractorError("YouTube answered with an error.")
        if not isinstance(body, dict):
            raise ExtractorError(
                f"The YouTube answer for {resource} is not a JSON object ({type(body).__name__}); "
                "the API may have changed or a proxy answered instead. Try the export again later."
            )
        # An empty list is sent without `items` (a channel with no playlists).
        items = body.get("items", [])
        if not isinstance(items, list):
            raise ExtractorError(f"The YouTube answer for {resource} has an `items` that is not a list.")
        following = body.get("nextPageToken")
        page = Page(next=following if isinstance(following, str) and following else None)
        for index, item in enumerate(items):
            record_id = item.get("id") if isinstance(item, dict) else None
            if not record_id or not isinstance(record_id, str):
                page.skipped.append({"record_id": f"#{index}", "reason": f"{resource} item without an id"})
                continue
            try:
                media = list(self._media(resource, item))
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                page.skipped.append({"record_id": record_id, "reason": f"unreadable {resource} item: {exc!r}"})
                continue
            page.records.append(item)
            page.media.extend(media)
        return page

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        return iso_utc((record.get("snippet") or {}).get("publishedAt"))

    def summary(self, resource: str, record: dict) -> dict[str, str]:
        # YouTube's resources carry no link of their own; the watch, playlist and channel pages are.
        found = super().summary(resource, record)
        record_id = str(record.get("id") or "")
        if resource == "videos":
            found["link"] = f"https://www.youtube.com/watch?v={record_id}"
        elif resource == "playlist_items" and _video_id(record):
            playlist = (record.get("snippet") or {}).get("playlistId") or ""
            found["link"] = f"https://www.youtube.com/watch?v={_video_id(record)}&list={playlist}"
        elif resource == "playlists":
            found["link"] = f"https://www.youtube.com/playlist?list={record_id}"
        elif resource == "channels":
            found["link"] = f"https://www.youtube.com/channel/{record_id}"
        return found

    def _media(self, resource: str, item: dict) -> Iterator[MediaItem]:
        snippet = item.get("snippet") or {}
        when = iso_utc(snippet.get("publishedAt"))
        title = snippet.get("title") or ""
        if resource == "channels":
            avatar = best_thumbnail(snippet.get("thumbnails"))
            if avatar:
                yield self._image(avatar, f"{item['id']}_avatar", item["id"], when, title)
            banner = ((item.get("brandingSettings") or {}).get("image") or {}).get("bannerExternalUrl")
            if banner:
                yield self._image((banner, {}), f"{item['id']}_banner", item["id"], when, title)
            return
        if resource == "playlist_items":
            # The item's thumbnails are its video's: keyed by the video id, the file is shared with
            # the videos record and with every playlist that holds the video.
            key = _video_id(item) or item["id"]
        else:
            key = item["id"]
        thumbnail = best_thumbnail(snippet.get("thumbnails"))
        if thumbnail:
            yield self._image(thumbnail, f"{key}_thumb", item["id"], when, title)

    @staticmethod
    def _image(found: tuple[str, dict], media_id: str, record_id: str, when: str | None, caption: str) -> MediaItem:
        url, extra = found
        ext = ext_from_url(url, "jpg")
        return MediaItem(
            url=url,
            kind="image",
            media_id=media_id,
            record_id=record_id,
            timestamp=when,
            caption=caption,
            ext=ext if ext in ("jpg", "jpeg", "png", "webp", "gif") else "jpg",
            extra=extra,
        )

    # --- requests ---------------------------------------------------------------------------
    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        if resource not in PATHS:
            raise ExtractorError(f"YouTube has no resource {resource!r}.")
        params: dict[str, str] = {"part": PARTS[resource]}
        if resource in ("channels", "playlists"):
            params["mine"] = "true"
        if resource == "playlist_items":
            playlist_id = ctx.state.get("playlist_id")
            if not playlist_id:
                return None
            params["playlistId"] = playlist_id
        if resource == "videos":
            ids = ctx.state.get("video_ids") or []
            if not ids:
                return None
            params["id"] = ",".join(ids[:MAX_RESULTS])
        else:
            params["maxResults"] = str(MAX_RESULTS)
        if cursor:
            params["pageToken"] = cursor
        return Request(url=PATHS[resource], params=params)

    quota_timezone = QUOTA_TIMEZONE

    def units_for(self, req: Request) -> int:
        path = urlsplit(req.url).path
        return next((cost for endpoint, cost in UNITS.items() if path.endswith(endpoint)), 1 if API in path else 0)

    def pages(self, client: ApiClient, ctx: FetchContext) -> Iterator[tuple[str, Page]]:
        for resource, page in self.resource_pages(client, ctx, "channels"):
            if page.records and ctx.account is None:
                ctx.account = page.records[0]
            yield resource, page
        if ctx.account is None:
            ctx.notes.append("This Google account has no YouTube channel, so there are no uploads or playlists.")
            return

        uploads = ((ctx.account.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        video_ids: list[str] = []
        if uploads:
            seen: set[str] = set()
            for resource, page in self._playlist_items(client, ctx, uploads):
                for video_id in map(_video_id, page.records):
                    if video_id and video_id not in seen:
                        seen.add(video_id)
                        video_ids.append(video_id)
                yield resource, page
        else:
            ctx.notes.append("YouTube named no uploads playlist for this channel; its videos are not listed.")

        for start in range(0, len(video_ids), MAX_RESULTS):
            ctx.state["video_ids"] = video_ids[start : start + MAX_RESULTS]
            yield from self.resource_pages(client, ctx, "videos")
        ctx.state.pop("video_ids", None)

        playlist_ids: list[str] = []
        for resource, page in self.resource_pages(client, ctx, "playlists"):
            playlist_ids.extend(r["id"] for r in page.records if r["id"] != uploads)
            yield resource, page
        for playlist_id in playlist_ids:
            yield from self._playlist_items(client, ctx, playlist_id)

    def _playlist_items(self, client: ApiClient, ctx: FetchContext, playlist_id: str) -> Iterator[tuple[str, Page]]:
        ctx.state["playlist_id"] = playlist_id
        try:
            yield from self.resource_pages(client, ctx, "playlist_items")
        finally:
            ctx.state.pop("playlist_id", None)

    # --- errors -----------------------------------------------------------------------------
    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        reasons, said = _reasons(body)
        if not reasons and not said:
            return None
        if reasons & QUOTA_REASONS:
            return ExtractorError("daily YouTube quota used up; try after midnight Pacific time", code="quota")
        if reasons & RATE_REASONS:
            return ExtractorError(
                f"YouTube asks us to slow down ({', '.join(sorted(reasons))}); the export continues after a pause.",
                retryable=True,
                code="rate_limited",
            )
        if "youtubeSignupRequired" in reasons:
            return ExtractorError(
                "This Google account has no YouTube channel yet: create one on youtube.com, then export again.",
                code="no_channel",
            )
        if reasons & TOKEN_REASONS or status == 401:
            return ExtractorError(
                "YouTube refused the stored Google token: reconnect your YouTube account and start the export again.",
                code="unauthorized",
            )
        if reasons & PERMISSION_REASONS or status == 403:
            return ExtractorError(
                f"YouTube refused access ({said or ', '.join(sorted(reasons))}): reconnect your YouTube account "
                "and allow it to view your YouTube account.",
                code="forbidden",
            )
        if reasons & GONE_REASONS or status == 404:
            return ExtractorError(f"YouTube has no such item (it may have been deleted): {said}", code="not_found")
        if reasons & BUSY_REASONS or status >= 500:
            return ExtractorError(
                f"YouTube had a temporary problem ({said or status}); trying again later should work.",
                retryable=True,
                code="busy",
            )
        return ExtractorError(f"YouTube answered {status}: {said or ', '.join(sorted(reasons))}")


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _video_id(item: dict) -> str | None:
    return ((item.get("snippet") or {}).get("resourceId") or {}).get("videoId") or (
        item.get("contentDetails") or {}
    ).get("videoId")
