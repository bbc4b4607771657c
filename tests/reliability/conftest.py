"""Figures for docs/reliability.md: each reliability test records what it measured.

`figure(test, what, value, command)` appends one row to var/figures/<test>.json; the report
(`make reliability`) turns all rows into the table in docs/reliability.md.
"""

import json
import os
from pathlib import Path

import pytest

FIGURES = Path(os.environ.get("STAREXPORT_FIGURES_DIR", Path(__file__).resolve().parents[2] / "var" / "figures"))


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


@pytest.fixture
def figure(request):
    rows = []

    def record(what: str, value, *, does: str = "", command: str = "") -> None:
        rows.append(
            {
                "test": request.node.nodeid,
                "does": does or _first_line(request.node.function.__doc__),
                "what": what,
                "value": value,
                "command": command or f".venv/bin/python -m pytest '{request.node.nodeid}'",
            }
        )

    yield record
    if rows:
        FIGURES.mkdir(parents=True, exist_ok=True)
        name = request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
        (FIGURES / f"{name}.json").write_text(json.dumps(rows, indent=2))
