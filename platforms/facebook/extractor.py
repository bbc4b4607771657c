"""Facebook: the user's posts, uploaded photos and uploaded videos through the Graph API.

The Graph API parts Instagram shares with Facebook (page shape, error bodies, usage headers) live
here as `GraphExtractor`; Instagram's extractor builds on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

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

GRAPH_VERSION = "v21.0"
PAGE_LIMIT = 25

IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic"})
VIDEO_EXTS = frozenset({"mp4", "mov", "webm", "m4v"})

# https://developers.facebook.com/docs/graph-api/overview/rate-limiting: application, user, page
# and business-use-case throttling all answer with one of these codes.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
# Above this share of the hourly budget we slow down, reaching SLOWEST_PAUSE at 100%.
SLOW_FROM_PERCENT = 75.0
SLOWEST_PAUSE = 60.0


def media_ext(url: str, kind: str) -> str:
    """The URL's extension when it names a media type of that kind (a CDN's `safe_image.php` does not)."""
    ext = ext_from_url(url)
    if kind == "video":
        return ext if ext in VIDEO_EXTS else "mp4"
    return ext if ext in IMAGE_EXTS else "jpg"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def graph_error(platform: str, status: int, body: Any) -> ExtractorError | None:
    """A Graph API error body (`{"error": {"code", "error_subcode", "message"}}`) as an ExtractorError."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    # Meta's messages end with a full stop of their own; ours follows, so drop theirs.
    said = str(error.get("message") or error.get("error_user_msg") or "no message").strip().rstrip(".")
    if code == 190:
        return ExtractorError(
            f"{platform} says the token expired: reconnect your {platform} account", code="unauthorized"
        )
    if code in RATE_LIMIT_CODES:
        return ExtractorError(
            f"{platform} rate limit reached (error {code}): {said}. The export continues after a pause.",
            retryable=True,
            code="rate_limited",
        )
    if code in TRANSIENT_CODES or error.get("is_transient") is True:
        return ExtractorError(
            f"{platform} had a temporary problem (error {code}): {said}. Trying again later should work.",
            retryable=True,
            code="busy",
        )
    if code in PERMISSION_CODES:
        return ExtractorError(
            f"{platform} did not allow this read (error {code}): {said}. "
            f"Reconnect your {platform} account and grant every permission it asks for.",
            code="forbidden",
        )
    if code == 100 and subcode == 33:
        return ExtractorError(f"{platform} has no such object (it may have been deleted): {said}", code="not_found")
    return ExtractorError(
        f"{platform} answered {status} (error {code}): {said}",
        retryable=status >= 500,
        code="busy" if status >= 500 else "graph_error",
    )


def _usage_entries(value: Any) -> Iterator[dict]:
    """X-App-Usage is one object; X-Business-Use-Case-Usage maps business ids to lists of them."""
    if isinstance(value, dict):
        if any(isinstance(v, int | float) for v in value.values()):
            yield value
        else:
            for nested in value.values():
                yield from _usage_entries(nested)
    elif isinstance(value, list):
        for nested in value:
            yield from _usage_entries(nested)


def usage_wait(headers: dict | None) -> float:
    """Seconds to pause so that the hourly usage Meta reports in its headers never reaches 100%."""
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    highest = 0.0
    regain_minutes = 0.0
    for name in ("x-app-usage", "x-business-use-case-usage", "x-ad-account-usage"):
        raw = lowered.get(name)
        if not raw:
            continue
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            continue
        for entry in _usage_entries(parsed):
            for key in ("call_count", "total_time", "total_cputime", "acc_id_util_pct"):
                number = entry.get(key)
                if isinstance(number, int | float):
                    highest = max(highest, float(number))
            regain = entry.get("estimated_time_to_regain_access")
            if isinstance(regain, int | float):
                regain_minutes = max(regain_minutes, float(regain))
    if regain_minutes > 0:
        return regain_minutes * 60
    if highest < SLOW_FROM_PERCENT:
        return 0.0
    share = min(highest - SLOW_FROM_PERCENT, 100 - SLOW_FROM_PERCENT) / (100 - SLOW_FROM_PERCENT)
    return round(max(1.0, share * SLOWEST_PAUSE), 1)


