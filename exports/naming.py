"""Names inside the archive (DESIGN §2): safe, unique, at most 200 bytes."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 200
KIND_FOLDERS = {"image": "images", "video": "videos", "file": "files"}
UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_component(text: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """One path component: no separators, no `..`, no control characters, at most `max_bytes`."""
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    text = text or "unnamed"
    return _truncate(text, max_bytes)


def _truncate(text: str, max_bytes: int) -> str:
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore").rstrip(" .") or "unnamed"


def media_filename(*, date: str, media_id: str, ext: str) -> str:
    ext = safe_component(ext or "bin", max_bytes=16).lower()
    if media_id.lower().endswith(f".{ext}"):
        media_id = media_id[: -len(ext) - 1]  # a gist file's id already ends in its extension
    room = MAX_NAME_BYTES - len(ext.encode()) - 1
    stem = safe_component(f"{date}_{media_id}", max_bytes=room)
    return f"{stem}.{ext}"


class UniqueNames:
    """Hands out names that are unique inside one archive (case-insensitively: archives are
    unpacked on case-insensitive file systems too)."""

    def __init__(self):
        self.taken: set[str] = set()

    def claim(self, folder: str, filename: str) -> str:
        stem, dot, ext = filename.rpartition(".")
        if not dot:
            stem, ext = filename, ""
        candidate, n = filename, 1
        while f"{folder}/{candidate}".lower() in self.taken:
            n += 1
            suffix = f"-{n}"
            room = MAX_NAME_BYTES - len(suffix.encode()) - (len(ext.encode()) + 1 if ext else 0)
            candidate = _truncate(stem, room) + suffix + (f".{ext}" if ext else "")
        self.taken.add(f"{folder}/{candidate}".lower())
        return f"{folder}/{candidate}"


def media_archive_path(names: UniqueNames, *, platform: str, kind: str, timestamp: str, media_id: str, ext: str) -> str:
    folder = f"media/{KIND_FOLDERS.get(kind, 'files')}/{platform}"
    date = timestamp[:10] if timestamp and re.fullmatch(r"\d{4}-\d{2}-\d{2}", timestamp[:10]) else "undated"
    return names.claim(folder, media_filename(date=date, media_id=media_id, ext=ext))
