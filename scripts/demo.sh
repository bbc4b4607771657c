#!/usr/bin/env bash
# `make demo`: sandbox + worker + web on the embedded defaults (SQLite, a filesystem broker, local
# storage, console email), the demo user, and one export that completes. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SANDBOX_PORT=${SANDBOX_PORT:-8765}
WEB_PORT=${WEB_PORT:-8000}
DEMO_PLATFORM=${DEMO_PLATFORM:-github}

# Embedded defaults only: whatever the shell has for a real installation is not used here.
unset DATABASE_URL REDIS_URL AWS_STORAGE_BUCKET_NAME EMAIL_URL STAREXPORT_VAR_DIR MEDIA_ROOT
export STAREXPORT_SANDBOX="http://127.0.0.1:${SANDBOX_PORT}"
export SITE_URL="http://127.0.0.1:${WEB_PORT}"
# As in production: no debug pages (static files come from whitenoise either way).
export DEBUG=${DEBUG:-false}
mkdir -p var/log

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$SANDBOX_PORT" "$WEB_PORT"; do
  if port_busy "$port"; then
    echo "Port $port is in use. Stop what runs there, or choose others: make demo SANDBOX_PORT=... WEB_PORT=..." >&2
    exit 1
  fi
done

echo "Preparing the database and static files..."
# A secret key of this install's own, and the key its OAuth tokens are encrypted with, both made
# on the first run and kept in var/ (settings read var/token.key by themselves).
if [ ! -s var/secret.key ]; then
  (umask 077 && $PY -c "import secrets; print(secrets.token_urlsafe(64))" >var/secret.key)
fi
export SECRET_KEY_FILE="$PWD/var/secret.key"
$PY manage.py token_key -v0 >/dev/null
$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0

# Each process runs in a session of its own (setsid), so stopping its group also stops the
# children it started (the worker's pool, gunicorn's workers). Ctrl-C asks politely, and whatever
# is still running 8 seconds later (a worker finishing a task: tasks resume after a restart) is
# killed, so the demo is gone within 10 seconds.
pids=()
alive() { for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && return 0; done; return 1; }
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "Stopping sandbox, worker and web..."
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do alive || break; sleep 0.2; done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap cleanup EXIT INT TERM

setsid $PY manage.py sandbox --port "$SANDBOX_PORT" >var/log/sandbox.log 2>&1 &
pids+=($!)
setsid .venv/bin/celery -A starexport worker -B -l INFO --concurrency 2 --without-heartbeat --without-gossip \
  --scheduler celery.beat:PersistentScheduler -s var/celerybeat-schedule >var/log/worker.log 2>&1 &
pids+=($!)
setsid .venv/bin/gunicorn starexport.wsgi -b "127.0.0.1:${WEB_PORT}" -w 2 --access-logfile var/log/web-access.log \
  >var/log/web.log 2>&1 &
pids+=($!)

wait_for() {
  for _ in $(seq 1 100); do
    if $PY -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not answer; see var/log/" >&2
  return 1
}
wait_for "${STAREXPORT_SANDBOX}/_health"
wait_for "${SITE_URL}/"

password=$($PY manage.py demo_setup 2>/dev/null | sed -n 's/^password: //p')
echo "Running a ${DEMO_PLATFORM} export through the worker..."
archive=$($PY manage.py export --user demo --platform "$DEMO_PLATFORM" --media --format json,csv --queue | tail -n 1)

echo
echo "Export finished. The archive:"
echo "$archive"
echo
echo "Open ${SITE_URL}/ and sign in as demo with password ${password}"
echo "(logs in var/log/; emails, with their download links, in var/log/worker.log; press Ctrl-C to stop)"
wait
