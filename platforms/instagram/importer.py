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

import re
from collections.abc import Iterator

from platforms.facebook.dyi import META_OTHERS, MetaArchive, media_id_for, meta_time
from platforms.importer import ArchiveReader, ImportedMedia
from platforms.instagram.extractor import STORY_PREFIX

ACTIVITY = r"(?:^|/)(?:your_instagram_activity/)?(?:content|media)/"
MEDIA_FILES = re.compile(ACTIVITY + r"(posts_\d+|reels|igtv_videos|archived_posts)\.json$")
STORY_FILES = re.compile(ACTIVITY + r"stories\.json$")
# The profile: personal_information/personal_information/… (2024+), personal_information/… (2022-2023),
# account_information/personal_information.json (2021).
PROFILE_FILE = re.compile(
    r"(?:^|/)(?:personal_information/(?:personal_information/)?|account_information/)personal_information\.json$"
)
PRODUCT = {"posts": "FEED", "reels": "REELS", "igtv_videos": "IGTV", "archived_posts": "FEED"}
ACTIVITY = (
    (re.compile(ACTIVITY + r"profile_photos\.json$"), "profile_photos"),
    # Threads' posts and replies, with their photos and videos (2024+).
    (re.compile(r"(?:^|/)threads/threads_and_replies\.json$"), "threads_posts"),
    (re.compile(r"(?:^|/)comments/[^/]*\.json$"), "comments"),
    (re.compile(r"(?:^|/)likes/[^/]*\.json$"), "likes"),
    (re.compile(r"(?:^|/)saved/[^/]*\.json$"), "saved"),
    (re.compile(r"(?:^|/)(?:story_interactions|stories_interactions)/[^/]*\.json$"), "story_interactions"),
    # inbox/, message_requests/ and whatever other box a year adds: every thread's message_<n>.json.
    (re.compile(r"(?:^|/)messages/[^/]+/[^/]+/message_\d+\.json$"), "messages"),
    (re.compile(ACTIVITY + r"[^/]*\.json$"), "other_content"),
)
OTHERS = (
    *META_OTHERS,
    (re.compile(r"(?:^|/)connections/"), "your list of followers and followed accounts, not content"),
)
ig_time = meta_time


def media_id_of(uri: str) -> str:
    return media_id_for(uri)


class Importer(MetaArchive):
    slug = "instagram"
    name = "Instagram"
    article = "an"
    expected = (
        "it has no content/posts_1.json or stories.json (download your information from Instagram in JSON "
        "format, not HTML)."
    )

    activity_files = ACTIVITY
    others = OTHERS
    sensitive = (
        re.compile(r"(?:^|/)messages/"),
        re.compile(r"(?:^|/)(?:recent_searches|searches|your_topics|recently_viewed)[^/]*(?:/|\.json$)"),
    )

    def detect(self, names: list[str]) -> bool:
        # A JSON data file: the HTML form is refused with the word to download JSON (see Facebook's).
        return any(
            ("your_instagram_activity/" in n and n.endswith(".json")) or MEDIA_FILES.search(n) or STORY_FILES.search(n)
            for n in names
        )

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.start(archive)
        names = archive.namelist()
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
        yield from self.activity_records(names)
        yield from self.profile_picture(names)

    def profile_picture(self, names: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        """The profile photo personal_information.json names (`media_map_data`), when no
        profile_photos.json already gave it: its file is the person's own."""
        name = next((n for n in names if PROFILE_FILE.search(n)), None)
        data = self.load(name) if name else None
        users = (data.get("profile_user") or []) if isinstance(data, dict) else []
        photo = ((users[0] if users and isinstance(users[0], dict) else {}).get("media_map_data") or {}).get(
            "Profile Photo"
        )
        if not isinstance(photo, dict) or not photo.get("uri") or self.resolve(photo["uri"]) in self.named:
            return
        yield from self.each("profile_photos", [photo], lambda p: self.activity("profile_photos", p, {}), where=name)

    def items(self, name: str) -> list:
        data = self.load(name)
        if isinstance(data, dict):  # {"ig_stories": [...]}, {"ig_reels_media": [...]}, …
            data = next((v for v in data.values() if isinstance(v, list)), [])
        return data if isinstance(data, list) else []

    def post(self, raw: dict, product: str, *, archived: bool = False) -> tuple[dict, list[ImportedMedia]]:
        files = raw.get("media") or [raw]
        if not all(isinstance(f, dict) and f.get("uri") for f in files):
            raise ValueError("a post without the file names of its media")
        first = files[0]
        caption = raw.get("title") or first.get("title") or ""
        when = ig_time(raw.get("creation_timestamp") or first.get("creation_timestamp"))
        children = []
        for position, file in enumerate(files):
            children.append(
                {
                    "id": media_id_of(file["uri"]),
                    "media_type": self.media_type(file["uri"]),
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
        story_id = media_id_of(raw["uri"])
        record = {
            "id": story_id,
            "caption": raw.get("title") or None,
            "media_type": self.media_type(raw["uri"]),
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

    def media_type(self, uri: str) -> str:
        """The API's media_type, from the file's name or, without an extension, its bytes."""
        kind, _ = self.kind_of(uri, self.resolve(uri))
        return {"image": "IMAGE", "video": "VIDEO"}.get(kind, "UNKNOWN")

    def media(self, file: dict, media_id: str, record_id: str, when, caption: str, extra: dict) -> list[ImportedMedia]:
        for exif in ((file.get("media_metadata") or {}).get("photo_metadata") or {}).get("exif_data") or []:
            for key in ("latitude", "longitude", "date_time_original"):
                if exif.get(key) not in (None, ""):
                    extra.setdefault(key, exif[key])
        item = self.file_media(file, record_id=record_id, when=when, caption=caption, **extra)
        item.media_id = media_id
        return [item]

    def account(self, archive: ArchiveReader) -> dict | None:
        name = next((n for n in archive.namelist() if PROFILE_FILE.search(n)), None)
        if name is None:
            return None
        self.archive = archive
        data = self.load(name) or {}
        users = data.get("profile_user") or [] if isinstance(data, dict) else []
        strings = (users[0] if users and isinstance(users[0], dict) else {}).get("string_map_data") or {}

        def value(*keys: str) -> str | None:
            return next(
                ((strings.get(k) or {}).get("value") for k in keys if (strings.get(k) or {}).get("value")), None
            )

        account = {"username": value("Username"), "name": value("Name")}
        account = {k: v for k, v in account.items() if v}
        return account or None
