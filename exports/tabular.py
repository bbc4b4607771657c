"""Records as spreadsheet rows (DESIGN §2): flattened, at most 400 columns, no formulas.

A spreadsheet is where most people open the CSV, so the CSV has to stay usable there: objects
keyed by ids (Reddit's `media_metadata`) would add a column per id and per field, and anything
nested deeper than three levels is noise — both stay JSON text in one column. A cell that a
spreadsheet would run as a formula is prefixed with `'` (OWASP); the JSON keeps the value.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable

MAX_COLUMNS = 400
MAX_DEPTH = 3
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")
# A field name reads as words (`created_utc`, `mediaUrl`, `over_18`); an id is a number or a
# run of letters and digits with no word separator (`3k2f8x9yz1ab1`, `vfbvpdg07`).
_ID_LIKE = re.compile(r"\d+|(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{5,}")


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def keyed_by_ids(value: dict) -> bool:
    """True for an object whose keys are ids rather than field names."""
    if not value:
        return False
    ids = sum(
        1
        for key, inner in value.items()
        # Reddit's media_metadata repeats its key as the item's own `id`.
        if _ID_LIKE.fullmatch(str(key)) or (isinstance(inner, dict) and str(inner.get("id")) == str(key))
    )
    return ids * 2 > len(value)


def flatten(
    value, prefix: str = "", out: dict | None = None, *, depth: int = 0, whole: frozenset = frozenset()
) -> dict:
    """Nested keys joined with `.`, lists as JSON text; id-keyed objects, anything deeper than
    three levels and the prefixes in `whole` stay JSON text in one column."""
    out = {} if out is None else out
    if isinstance(value, dict):
        if prefix and (depth >= MAX_DEPTH or prefix in whole or keyed_by_ids(value)):
            out[prefix] = _json_text(value)
            return out
        for key, inner in value.items():
            flatten(inner, f"{prefix}.{key}" if prefix else str(key), out, depth=depth + 1, whole=whole)
    elif isinstance(value, list):
        out[prefix] = _json_text(value)
    else:
        out[prefix] = value
    return out


def columns_within_cap(columns: Iterable[str], *, fixed: int = 2, cap: int = MAX_COLUMNS) -> frozenset[str]:
    """The top-level fields to keep as JSON text so that the row has at most `cap` columns.

    The fields that spread over the most columns are folded first, so the common ones stay
    readable."""
    columns = list(columns)
    if len(columns) + fixed <= cap:
        return frozenset()
    spread = Counter(c.split(".", 1)[0] for c in columns if "." in c)
    total, folded = len(columns) + fixed, set()
    for top, count in spread.most_common():
        if total <= cap:
            break
        folded.add(top)
        total -= count - 1
    return frozenset(folded)


def safe_cell(value):
    """A cell as a spreadsheet will read it: formulas neutralised, numbers left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: dict) -> dict:
    return {key: safe_cell(value) for key, value in row.items()}
