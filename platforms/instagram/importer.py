"""Instagram's "Download Your Information" (Accounts Center → Your information and permissions →
Download your information, format JSON).

Layouts (a ZIP, sometimes inside one folder):
    2024+:  your_instagram_activity/content/posts_1.json (2025: …/media/posts_1.json), stories.json,
            reels.json, igtv_videos.json, archived_posts.json; the files under media/posts/<yyyymm>/,
            media/stories/…, media/reels/…; personal_information/personal_information/personal_information.json
    older:  content/posts_1.json, content/stories.json, …; media/…; personal_information/personal_information.json

A post lists its files under `media` (a carousel has several; a single photo keeps the caption and
time on the file rather than the post). A file is named after the media's id (`<id>.jpg`, or
`…_n_<id>.jpg` in older archives), the id the API gives, so imported and exported media meet.
Texts are mojibake as on Facebook and are repaired. Records take the API's shape (`media`,
`stories`); what the archive says beyond it stays under `archive`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from platforms.facebook.extractor import IMAGE_EXTS, VIDEO_EXTS
from platforms.facebook.repair import fix_mojibake
from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia
from platforms.instagram.extractor import STORY_PREFIX

ACTIVITY = r"(?:^|/)(?:your_instagram_activity/)?(?:content|media)/"
MEDIA_FILES = re.compile(ACTIVITY + r"(posts_\d+|reels|igtv_videos|archived_posts)\.json$")
STORY_FILES = re.compile(ACTIVITY + r"stories\.json$")
PROFILE_FILE = re.compile(r"(?:^|/)personal_information/(?:personal_information/)?personal_information\.json$")
PRODUCT = {"posts": "FEED", "reels": "REELS", "igtv_videos": "IGTV", "archived_posts": "FEED"}
OBJECT_ID = re.compile(r"(?:_n_|^)(\d{15,})\.\w+$")


def ig_time(timestamp) -> str | None:
    """The API's `timestamp` (`2019-04-11T15:20:51+0000`) from the archive's Unix seconds."""
    if timestamp in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _kind(uri: str) -> tuple[str, str, str] | None:
    ext = uri.rsplit(".", 1)[-1].lower() if "." in uri.rsplit("/", 1)[-1] else ""
    if ext in IMAGE_EXTS:
        return "image", "IMAGE", ext
    if ext in VIDEO_EXTS:
        return "video", "VIDEO", ext
    return None


def media_id_of(uri: str) -> str:
    match = OBJECT_ID.search(uri.rsplit("/", 1)[-1])
    return match.group(1) if match else "dyi_" + hashlib.sha1(uri.encode()).hexdigest()[:16]


class Importer(BaseImporter):
    slug = "instagram"
    name = "Instagram"
    article = "an"
    expected = (
        "it has no content/posts_1.json or stories.json (download your information from Instagram in JSON "
        "format, not HTML)."
    )

    def detect(self, names: list[str]) -> bool:
        return any("your_instagram_activity/" in n or MEDIA_FILES.search(n) or STORY_FILES.search(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        names = archive.namelist()
        data_files = [n for n in names if MEDIA_FILES.search(n) or STORY_FILES.search(n)]
        # Media URIs start at the archive's top, which is one of the data files' folders.
        self.roots = sorted({n[: i + 1] for n in data_files for i, c in enumerate(n) if c == "/"} | {""}, key=len)
        for name in sorted(n for n in names if MEDIA_FILES.search(n)):
            kind = MEDIA_FILES.search(name).group(1)
            product = PRODUCT[kind.split("_")[0] if kind.startswith("posts_") else kind]
            posts = self.items(name)
            yield from self.each(
                "media",
                posts,
                lambda p, k=kind, pr=product: self.post(p, pr, archived=k == "archived_posts"),
                where=name,
            )
        for name in sorted(n for n in names if STORY_FILES.search(n)):
            yield from self.each("stories", self.items(name), self.story, where=name)

    def items(self, name: str) -> list:
        data = fix_mojibake(self.load_json(self.archive, name))
        if isinstance(data, dict):  # {"ig_stories": [...]}, {"ig_reels_media": [...]}, …
            data = next((v for v in data.values() if isinstance(v, list)), [])
        return data if isinstance(data, list) else []

    def resolve(self, uri: str) -> str:
        # Not found: the name it should have, so the failure says which file is missing.
        return next((root + uri for root in self.roots if self.archive.exists(root + uri)), uri)

    def post(self, raw: dict, product: str, *, archived: bool = False) -> tuple[dict, list[ImportedMedia]]:
        files = raw.get("media") or [raw]
        if not all(isinstance(f, dict) and f.get("uri") for f in files):
            raise ValueError("a post without the file names of its media")
        first = files[0]
        caption = raw.get("title") or first.get("title") or ""
        when = ig_time(raw.get("creation_timestamp") or first.get("creation_timestamp"))
        children = []
        for position, file in enumerate(files):
            found = _kind(file["uri"])
            children.append(
                {
                    "id": media_id_of(file["uri"]),
                    "media_type": found[1] if found else "UNKNOWN",
                    "timestamp": ig_time(file.get("creation_timestamp")) or when,
                    "position": position,
                }
            )
        carousel = len(files) > 1
        record_id = f"carousel_{children[0]['id']}" if carousel else children[0]["id"]
        record = {
            "id": record_id,
            "caption": caption or None,
            "media_type": "CAROUSEL_ALBUM" if carousel else children[0]["media_type"],
            "media_product_type": product,
            "timestamp": when,
        }
        if carousel:
            record["children"] = {"data": [{k: v for k, v in c.items() if k != "position"} for c in children]}
        record["archive"] = {"media": files, **({"archived": True} if archived else {})}
        record = {k: v for k, v in record.items() if v is not None}
        media = []
        for child, file in zip(children, files, strict=True):
            extra = {"media_type": child["media_type"], "title": file.get("title") or None}
            if carousel:
                extra.update(carousel_id=record_id, position=child["position"])
            media.extend(self.media(file, child["id"], record_id, child["timestamp"], caption, extra))
        return record, media

    def story(self, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        found = _kind(raw["uri"])
        story_id = media_id_of(raw["uri"])
        record = {
            "id": story_id,
            "caption": raw.get("title") or None,
            "media_type": found[1] if found else "UNKNOWN",
            "media_product_type": "STORY",
            "timestamp": ig_time(raw.get("creation_timestamp")),
            "archive": {k: v for k, v in raw.items() if k not in ("title", "creation_timestamp")},
        }
        record = {k: v for k, v in record.items() if v is not None}
        extra = {"media_type": record["media_type"]}
        media = self.media(
            raw, STORY_PREFIX + story_id, story_id, record.get("timestamp"), raw.get("title") or "", extra
        )
        return record, media

    def media(self, file: dict, media_id: str, record_id: str, when, caption: str, extra: dict) -> list[ImportedMedia]:
        found = _kind(file["uri"])
        if found is None:
            return []
        kind, _, ext = found
        for exif in ((file.get("media_metadata") or {}).get("photo_metadata") or {}).get("exif_data") or []:
            for key in ("latitude", "longitude", "date_time_original"):
                if exif.get(key) not in (None, ""):
                    extra.setdefault(key, exif[key])
        return [
            ImportedMedia(
                member=self.resolve(file["uri"]),
                kind=kind,
                media_id=media_id,
                record_id=record_id,
                timestamp=f"{when[:19]}Z" if when else None,
                caption=caption,
                ext=ext,
                extra={k: v for k, v in extra.items() if v is not None},
            )
        ]

    def account(self, archive: ArchiveReader) -> dict | None:
        name = next((n for n in archive.namelist() if PROFILE_FILE.search(n)), None)
        if name is None:
            return None
        data = fix_mojibake(self.load_json(archive, name)) or {}
        users = data.get("profile_user") or [] if isinstance(data, dict) else []
        strings = (users[0] if users and isinstance(users[0], dict) else {}).get("string_map_data") or {}

        def value(*keys: str) -> str | None:
            return next(
                ((strings.get(k) or {}).get("value") for k in keys if (strings.get(k) or {}).get("value")), None
            )

        account = {"username": value("Username"), "name": value("Name")}
        account = {k: v for k, v in account.items() if v}
        return account or None
