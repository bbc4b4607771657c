"""Addresses that come from platform data or an archive are untrusted text."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


def http_url(value) -> str | None:
    """`value` when it is an http(s) URL with a host, None otherwise (`javascript:`, `data:`, any
    letter case, with or without spaces and control characters that browsers skip)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _INVISIBLE.search(text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text