class GraphExtractor(Extractor):
    """What Facebook's and Instagram's Graph APIs have in common."""

    name = ""  # the platform as a person names it, for messages
    # resource -> (path below the version, query params for the first page)
    endpoints: dict[str, tuple[str, dict[str, str]]] = {}

    # --- parsing ----------------------------------------------------------------------------
    def parse(self, resource: str, body: Any, headers: dict | None = None) -> Page:
        if resource not in self.resources:
            raise ExtractorError(
                f"{self.name} has no resource {resource!r}; expected one of {', '.join(self.resources)}."
            )
        if isinstance(body, dict) and "error" in body:
            raise graph_error(self.name, 400, body) or ExtractorError(f"{self.name} answered with an error.")
        if not isinstance(body, dict):
            raise ExtractorError(
                f"The {self.name} answer for {resource} is not a JSON object ({type(body).__name__}); "
                "the API may have changed or a proxy answered instead. Try the export again later."
            )
        if "data" in body:
            items = body["data"]
            if not isinstance(items, list):
                raise ExtractorError(f"The {self.name} answer for {resource} has a `data` that is not a list.")
            paging = body.get("paging")
            following = paging.get("next") if isinstance(paging, dict) else None
            page = Page(next=following if isinstance(following, str) and following else None)
        elif body.get("id"):
            # One node asked for by id (a single Post) is one record.
            items = [body]
            page = Page()
        else:
            raise ExtractorError(
                f"The {self.name} answer for {resource} has neither a `data` list nor an object id; "
                "it is not a page this export can read."
            )
        for index, item in enumerate(items):
            record_id = item.get("id") if isinstance(item, dict) else None
            if not record_id or not isinstance(record_id, str | int):
                page.skipped.append({"record_id": f"#{index}", "reason": f"{resource} item without an id"})
                continue
            try:
                media = _once_each(self.media_for(resource, item))
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                page.skipped.append({"record_id": str(record_id), "reason": f"unreadable {resource} item: {exc!r}"})
                continue
            page.records.append(item)
            page.media.extend(media)
        return page

    def media_for(self, resource: str, record: dict) -> Iterable[MediaItem]:
        raise NotImplementedError

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        return iso_utc(record.get("created_time") or record.get("timestamp"))

    # --- requests ---------------------------------------------------------------------------
    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        if cursor and cursor.startswith(("http://", "https://")):
            return Request(url=cursor)
        try:
            path, params = self.endpoints[resource]
        except KeyError:
            raise ExtractorError(f"{self.name} has no resource {resource!r}.") from None
        params = {**params, "limit": str(PAGE_LIMIT)}
        if cursor:
            params["after"] = cursor
        return Request(url=f"/{GRAPH_VERSION}{path}", params=params)

    def error_for(self, status: int, body: Any, headers: dict) -> ExtractorError | None:
        return graph_error(self.name, status, body)

    def wait_seconds(self, headers: dict) -> float:
        return usage_wait(headers)

    def get_node(self, client: ApiClient, path: str, fields: str) -> dict:
        body = client.json(client.get(Request(url=f"/{GRAPH_VERSION}{path}", params={"fields": fields})))
        if not isinstance(body, dict) or not body.get("id"):
            raise ExtractorError(f"{self.name} answered {path} without an object id; try the export again later.")
        return body


def _once_each(items: Iterable[MediaItem]) -> list[MediaItem]:
    """A record lists each file once, however many attachments point at it."""
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.url and item.media_id not in seen:
            seen.add(item.media_id)
            kept.append(item)
    return kept


def _best_image(images: Any) -> dict | None:
    """The largest rendition (by area) of a Photo's `images` list."""
    candidates = [i for i in images or [] if isinstance(i, dict) and i.get("source")]
    return max(candidates, key=lambda i: (_int(i.get("width")) or 0) * (_int(i.get("height")) or 0), default=None)


PHOTO_ATTACHMENT_TYPES = frozenset({"photo", "album", "new_album", "cover_photo", "profile_media"})

POST_FIELDS = (
    "id,message,story,created_time,updated_time,permalink_url,status_type,full_picture,"
    "attachments{media_type,type,title,description,url,target,media,subattachments}"
)
PHOTO_FIELDS = "id,images,album{id,name},name,created_time,updated_time,link,width,height"
VIDEO_FIELDS = (
    "id,source,picture,thumbnails{uri,width,height,is_preferred},title,description,"
    "created_time,updated_time,length,permalink_url"
)


