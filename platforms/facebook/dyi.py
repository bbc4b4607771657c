"""What Facebook's and Instagram's "Download Your Information" archives share: how a media file's
name gives the platform's id, how a file's kind is known (from its bytes when its name has no
extension), the mojibake repair of every file, and the reading of the many activity files
(comments, reactions, saved items, messages, groups, events…) that have no API resource of their own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from platforms.facebook.extractor import IMAGE_EXTS, VIDEO_EXTS
from platforms.facebook.repair import fix_mojibake
from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia
from platforms.mediatypes import sniff

# The forms a media file's name took over the years, each ending in the object's id:
# `…_n_<id>.jpg`, `…_o_<id>.jpg`, `<album>/<id>.jpg`, `videos/<id>.mp4`; a second file of the
# same id gets ` (2)`. Instagram writes some videos without an extension.
FILE_ID = re.compile(r"(?:_[no]_(\d+)|^(\d{5,}))(?: \((\d+)\))?(?:\.\w{2,5})?$")
# What both archives hold that is not the person's content, and why it is not read.
META_OTHERS = (
    (re.compile(r"(?:^|/)security_and_login_information/"), "sign-in records, not content"),
    (re.compile(r"(?:^|/)ads_information/"), "what Meta records for ads, not content"),
    (re.compile(r"(?:^|/)(?:apps_and_websites_off_of_\w+|logged_information)/"),
     "activity Meta logged about you, not content"),
    (re.compile(r"(?:^|/)preferences/"), "settings, not content"),
    (re.compile(r"(?:^|/)personal_information/"), "profile details; the name and username are the account"),
    (re.compile(r"\.html?$"), "a page of Meta's viewer, not data"),
)  # fmt: skip
TIME_KEYS = ("timestamp", "creation_timestamp", "timestamp_ms", "taken_timestamp", "start_timestamp")
AUDIO_EXTS = frozenset({"mp3", "m4a", "aac", "wav", "ogg", "opus"})


def file_id(uri: str) -> str | None:
    """The platform's id of the object a media file holds, from any of the names Meta gave it."""
    match = FILE_ID.search(uri.rsplit("/", 1)[-1])
    if not match:
        return None
    return (match.group(1) or match.group(2)) + (f"_{match.group(3)}" if match.group(3) else "")


def media_id_for(uri: str) -> str:
    """The platform's id, or one made from the file's own name, so that the same file reached from
    two records is one media item."""
    return file_id(uri) or "dyi_" + hashlib.sha1(uri.encode()).hexdigest()[:16]


def ext_of(uri: str) -> str:
    last = uri.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1].lower() if "." in last else ""


def meta_time(timestamp) -> str | None:
    """Graph API time (`2012-12-06T14:45:14+0000`) from the archive's Unix seconds (or ms)."""
    try:
        value = float(timestamp)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    if value > 1e11:  # milliseconds (messages)
        value /= 1000
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def iso_z(when: str | None) -> str | None:
    return f"{when[:19]}Z" if when else None


def first_time(item: Any) -> str | None:
    """The moment an activity item was made: its own time key, or its first part's."""
    if isinstance(item, dict):
        for key in TIME_KEYS:
            if item.get(key) not in (None, "", 0):
                return meta_time(item[key])
        for value in item.values():
            if isinstance(value, dict | list):
                found = first_time(value)
                if found:
                    return found
    elif isinstance(item, list):
        for value in item[:5]:
            found = first_time(value)
            if found:
                return found
    return None


def uris(item: Any) -> Iterator[dict]:
    """Every file an item names (`{"uri": "…"}` anywhere inside it), in order."""
    if isinstance(item, dict):
        if isinstance(item.get("uri"), str) and item["uri"]:
            yield item
        for key, value in item.items():
            if key != "uri" and isinstance(value, dict | list):
                yield from uris(value)
    elif isinstance(item, list):
        for value in item:
            yield from uris(value)


