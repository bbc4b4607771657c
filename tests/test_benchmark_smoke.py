"""The media benchmark runs end to end on tiny files and ends with its machine-readable line.

Its performance targets are the benchmark's business (`make bench`), not this test's: a loaded CI
machine must not fail the suite.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(r"bench: download/aria2c=(\d+\.\d+) archive/zip0=(\d+\.\d+) peak_rss_mb=(\d+)")


def benchmark_output(args: list[str], *, timeout: float, what: str, grace: float = 20) -> str:
    """Run `python -m ARGS` in a session of its own and return its stdout; a run past `timeout` is
    stopped with its whole session (the servers it started stop with it) and fails the test."""
    # As on a fresh machine: the benchmark brings its own token key, not the test run's.
    env = {k: v for k, v in os.environ.items() if k not in ("STAREXPORT_TOKEN_KEY", "STAREXPORT_TOKEN_KEY_FILE")}
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=grace)
        pytest.fail(f"{what} took longer than {timeout:.0f} s")
    assert proc.returncode == 0, out + err
    return out


@pytest.mark.skipif(not (shutil.which("aria2c") and shutil.which("zip")), reason="needs aria2c and zip (Debian)")
def test_a_tiny_benchmark_prints_its_figures_on_the_last_line():
    out = benchmark_output(
        [
            "benchmarks.media",
            "--files",
            "20",
            "--total-mb",
            "5",
            "--big-mb",
            "20",
            "--concurrency",
            "8",
            "--rounds",
            "1",
        ],
        timeout=50,
        what="the tiny benchmark",
    )
    last = out.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match, last
    download, archive, peak_rss_mb = float(match[1]), float(match[2]), int(match[3])
    assert download > 0 and archive > 0 and peak_rss_mb > 0
    assert "aria2c -j 8" in out and "zip -r -9" in out
