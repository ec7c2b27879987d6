#!/usr/bin/env bash
# Hostile input: bodies over the limit (413), deeply nested JSON, huge and
# negative limit/offset, non-UTF-8 bodies and URLs, SQL in every string field
# (stored literally, read back equal), ids out of range. Pass: never a 5xx,
# the server is still alive at the end, and its log shows no panic.
#
#   bash scripts/reliability/hostile.sh BINARY [BACKEND]
# BACKEND: sqlite, postgres or both (the default: the same requests on each).
CHECK=hostile LIMIT=${LIMIT:-120}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

backends=${2:-both}
[[ $backends == both ]] && backends="sqlite postgres"
for backend in $backends; do
  echo "-- $backend"
  if [[ $backend == postgres ]]; then
    if ! pg_available; then fail "PostgreSQL is not reachable on 127.0.0.1:5432"; continue; fi
    pg_create_db; url=$PG_URL
  else
    url=$WORK/hostile.db
  fi
  log=$WORK/server-$backend.log
  start_server "$log" "$url" ROCKET_LOG_LEVEL=normal
  if ! secs=$(wait_ready 60); then
    fail "$backend: the server did not become ready"; tail -20 "$log"; continue
  fi
  info "ready in ${secs}s"
  py_checks python3 "$REL_PY" hostile --base "$BASE"
  if kill -0 "$SERVER_PID" 2>/dev/null &&
    python3 "$REL_PY" wait-ready --base "$BASE" --timeout 5 >/dev/null; then
    pass "$backend: the server (pid $SERVER_PID) is alive and ready after the hostile requests"
  else
    fail "$backend: the server died or is not ready after the hostile requests"
  fi
  if log_has_panic "$log"; then
    fail "$backend: the server log shows a panic:"; grep -i -m5 panicked "$log"
  else
    pass "$backend: no \"panicked\" in the server log ($(wc -l <"$log") lines)"
  fi
  if grep -q "500 Internal Server Error" "$log"; then
    fail "$backend: the log shows 500 responses"; grep -m5 -B3 "500 Internal" "$log"
  fi
  stop_server
done
finish
