"""Meta's text repairs, shared by the Facebook and Instagram importers (both archives come from
Meta's "Download Your Information")."""

from __future__ import annotations

import re
from typing import Any

# One UTF-8 sequence written as Latin-1 characters: a lead byte (U+00C2–U+00F4) and its
# continuation bytes (U+0080–U+00BF).
GARBLED = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]{1,3}")


def _repair_run(match: re.Match) -> str:
    text = match.group(0)
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text


def fix_mojibake(value: Any) -> Any:
    """Meta writes UTF-8 text as if each byte were a Latin-1 character ("Ã¸" for "ø"), in every
    string of every file: keys, names, captions, messages. Each garbled sequence is undone where it
    decodes as UTF-8, so a string that mixes it with text Meta wrote correctly (an emoji escaped
    as \\ud83d\\ude00, say) is repaired too; text that was not garbled is kept."""
    if isinstance(value, str):
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            return GARBLED.sub(_repair_run, value)
        except UnicodeDecodeError:
            return value
    if isinstance(value, list):
        return [fix_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k): fix_mojibake(v) for k, v in value.items()}
    return value
