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
from datetime import UTC, datetime

from platforms.facebook.extractor import IMAGE_EXTS, VIDEO_EXTS
from platforms.facebook.repair import fix_mojibake
from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia

POSTS_FILES = re.compile(r"(?:^|/)posts/your_posts[^/]*\.json$")
ALBUM_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/album/\d+\.json$")
UNCATEGORIZED_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/your_uncategori[sz]ed_photos\.json$")
VIDEO_FILES = re.compile(r"(?:^|/)(?:posts|photos_and_videos)/your_videos\.json$")
PROFILE_FILE = re.compile(r"(?:^|/)profile_information/profile_information\.json$")
MARKERS = re.compile(r"(?:^|/)(?:your_facebook_activity|your_activity_across_facebook)/")
# Facebook names a file after its CDN name and appends the object's id: `…_n_498092266878953.jpg`;
# a second file of the same id gets ` (2)`.
OBJECT_ID = re.compile(r"_n_(\d+)(?: \((\d+)\))?\.\w+$")


def fb_time(timestamp) -> str | None:
    """Graph API time (`2012-12-06T14:45:14+0000`) from the archive's Unix seconds."""
    if timestamp in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def media_kind(uri: str) -> tuple[str, str] | None:
    ext = uri.rsplit(".", 1)[-1].lower() if "." in uri.rsplit("/", 1)[-1] else ""
    if ext in IMAGE_EXTS:
        return "image", ext
    if ext in VIDEO_EXTS:
        return "video", ext
    return None


def object_id(uri: str) -> str | None:
    match = OBJECT_ID.search(uri)
    if not match:
        return None
    return match.group(1) + (f"_{match.group(2)}" if match.group(2) else "")


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


class Importer(BaseImporter):
    slug = "facebook"
    name = "Facebook"
    expected = (
        "it has no posts/your_posts…json (download your information from Facebook in JSON format, "
        "not HTML, with Posts selected)."
    )

    def detect(self, names: list[str]) -> bool:
        return any(POSTS_FILES.search(n) or MARKERS.search(n) or PROFILE_FILE.search(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        names = archive.namelist()
        # Media URIs are relative to the archive's top, which may be wrapped in one folder.
        self.roots = ["", *sorted({n.split("/", 1)[0] + "/" for n in names if "/" in n})]
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

    def load(self, name: str):
        return fix_mojibake(self.load_json(self.archive, name))

    def resolve(self, uri: str) -> str | None:
        if not uri or uri.startswith(("http://", "https://")):
            return None
        # Not found: the name it should have, so the failure says which file is missing.
        return next((root + uri for root in self.roots if self.archive.exists(root + uri)), uri)

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
        found = self.media_items(item, record_id, when, caption, fallback_id=f"{record_id}_{len(media)}")
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
        photo_id = object_id(uri) or "dyi_" + hashlib.sha1(uri.encode()).hexdigest()[:16]
        record = {
            "id": photo_id,
            "created_time": fb_time(raw.get("creation_timestamp")),
            "name": raw.get("description") or None,
            "album": {"name": album.get("name")} if album.get("name") else None,
            "archive": {k: v for k, v in raw.items() if k not in ("creation_timestamp", "description")},
        }
        record = {k: v for k, v in record.items() if v is not None}
        media = self.media_items(raw, photo_id, record.get("created_time"), raw.get("description") or "", photo_id)
        if album.get("name"):
            for item in media:
                item.extra["album_name"] = album["name"]
        return record, media

    def video(self, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        uri = raw["uri"]
        video_id = object_id(uri) or "dyi_" + hashlib.sha1(uri.encode()).hexdigest()[:16]
        record = {
            "id": video_id,
            "created_time": fb_time(raw.get("creation_timestamp")),
            "title": raw.get("title") or None,
            "description": raw.get("description") or None,
            "archive": {k: v for k, v in raw.items() if k not in ("creation_timestamp", "description", "title")},
        }
        record = {k: v for k, v in record.items() if v is not None}
        caption = raw.get("description") or raw.get("title") or ""
        return record, self.media_items(raw, video_id, record.get("created_time"), caption, video_id)

    # --- media -----------------------------------------------------------------------------
    def media_items(self, item: dict, record_id: str, when, caption: str, fallback_id: str) -> list[ImportedMedia]:
        uri = item.get("uri") or ""
        found = media_kind(uri)
        if found is None:
            return []
        kind, ext = found
        media_id = object_id(uri) or fallback_id
        extra = {"title": item.get("title"), "description": item.get("description"), **_metadata(item)}
        items = [
            ImportedMedia(
                member=self.resolve(uri),
                kind=kind,
                media_id=media_id,
                record_id=record_id,
                timestamp=_iso(when),
                caption=caption or item.get("description") or "",
                ext=ext,
                extra={k: v for k, v in extra.items() if v not in (None, "")},
            )
        ]
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
                    timestamp=_iso(when),
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
        data = fix_mojibake(self.load_json(archive, name)) or {}
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


def _iso(when: str | None) -> str | None:
    if not when:
        return None
    return f"{when[:19]}Z"
