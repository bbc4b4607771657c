"""The library benchmark runs end to end on a small library and ends with its machine-readable line.

Its target is the benchmark's business (`make bench-library`), not this test's: a loaded CI machine
must not fail the suite.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"bench: sqlite_page_p95_ms=(\d+) sqlite_search_p95_ms=(\d+)")


def test_a_small_library_benchmark_prints_its_figures_on_the_last_line():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.library", "--records", "600", "--media", "100", "--rounds", "3"]
        + ["--databases", "sqlite"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert LAST_LINE.fullmatch(out.strip().splitlines()[-1]), out
    assert "600 records and 100 media rows of the user" in out
    for case in ("library page", "search: common word", "search: two words", "search + platform + media"):
        assert case in out