class FacebookExtractor(GraphExtractor):
    slug = "facebook"
    name = "Facebook"
    resources = ("posts", "photos", "videos")
    # The profile (/me) is not a paged resource: prepare() puts it in ctx.account.
    account_resource = None
    endpoints = {
        "posts": ("/me/posts", {"fields": POST_FIELDS}),
        "photos": ("/me/photos", {"type": "uploaded", "fields": PHOTO_FIELDS}),
        "videos": ("/me/videos", {"type": "uploaded", "fields": VIDEO_FIELDS}),
    }

    def prepare(self, client: ApiClient, ctx: FetchContext) -> None:
        ctx.account = self.get_node(client, "/me", "id,name")

    def pages(self, client: ApiClient, ctx: FetchContext) -> Iterator[tuple[str, Page]]:
        self.prepare(client, ctx)
        # A photo in a post is also one of the uploaded photos, under the same media id. Uploads
        # come first so that the file is first seen with its full-size rendition, not the post's
        # 720-pixel one.
        for resource in ("photos", "videos", "posts"):
            yield from self.resource_pages(client, ctx, resource)

    def summary(self, resource: str, record: dict) -> dict[str, Any]:
        # A post has no title of its own: the viewer titles it by the first line of its words.
        link = str(record.get("permalink_url") or record.get("link") or "")
        album = record.get("album") if isinstance(record.get("album"), dict) else {}
        return {
            "title": str(record.get("title") or "") if resource == "videos" else "",
            "text": str(
                record.get("message") or record.get("story") or record.get("name") or record.get("description") or ""
            ),
            "link": f"https://www.facebook.com{link}" if link.startswith("/") else link,
            "context": f"Album: {album['name']}" if album.get("name") else "",
            "resource_name": {"posts": "Your posts", "photos": "Your photos", "videos": "Your videos"}.get(
                resource, ""
            ),
        }

    def media_for(self, resource: str, record: dict) -> Iterable[MediaItem]:
        if resource == "posts":
            return self._post_media(record)
        if resource == "photos":
            return self._photo_media(record)
        return self._video_media(record)

    def _post_media(self, post: dict) -> Iterator[MediaItem]:
        record_id = str(post["id"])
        when = iso_utc(post.get("created_time"))
        caption = post.get("message") or post.get("story") or ""
        for index, attachment in enumerate((post.get("attachments") or {}).get("data") or []):
            parts = (attachment.get("subattachments") or {}).get("data") or []
            if parts:
                for position, part in enumerate(parts):
                    yield from self._attachment_media(part, record_id, when, caption, f"{record_id}_{index}_{position}")
            else:
                yield from self._attachment_media(attachment, record_id, when, caption, f"{record_id}_{index}")

    def _attachment_media(
        self, attachment: dict, record_id: str, when: str | None, caption: str, fallback_id: str
    ) -> Iterator[MediaItem]:
        kind = str(attachment.get("media_type") or "").lower()
        shape = str(attachment.get("type") or "").lower()
        media = attachment.get("media") or {}
        image = media.get("image") or {}
        # target.id is the Photo's (or Video's) own id, the same id /me/photos and /me/videos give.
        media_id = str((attachment.get("target") or {}).get("id") or fallback_id)
        text = caption or attachment.get("description") or attachment.get("title") or ""
        extra = {"attachment_type": shape or kind, "width": image.get("width"), "height": image.get("height")}
        extra = {k: v for k, v in extra.items() if v is not None}
        if kind == "video" or shape.startswith("video"):
            source = media.get("source")
            if source:
                yield MediaItem(
                    url=source,
                    kind="video",
                    media_id=media_id,
                    record_id=record_id,
                    timestamp=when,
                    caption=text,
                    ext=media_ext(source, "video"),
                )
            if image.get("src"):
                yield MediaItem(
                    url=image["src"],
                    kind="image",
                    media_id=f"{media_id}_thumb",
                    record_id=record_id,
                    timestamp=when,
                    caption=text,
                    ext=media_ext(image["src"], "image"),
                    extra=extra,
                )
        elif (kind in PHOTO_ATTACHMENT_TYPES or shape in PHOTO_ATTACHMENT_TYPES) and image.get("src"):
            yield MediaItem(
                url=image["src"],
                kind="image",
                media_id=media_id,
                record_id=record_id,
                timestamp=when,
                caption=text,
                ext=media_ext(image["src"], "image"),
                extra=extra,
            )

    def _photo_media(self, photo: dict) -> Iterator[MediaItem]:
        best = _best_image(photo.get("images"))
        if best is None:
            return
        album = photo.get("album") or {}
        extra = {
            "width": _int(best.get("width")),
            "height": _int(best.get("height")),
            "album_id": album.get("id"),
            "album_name": album.get("name"),
        }
        yield MediaItem(
            url=best["source"],
            kind="image",
            media_id=str(photo["id"]),
            record_id=str(photo["id"]),
            timestamp=iso_utc(photo.get("created_time")),
            caption=photo.get("name") or "",
            ext=media_ext(best["source"], "image"),
            extra={k: v for k, v in extra.items() if v is not None},
        )

    def _video_media(self, video: dict) -> Iterator[MediaItem]:
        record_id = str(video["id"])
        when = iso_utc(video.get("created_time"))
        caption = video.get("description") or video.get("title") or ""
        source = video.get("source")
        if source:
            extra = {"duration_s": video.get("length"), "title": video.get("title")}
            yield MediaItem(
                url=source,
                kind="video",
                media_id=record_id,
                record_id=record_id,
                timestamp=when,
                caption=caption,
                ext=media_ext(source, "video"),
                extra={k: v for k, v in extra.items() if v is not None},
            )
        poster = _best_poster(video)
        if poster:
            url, extra = poster
            yield MediaItem(
                url=url,
                kind="image",
                media_id=f"{record_id}_thumb",
                record_id=record_id,
                timestamp=when,
                caption=caption,
                ext=media_ext(url, "image"),
                extra=extra,
            )


def _best_poster(video: dict) -> tuple[str, dict] | None:
    """The largest of a video's thumbnails (the preferred one on a tie), else its `picture`."""
    thumbnails = [t for t in (video.get("thumbnails") or {}).get("data") or [] if isinstance(t, dict) and t.get("uri")]
    if thumbnails:
        best = max(
            thumbnails,
            key=lambda t: ((_int(t.get("width")) or 0) * (_int(t.get("height")) or 0), bool(t.get("is_preferred"))),
        )
        extra = {"width": _int(best.get("width")), "height": _int(best.get("height"))}
        return best["uri"], {k: v for k, v in extra.items() if v is not None}
    if video.get("picture"):
        return video["picture"], {}
    return None
