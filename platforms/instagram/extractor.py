"""Instagram: the user's posts and current stories through the Instagram API with Instagram Login.

It is a Graph API (graph.instagram.com): pages, errors and usage headers work as on Facebook.
Media URLs are signed CDN links that expire (`oe=`); `refresh_media_url` asks for a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from platforms.base import ExtractorError, FetchContext, MediaItem, Request, iso_utc
from platforms.facebook.extractor import GraphExtractor, media_ext

if TYPE_CHECKING:
    from platforms.client import ApiClient

MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,media_url,permalink,thumbnail_url,timestamp,username,"
    "children{id,media_type,media_url,permalink,thumbnail_url,timestamp}"
)
STORY_FIELDS = "id,caption,media_type,media_product_type,media_url,permalink,thumbnail_url,timestamp,username"
PROFILE_FIELDS = "id,username,account_type,media_count"
# Stories are served for professional accounts only.
STORY_ACCOUNT_TYPES = frozenset({"BUSINESS", "MEDIA_CREATOR", "CREATOR"})
STORY_PREFIX = "story_"
THUMB_SUFFIX = "_thumb"


class InstagramExtractor(GraphExtractor):
    slug = "instagram"
    name = "Instagram"
    resources = ("media", "stories")
    # The profile (/me) is not a paged resource: prepare() puts it in ctx.account.
    account_resource = None
    endpoints = {
        "media": ("/me/media", {"fields": MEDIA_FIELDS}),
        "stories": ("/me/stories", {"fields": STORY_FIELDS}),
    }

    def prepare(self, client: ApiClient, ctx: FetchContext) -> None:
        profile = self.get_node(client, "/me", PROFILE_FIELDS)
        ctx.account = profile
        account_type = str(profile.get("account_type") or "").upper()
        ctx.state["stories_allowed"] = account_type in STORY_ACCOUNT_TYPES
        if not ctx.state["stories_allowed"]:
            ctx.notes.append(
                f"Instagram shares stories only with Business and Creator accounts; this account is "
                f"{account_type or 'of an unknown type'}, so its stories are not in this export."
            )

    def request(self, resource: str, cursor: str | None, ctx: FetchContext) -> Request | None:
        if resource == "stories" and not ctx.state.get("stories_allowed", True):
            return None
        return super().request(resource, cursor, ctx)

    def summary(self, resource: str, record: dict) -> dict[str, Any]:
        kind = str(record.get("media_product_type") or record.get("media_type") or "")
        return {
            "title": "",  # a post is titled by the first line of its caption
            "text": str(record.get("caption") or ""),
            "link": str(record.get("permalink") or ""),
            "context": {"REELS": "Reel", "CAROUSEL_ALBUM": "Carousel", "VIDEO": "Video", "IMAGE": "Photo"}.get(
                kind, ""
            ),
            "resource_name": {"media": "Your posts", "stories": "Your stories"}.get(resource, ""),
        }

    def media_for(self, resource: str, record: dict) -> Iterable[MediaItem]:
        prefix = STORY_PREFIX if resource == "stories" else ""
        return self._node_media(record, str(record["id"]), prefix, iso_utc(record.get("timestamp")), record)

    def _node_media(
        self, node: dict, record_id: str, prefix: str, when: str | None, record: dict, position: int | None = None
    ) -> Iterator[MediaItem]:
        media_type = str(node.get("media_type") or "").upper()
        media_id = prefix + str(node.get("id") or f"{record_id}_{position}")
        caption = record.get("caption") or ""
        extra = {"media_type": media_type, "permalink": node.get("permalink")}
        if position is not None:
            extra.update(carousel_id=record_id, position=position)
        extra = {k: v for k, v in extra.items() if v is not None}
        if media_type == "CAROUSEL_ALBUM":
            children = (node.get("children") or {}).get("data") or []
            for index, child in enumerate(children):
                yield from self._node_media(
                    child, record_id, prefix, iso_utc(child.get("timestamp")) or when, record, index
                )
            if children:
                return
            # Without its children the album still shows its cover.
            media_type = "IMAGE"
        url = node.get("media_url")
        if media_type == "VIDEO":
            if url:
                yield MediaItem(
                    url=url,
                    kind="video",
                    media_id=media_id,
                    record_id=record_id,
                    timestamp=when,
                    caption=caption,
                    ext=media_ext(url, "video"),
                    extra=extra,
                )
            poster = node.get("thumbnail_url")
            if poster:
                yield MediaItem(
                    url=poster,
                    kind="image",
                    media_id=media_id + THUMB_SUFFIX,
                    record_id=record_id,
                    timestamp=when,
                    caption=caption,
                    ext=media_ext(poster, "image"),
                    extra=extra,
                )
        elif url:
            yield MediaItem(
                url=url,
                kind="image",
                media_id=media_id,
                record_id=record_id,
                timestamp=when,
                caption=caption,
                ext=media_ext(url, "image"),
                extra=extra,
            )

    def refresh_media_url(self, client: ApiClient, media_id: str, record_id: str) -> str | None:
        """Ask for the media object again: its media_url (or thumbnail_url) comes freshly signed."""
        object_id = media_id.removeprefix(STORY_PREFIX)
        wants_poster = object_id.endswith(THUMB_SUFFIX)
        object_id = object_id.removesuffix(THUMB_SUFFIX)
        if not object_id.isdigit():
            # A child without an id of its own: nothing to ask for by id.
            return None
        try:
            node = self.get_node(client, f"/{object_id}", "id,media_type,media_url,thumbnail_url")
        except ExtractorError as exc:
            if exc.code in ("not_found", "forbidden", "graph_error"):
                # Deleted since, or a story past its 24 hours: there is no fresh URL to be had.
                return None
            raise
        url = node.get("thumbnail_url") if wants_poster else node.get("media_url")
        return url or None
