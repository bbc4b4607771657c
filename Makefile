# Star Export — the two commands of the README, and a few more.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PY := .venv/bin/python

# Tests run against the real services: PostgreSQL, Redis (a database of their own), real workers.
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/starexport} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/14} CACHE_REDIS_URL=$${TEST_CACHE_REDIS_URL:-redis://127.0.0.1:6379/15} \
	STAREXPORT_VAR_DIR=$(CURDIR)/var/test MEDIA_ROOT=$(CURDIR)/var/test/storage \
	EMAIL_URL= AWS_STORAGE_BUCKET_NAME= STAREXPORT_SANDBOX=

.PHONY: setup demo test test-fast bench bench-export bench-import bench-web bench-library lint reliability

setup: .venv/.installed

.venv/.installed: pyproject.toml uv.lock Makefile
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	uv sync --frozen --python python3 --compile-bytecode
	@touch $@

demo: setup
	bash scripts/demo.sh

# The whole suite in two halves side by side (scripts/test.sh), or the tests PYTEST_ARGS names.
test: setup
	bash scripts/services.sh
	bash scripts/test.sh $(PYTEST_ARGS)

test-fast: setup
	$(TEST_ENV) $(PY) -m pytest -m "not pipeline and not browser" $(PYTEST_ARGS)

# The whole reliability suite, load tests included, and the long runs marked `load` elsewhere,
# then docs/reliability.md from its figures.
reliability: setup
	bash scripts/services.sh
	$(TEST_ENV) $(PY) -m pytest tests/reliability -m "load or not load" $(PYTEST_ARGS); status=$$?; \
	$(TEST_ENV) $(PY) -m pytest tests -m load --ignore=tests/reliability $(PYTEST_ARGS); other=$$?; \
	[ $$other -eq 5 ] && other=0; \
	$(PY) scripts/reliability_report.py; [ $$status -eq 0 ] && exit $$other; exit $$status

bench: setup
	$(PY) -m benchmarks.media $(BENCH_ARGS)

# manage.py export --media end to end against aria2c + zip -0 and a thread pool + zipfile.
bench-export: setup
	$(PY) -m benchmarks.export $(BENCH_ARGS)

bench-import: setup
	$(PY) -m benchmarks.importing $(BENCH_ARGS)

# status.json under wrk on SQLite and PostgreSQL (both servers started as for the tests).
bench-web: setup
	bash scripts/services.sh
	$(PY) -m benchmarks.web $(BENCH_ARGS)

# The library page and search with 100,000 records, on PostgreSQL (a throw-away database on the
# test server) and on SQLite.
bench-library: setup
	bash scripts/services.sh
	BENCH_POSTGRES=$${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432} $(PY) -m benchmarks.library $(BENCH_ARGS)

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
