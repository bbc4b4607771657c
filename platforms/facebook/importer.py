"""Facebook's "Download Your Information" (Accounts Center → Your information and permissions →
Download your information, format JSON).

Layouts (a ZIP, split into several parts for big accounts, sometimes inside one folder):
    2024+:  your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json
            your_facebook_activity/posts/album/<n>.json, your_uncategorized_photos.json, your_videos.json
            your_facebook_activity/posts/media/<album folder>/<file>
            personal_information/profile_information/profile_information.json
    older:  posts/your_posts_1.json, posts/album/<n>.json (or photos_and_videos/…), posts/media/…,
            profile_information/profile_information.json

Every text is mojibake (UTF-8 bytes written as Latin-1 characters) and is repaired. Posts carry no
id of their own; photos and videos do, at the end of their file name (`…_n_<id>.jpg`), which is
the id the Graph API gives them, so a photo imported here is the same media as one exported
through the API. Records take the Graph API's shapes (posts, photos, videos); what the archive says
beyond them stays under `archive`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

from platforms.facebook.dyi import META_OTHERS, MetaArchive, file_id, iso_z, media_id_for, meta_time
from platforms.importer import ArchiveReader, ImportedMedia

POSTS_FILES = re.compile(r"(?:^|/)posts/your_posts[^/]*\.json$")
ALBUM_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/album/\d+\.json$")
UNCATEGORIZED_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/your_uncategori[sz]ed_photos\.json$")
VIDEO_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/your_videos\.json$")
PROFILE_FILE = re.compile(r"(?:^|/)profile_information/profile_information\.json$")
MARKERS = re.compile(r"(?:^|/)(?:your_facebook_activity|your_activity_across_facebook)/")
# The activity files read as records of their own (any year's folder: `your_facebook_activity/…`,
# or at the top in older archives).
ACTIVITY = (
    (re.compile(r"(?:^|/)stories/[^/]*\.json$"), "stories"),
    (re.compile(r"(?:^|/)(?:facebook_)?reels?/[^/]*\.json$|(?:^|/)posts/[^/]*reels?[^/]*\.json$"), "reels"),
    (re.compile(r"(?:^|/)comments(?:_and_reactions)?/[^/]*comments[^/]*\.json$"), "comments"),
    # likes_and_reactions/posts_and_comments.json and pages.json (to 2024), likes_and_reactions_1.json (2024+)
    (re.compile(r"(?:^|/)likes_and_reactions/[^/]*\.json$|(?:^|/)comments_and_reactions/[^/]*(?:likes|reactions)"
                r"[^/]*\.json$"), "reactions"),
    (re.compile(r"(?:^|/)saved_items_and_collections/[^/]*\.json$"), "saved"),
    (re.compile(r"(?:^|/)groups/[^/]*(?:posts|comments)[^/]*\.json$"), "group_posts"),
    (re.compile(r"(?:^|/)events/[^/]*\.json$"), "events"),
    # Live broadcasts, their videos beside them (`live_videos/AQM….mp4`, 2024+).
    (re.compile(r"(?:^|/)live_videos/[^/]*\.json$"), "live_videos"),
    # inbox/, archived_threads/, filtered_threads/, message_requests/, e2ee_cutover/, and whatever
    # other box a year adds: every thread's message_<n>.json.
    (re.compile(r"(?:^|/)messages/[^/]+/[^/]+/message_\d+\.json$"), "messages"),
    (re.compile(r"(?:^|/)posts/[^/]*\.json$"), "other_posts"),
)  # fmt: skip
OTHERS = (
    *META_OTHERS,
    (re.compile(r"(?:^|/)(?:connections|friends_and_followers|friends)/"), "your list of connections, not content"),
    (re.compile(r"(?:^|/)messages/[^/]*\.json$"), "message settings, not messages"),
)
fb_time = meta_time


def object_id(uri: str) -> str | None:
    return file_id(uri)


def _metadata(media: dict) -> dict:
    """What the archive says about a photo or video besides its file: EXIF, capture time."""
    extra = {}
    for key in ("photo_metadata", "video_metadata"):
        for exif in ((media.get("media_metadata") or {}).get(key) or {}).get("exif_data") or []:
            for field in ("taken_timestamp", "latitude", "longitude", "camera_make", "camera_model", "iso"):
                if exif.get(field) not in (None, "", 0):
                    extra.setdefault(field, exif[field])
    if "taken_timestamp" in extra:
        extra["taken_time"] = fb_time(extra.pop("taken_timestamp"))
    return extra


class Importer(MetaArchive):
    slug = "facebook"
    name = "Facebook"
    activity_files = ACTIVITY
    others = OTHERS
    sensitive = (
        re.compile(r"(?:^|/)messages/"),
        re.compile(r"(?:^|/)(?:search|your_search_history)[^/]*(?:/|\.json$)"),
    )
    expected = (
        "it has no posts/your_posts…json (download your information from Facebook in JSON format, "
        "not HTML, with Posts selected)."
    )

    def detect(self, names: list[str]) -> bool:
        # A JSON data file: the HTML form (Meta's default) holds the same folders of .html pages,
        # which no importer reads; it is refused with the word to download JSON, not imported empty.
        return any(
            n.endswith(".json") and (POSTS_FILES.search(n) or MARKERS.search(n) or PROFILE_FILE.search(n))
            for n in names
        )

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.start(archive)
        names = archive.namelist()
        # Photos and videos first, as the extractor does, so that a file is first seen as the
        # upload it is rather than as a post's attachment.
        for name in sorted(n for n in names if ALBUM_FILES.search(n) or UNCATEGORIZED_FILES.search(n)):
            data = self.load(name)
            album = data if isinstance(data, dict) else {}
            photos = album.get("photos") or album.get("other_photos_v2") or album.get("other_photos") or []
            yield from self.each("photos", photos, lambda p, a=album: self.photo(p, a), where=name)
        for name in sorted(n for n in names if VIDEO_FILES.search(n)):
            data = self.load(name)
            videos = (data.get("videos_v2") or data.get("videos") or []) if isinstance(data, dict) else []
            yield from self.each("videos", videos, self.video, where=name)
        for name in sorted(n for n in names if POSTS_FILES.search(n)):
            data = self.load(name)
            if isinstance(data, dict):  # some years wrapped the list: {"status_updates_v2": [...]}
                data = next((v for v in data.values() if isinstance(v, list)), [])
            yield from self.each("posts", data, self.post, where=name)
        yield from self.activity_records(names)

    # --- records ---------------------------------------------------------------------------
    def post(self, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        created = fb_time(raw["timestamp"])
        if created is None:
            raise ValueError("a post without a timestamp")
        digest = hashlib.sha1(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]
        post_id = f"dyi_{raw['timestamp']}_{digest}"
        texts = [d["post"] for d in raw.get("data") or [] if isinstance(d, dict) and d.get("post")]
        updated = [
            d["update_timestamp"] for d in raw.get("data") or [] if isinstance(d, dict) and d.get("update_timestamp")
        ]
        record: dict = {"id": post_id, "created_time": created}
        if updated:
            record["updated_time"] = fb_time(max(updated))
        if texts:
            record["message"] = "\n\n".join(t.strip("\n") for t in texts)
        if raw.get("title"):
            record["story"] = raw["title"]
        attachments, media = [], []
        caption = record.get("message") or record.get("story") or ""
        for part in (d for a in raw.get("attachments") or [] for d in a.get("data") or []):
            if part.get("media"):
                attachments.append(self.media_attachment(part["media"], post_id, created, caption, media))
            elif part.get("note"):
                note = part["note"]
                attachments.append({"type": "note", "title": note.get("title"), "description": note.get("text")})
                for item in note.get("media") or []:
                    attachments.append(self.media_attachment(item, post_id, created, caption, media))
            elif part.get("external_context"):
                context = part["external_context"]
                attachments.append({"type": "share", "url": context.get("url"), "title": context.get("name")})
            elif part.get("place"):
                record["place"] = part["place"]
            elif part.get("event"):
                attachments.append({"type": "event", "title": part["event"].get("name"), "archive": part["event"]})
            else:
                attachments.append({"type": "other", "archive": part})
        if attachments:
            record["attachments"] = {"data": [{k: v for k, v in a.items() if v not in (None, "")} for a in attachments]}
        rest = {k: v for k, v in raw.items() if k not in ("timestamp", "data", "title", "attachments")}
        if rest:
            record["archive"] = rest
        return record, media

    def media_attachment(self, item: dict, record_id: str, when: str, caption: str, media: list) -> dict:
        uri = item.get("uri") or ""
        found = self.media_items(item, record_id, when, caption)
        media.extend(found)
        kind = found[0].kind if found else "photo"
        attachment = {
            "media_type": "video" if kind == "video" else "photo",
            "type": "video_inline" if kind == "video" else "photo",
            "title": item.get("title"),
            "description": item.get("description"),
            "created_time": fb_time(item.get("creation_timestamp")),
            "archive_uri": uri,
        }
        if found:
            attachment["target"] = {"id": found[0].media_id}
        return attachment

    def photo(self, raw: dict, album: dict) -> tuple[dict, list[ImportedMedia]]:
        uri = raw["uri"]
        photo_id = media_id_for(uri)
        record = {
            "id": photo_id,
            "created_time": fb_time(raw.get("creation_timestamp")),
            "name": raw.get("description") or None,
            "album": {"name": album.get("name")} if album.get("name") else None,
            "archive": {k: v for k, v in raw.items() if k not in ("creation_timestamp", "description")},
        }
        record = {k: v for k, v in record.items() if v is not None}
        media = self.media_items(raw, photo_id, record.get("created_time"), raw.get("description") or "")
        if album.get("name"):
            for item in media:
                item.extra["album_name"] = album["name"]
        return record, media

    def video(self, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        uri = raw["uri"]
        video_id = media_id_for(uri)
        record = {
            "id": video_id,
            "created_time": fb_time(raw.get("creation_timestamp")),
            "title": raw.get("title") or None,
            "description": raw.get("description") or None,
            "archive": {k: v for k, v in raw.items() if k not in ("creation_timestamp", "description", "title")},
        }
        record = {k: v for k, v in record.items() if v is not None}
        caption = raw.get("description") or raw.get("title") or ""
        return record, self.media_items(raw, video_id, record.get("created_time"), caption)

    # --- media -----------------------------------------------------------------------------
    def media_items(self, item: dict, record_id: str, when, caption: str) -> list[ImportedMedia]:
        uri = item.get("uri") or ""
        if not uri or uri.startswith(("http://", "https://")):
            return []
        extra = {"title": item.get("title"), "description": item.get("description"), **_metadata(item)}
        first = self.file_media(
            item, record_id=record_id, when=when, caption=caption or item.get("description") or "", **extra
        )
        kind, media_id = first.kind, first.media_id
        items = [first]
        poster = (item.get("thumbnail") or {}).get("uri") or ""
        if kind == "video" and poster:
            # The poster is a file in older archives and a CDN URL in newer ones.
            is_url = poster.startswith(("http://", "https://"))
            items.append(
                ImportedMedia(
                    member=None if is_url else self.resolve(poster),
                    url=poster if is_url else "",
                    kind="image",
                    media_id=f"{media_id}_thumb",
                    record_id=record_id,
                    timestamp=iso_z(when),
                    caption=caption,
                    ext="jpg",
                    extra={"poster_of": media_id},
                )
            )
        return items

    def account(self, archive: ArchiveReader) -> dict | None:
        name = next((n for n in archive.namelist() if PROFILE_FILE.search(n)), None)
        if name is None:
            return None
        self.archive = archive
        data = self.load(name) or {}
        profile = data.get("profile_v2") or data.get("profile") or {}
        full_name = (profile.get("name") or {}).get("full_name")
        account = {
            "name": full_name,
            "username": profile.get("username"),
            "archive": {"registration_time": fb_time(profile.get("registration_timestamp"))},
        }
        account["archive"] = {k: v for k, v in account["archive"].items() if v}
        account = {k: v for k, v in account.items() if v}
        return account if account.get("name") else None
