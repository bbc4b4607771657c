"""What a file really is, from its first bytes: shared by the downloader and the importers."""

from __future__ import annotations

import puremagic

MIME_EXT = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "application/zip": "zip",
    "application/gzip": "gz",
    "application/pdf": "pdf",
}
EXT_MIME = {ext: mime for mime, ext in MIME_EXT.items()}
WEB_FILE_EXTS = ("html", "htm", "xml", "svg", "xhtml")


def sniff(head: bytes) -> tuple[str, str]:
    """(ext, mime) of a file from its first bytes; ("", "") when unknown."""
    stripped = head.lstrip()[:64].lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")):
        return "html", "text/html"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov", "video/quicktime"
        return "mp4", "video/mp4"
    if head.startswith(b"PK\x03\x04"):
        return "zip", "application/zip"
    try:
        mime = puremagic.from_string(head, mime=True)
    except puremagic.PureError:
        mime = ""
    if mime in MIME_EXT:
        return MIME_EXT[mime], mime
    try:
        head.decode("utf-8")
        return "txt", "text/plain"
    except UnicodeDecodeError:
        return "", mime or ""


def format_aliases(allowed: list[str]) -> set[str]:
    names = set(allowed)
    if "jpg" in names or "jpeg" in names:
        names |= {"jpg", "jpeg"}
    return names


def size_text(n: float) -> str:
    """A size as people read it: `512 bytes`, `1.5 MB`."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def size_from_rate(bits_per_second, seconds) -> int | None:
    """A video's size implied by its bit rate and duration (None when either is missing)."""
    try:
        size = float(bits_per_second) * float(seconds) / 8
    except (TypeError, ValueError):
        return None
    return int(size) if size > 0 and size == size and size < 1e15 else None
