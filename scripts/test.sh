#!/usr/bin/env bash
# `make test`: the whole suite in two halves side by side, or the tests named in the arguments.
#
# Most of the suite waits (on real workers, the sandbox's latency, a browser, a lease running out)
# rather than computes, so two halves at once finish in a little over half the time on two CPUs.
# Each half has everything of its own: a PostgreSQL test database, two Redis databases (broker and
# cache), a var folder, its own Celery worker and sandbox (started by its session's fixtures).
#   half 1: tests/reliability, tests/browser, tests/api, tests/library and the top-level tests/test_*.py
#   half 2: everything else under tests/ (about the same time on this project's 2-CPU machine)
# Arguments that name tests (a path or a node id under tests/) run as one ordinary pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ROOT=$(pwd)

db=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/starexport}
redis=${TEST_REDIS_URL:-redis://127.0.0.1:6379/14}
cache=${TEST_CACHE_REDIS_URL:-redis://127.0.0.1:6379/15}

# The database number of a redis:// URL moved by $2 (the second half's own databases).
redis_plus() {
  local url=$1 step=$2 base number
  base=${url%/*}
  number=${url##*/}
  [[ $number =~ ^[0-9]+$ ]] || { base=$url; number=0; }
  echo "$base/$(((number + step) % 16))"
}

run() { # run NAME DB REDIS CACHE VAR pytest-args...
  local name=$1 database=$2 broker=$3 cache_url=$4 var=$5
  shift 5
  env DATABASE_URL="$database" REDIS_URL="$broker" CACHE_REDIS_URL="$cache_url" \
    STAREXPORT_VAR_DIR="$var" MEDIA_ROOT="$var/storage" \
    EMAIL_URL= AWS_STORAGE_BUCKET_NAME= STAREXPORT_SANDBOX= \
    "$PY" -m pytest "$@"
}

for arg in "$@"; do
  case $arg in
    tests | tests/* | ./tests*)
      run one "$db" "$redis" "$cache" "$ROOT/var/test" "$@"
      exit $?
      ;;
  esac
done

logs=$ROOT/var/test-logs
mkdir -p "$logs"
second_db="${db%/*}/$(basename "${db##*/}")_2"

run first "$db" "$redis" "$cache" "$ROOT/var/test" "$@" \
  tests/reliability tests/browser tests/api tests/library tests/test_*.py >"$logs/first.txt" 2>&1 &
first=$!
run second "$second_db" "$(redis_plus "$redis" 14)" "$(redis_plus "$cache" 14)" "$ROOT/var/test-2" "$@" \
  tests --ignore=tests/reliability --ignore=tests/browser --ignore=tests/api --ignore=tests/library \
  --ignore-glob='*/tests/test_*.py' \
  >"$logs/second.txt" 2>&1 &
second=$!

# Stopped (Ctrl-C, a CI timeout): both halves stop with their workers.
trap 'kill -TERM $first $second 2>/dev/null' INT TERM

wait $first
first_status=$?
wait $second
second_status=$?

echo "=== tests/reliability, tests/browser, tests/api, tests/library, tests/test_*.py ==="
cat "$logs/first.txt"
echo
echo "=== the rest of tests/ ==="
cat "$logs/second.txt"
echo
echo "make test: first half exited $first_status, second half $second_status"
# pytest exits 5 when it collected no test: that fails the run too.
[ "$first_status" -eq 0 ] && [ "$second_status" -eq 0 ]
