"""The web benchmark runs end to end on a short run and ends with its machine-readable line.

Whether p99 stays under its target is the benchmark's business (`make bench-web`), not this
test's: a loaded CI machine must not fail the suite.
"""

import re
import shutil

import pytest
from django.conf import settings

from tests.test_benchmark_smoke import benchmark_output

FIGURES = re.compile(r"(sqlite|postgresql)_(finished|running)_(p99_ms|rps|errors)=([\d.]+)")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (Debian)")
def test_a_short_web_benchmark_prints_each_databases_figures_on_the_last_line():
    db = settings.DATABASES["default"]
    login = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    server = f"postgres://{login}@{db['HOST']}:{db['PORT']}/postgres"
    out = benchmark_output(
        [
            "benchmarks.web",
            "--seconds",
            "1",
            "--postgres-url",
            server,
            "--redis-url",
            settings.CACHES["default"]["LOCATION"],
        ],
        timeout=120,
        what="the short web benchmark",
        grace=30,
    )
    last = out.strip().splitlines()[-1]
    assert last.startswith("bench-web: "), last
    figures = {(m[1], m[2], m[3]): float(m[4]) for m in FIGURES.finditer(last)}
    assert len(figures) == 12, last
    for (database, job, name), value in figures.items():
        if name == "errors":
            assert value == 0, (database, job)
        else:
            assert value > 0, (database, job, name)
    assert "SQLite" in out and "PostgreSQL, Redis cache" in out
