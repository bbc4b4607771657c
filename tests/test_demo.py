"""`make demo` as a newcomer runs it: it prints the archive and the URL, and Ctrl-C stops every
process it started within 10 seconds."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.pipeline


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_ctrl_c_stops_the_whole_demo_within_ten_seconds():
    env = {**os.environ, "SANDBOX_PORT": str(free_port()), "WEB_PORT": str(free_port()), "DEBUG": "false"}
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 600
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Open http://") or time.monotonic() > deadline:
                break
        assert any(line.startswith("Open http://") for line in lines), "".join(lines)
        archive = lines[lines.index("Export finished. The archive:\n") + 1].strip()
        assert archive.endswith(".zip") and Path(archive).exists()

        started = descendants(demo.pid)
        assert len(started) >= 3  # sandbox, worker (and its pool), web (and its workers)
        began = time.monotonic()
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=15)
        while running(started) and time.monotonic() - began < 12:
            time.sleep(0.2)
        stopped_after = time.monotonic() - began
        assert not running(started), f"still running after {stopped_after:.1f} s: {running(started)}"
        assert stopped_after < 10
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in running(descendants(demo.pid)):
            os.kill(pid, signal.SIGKILL)
