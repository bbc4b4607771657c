"""Meta's text repairs, shared by the Facebook and Instagram importers (both archives come from
Meta's "Download Your Information")."""

from __future__ import annotations

from typing import Any


def fix_mojibake(value: Any) -> Any:
    """Meta writes UTF-8 text as if each byte were a Latin-1 character ("Ã¸" for "ø"). Undo that
    wherever the round trip works; text that does not round-trip was not garbled and is kept."""
    if isinstance(value, str):
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value
    if isinstance(value, list):
        return [fix_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k): fix_mojibake(v) for k, v in value.items()}
    return value
