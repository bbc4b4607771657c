"""The whole-export benchmark runs end to end on a tiny export and ends with its machine-readable line.

Its performance targets are the benchmark's business (`make bench-export`), not this test's: a
loaded CI machine must not fail the suite.
"""

import re
import shutil

import pytest

from tests.test_benchmark_smoke import benchmark_output

LAST_LINE = re.compile(
    r"bench: export/aria2c_zip=(\d+\.\d+)@(\d+) export/pool=(\d+\.\d+)@(\d+) cpu_per_file/aria2c=(\d+\.\d+)"
)


@pytest.mark.skipif(not (shutil.which("aria2c") and shutil.which("zip")), reason="needs aria2c and zip (Debian)")
def test_a_tiny_export_benchmark_prints_its_figures_on_the_last_line():
    out = benchmark_output(
        ["benchmarks.export", "--scales", "8:0", "--rounds", "1", "--latency-ms", "5"],
        timeout=120,
        what="the tiny export benchmark",
    )
    last = out.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match, last
    ratio, files, pool, pool_files, cpu = match.groups()
    # Every client fetched the same files, and each of them is counted.
    assert int(files) == int(pool_files) > 0
    assert float(ratio) > 0 and float(pool) > 0 and float(cpu) > 0
    for client in ("ours: manage.py export --media", "aria2c -j 8 + zip -0", "pool: 8 threads + zipfile"):
        assert client in out, out
    assert "cpu ms/f" in out and "requests" in out
