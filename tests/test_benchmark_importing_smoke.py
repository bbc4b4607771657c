"""The import benchmark runs end to end on a tiny archive and ends with its machine-readable line.

Its targets are the benchmark's business (`make bench-import`), not this test's: a loaded CI machine
must not fail the suite.
"""

import re
import shutil

import pytest

from tests.test_benchmark_smoke import benchmark_output

LAST_LINE = re.compile(r"bench: import/unzip=(\d+\.\d+) import_total/unzip=(\d+\.\d+) peak_rss_mb=(\d+)")


@pytest.mark.skipif(not shutil.which("unzip"), reason="needs unzip (Debian)")
def test_a_tiny_import_benchmark_prints_its_figures_on_the_last_line():
    out = benchmark_output(
        ["benchmarks.importing", "--size-gb", "0.02", "--tweets", "200"],
        timeout=55,
        what="the tiny import benchmark",
    )
    last = out.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match, last
    import_ratio, total_ratio, peak_rss_mb = float(match[1]), float(match[2]), int(match[3])
    assert import_ratio > 0 and total_ratio > 0 and peak_rss_mb > 0
    assert "unzip -q -o" in out and "manage.py import_archive" in out
    # The export was checked against the archive's own bytes, not only timed.
    assert re.search(r"(\d+) of \1 media files of the archive with the same bytes", out), out