def entries(data: Any) -> list:
    """The entries of an activity file: its list, or every list its object holds, one level down
    too (`{"event_responses_v2": {"events_joined": [...], "events_declined": [...]}}`)."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return []
    found = []
    for value in data.values():
        if isinstance(value, list):
            found.extend(value)
        elif isinstance(value, dict):
            found.extend(v for inner in value.values() if isinstance(inner, list) for v in inner)
    return found or ([data] if data else [])


class MetaArchive(BaseImporter):
    """The reading both Meta importers share. Subclasses set `activity_files`:
    (pattern, resource) for the data files read as activity records."""

    activity_files: tuple[tuple[re.Pattern, str], ...] = ()

    def start(self, archive: ArchiveReader) -> None:
        self.archive = archive
        names = archive.namelist()
        # Media URIs start at the archive's top, which may be wrapped in one or two folders.
        tops = set()
        for name in names:
            parts = name.split("/", 2)
            if len(parts) > 1:
                tops.add(parts[0] + "/")
            if len(parts) > 2:
                tops.add(f"{parts[0]}/{parts[1]}/")
        self.roots = ["", *sorted(tops, key=len)]
        # The members the records so far named as their files, present or not.
        self.named: set[str] = set()

    def load(self, name: str) -> Any:
        """A data file, its mojibake repaired in every string."""
        return fix_mojibake(self.load_json(self.archive, name))

    def resolve(self, uri: str) -> str:
        # Not found: the name it should have, so the failure says which file is missing.
        return next((root + uri for root in self.roots if self.archive.exists(root + uri)), uri)

    def kind_of(self, uri: str, member: str) -> tuple[str, str]:
        """(kind, ext) of a file: from its name, or from its first bytes when the name has no
        extension (Instagram's videos); an absent file without one is listed as a video."""
        ext = ext_of(uri)
        if ext in IMAGE_EXTS:
            return "image", ext
        if ext in VIDEO_EXTS:
            return "video", ext
        if ext in AUDIO_EXTS:
            return "file", ext
        if self.archive.exists(member):
            with self.archive.open(member) as f:
                found, mime = sniff(f.read(4096))
            if mime.startswith("image/"):
                return "image", found
            if mime.startswith("video/"):
                return "video", found
            return "file", found or ext
        return ("video" if not ext else "file"), ext

    def file_media(self, file: dict, *, record_id: str, when: str | None, caption: str, **extra) -> ImportedMedia:
        uri = file["uri"]
        member = self.resolve(uri)
        self.named.add(member)
        kind, ext = self.kind_of(uri, member)
        return ImportedMedia(
            member=member,
            kind=kind,
            media_id=media_id_for(uri),
            record_id=record_id,
            timestamp=iso_z(when),
            caption=caption,
            ext=ext,
            extra={k: v for k, v in extra.items() if v not in (None, "")},
        )

    # --- activity files ---------------------------------------------------------------------
    def activity_records(self, names: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        """Every activity file, all records of one resource in a row."""
        for pattern, resource in self.activity_files:
            for name in sorted(n for n in names if pattern.search(n) and n not in self.used):
                if not self.wanted(name):
                    continue
                data = self.load(name)
                if isinstance(data, dict) and isinstance(data.get("messages"), list):
                    thread = name.rsplit("/", 2)[-2]
                    people = [p.get("name") for p in data.get("participants") or [] if isinstance(p, dict)]
                    context = {"thread": thread, "thread_title": data.get("title"), "participants": people}
                    yield from self.each(
                        resource, data["messages"], lambda m, c=context, r=resource: self.activity(r, m, c), where=name
                    )
                    continue
                yield from self.each(resource, entries(data), lambda i, r=resource: self.activity(r, i, {}), where=name)

    def activity(self, resource: str, item: Any, context: dict) -> tuple[dict, list[ImportedMedia]]:
        if not isinstance(item, dict):
            raise ValueError("an entry that is not an object")
        when = first_time(item)
        digest = hashlib.sha1(json.dumps([context, item], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        record_id = f"{resource}_{digest[:16]}"
        text = next((item[k] for k in ("content", "title", "name", "message", "description") if item.get(k)), "")
        record: dict = {"id": record_id, "created_time": when}
        if text:
            record["message"] = text
        record["archive"] = {**({"context": context} if context else {}), **item}
        record = {k: v for k, v in record.items() if v is not None}
        media = [
            self.file_media(f, record_id=record_id, when=when, caption=text if isinstance(text, str) else "")
            for f in uris(item)
            if not f["uri"].startswith(("http://", "https://"))
        ]
        return record, media
