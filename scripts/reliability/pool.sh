#!/usr/bin/env bash
# Pool exhaustion (SQLite): a server with ROCKET_DATABASE_POOL_SIZE=2,
# ROCKET_DATABASE_TIMEOUT=1 (s) and ROCKET_DATABASE_LOCK_TIMEOUT=10000 (ms);
# Python's sqlite3 holds the file write-locked (BEGIN EXCLUSIVE) for HOLD (4)
# seconds while N (10) concurrent POST /books are sent, and N more 1.8 s
# later. On SQLite every write goes to bookshelf's one writer thread: the
# write it has taken waits for the lock, the others wait in its queue. Pass:
# the queued requests fail fast with 503 after database_timeout (each in
# under 2.5 s, not hanging until the lock ends), the write that waited for
# the lock commits once it is gone, GET /health stays fast, and after the
# release N concurrent POSTs all succeed within 1 s of it.
#
#   bash scripts/reliability/pool.sh BINARY
CHECK=pool LIMIT=${LIMIT:-90}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOLD=${HOLD:-4}
N=${N:-10}
db=$WORK/pool.db
log=$WORK/server.log
start_server "$log" "$db" ROCKET_LOG_LEVEL=normal ROCKET_DATABASE_POOL_SIZE=2 \
  ROCKET_DATABASE_TIMEOUT=1 ROCKET_DATABASE_LOCK_TIMEOUT=10000
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
info "ready in ${secs}s (pool 2, pool timeout 1 s, lock timeout 10000 ms)"
# Warm up: both pooled connections opened and used once.
python3 "$REL_PY" load --base "$BASE" --conns 2 --total 20 --prefix warm >/dev/null

for attempt in 1 2; do
  echo "-- round $attempt: lock held ${HOLD}s, $N + $N concurrent POST /books"
  rm -f "$WORK/locked" "$WORK/released"
  python3 "$REL_PY" hold-lock --db "$db" --seconds "$HOLD" --ready-file "$WORK/locked" \
    --release-file "$WORK/released" >"$WORK/hold-$attempt.json" 2>&1 &
  holder=$!
  ALL_PIDS+=("$holder")
  for _ in $(seq 500); do [[ -e $WORK/locked ]] && break; sleep 0.01; done
  [[ -e $WORK/locked ]] || { fail "could not take the lock"; cat "$WORK/hold-$attempt.json"; break; }
  py_checks python3 "$REL_PY" pool-probe --base "$BASE" --ready-file "$WORK/locked" \
    --release-file "$WORK/released" --seconds "$HOLD" --n "$N" --pool 2 --fail-fast 2.5 --recover 1.0
  wait "$holder" || fail "the lock holder failed: $(cat "$WORK/hold-$attempt.json")"
done
kill -0 "$SERVER_PID" 2>/dev/null && pass "the server is still running" || fail "the server died"
if log_has_panic "$log"; then fail "the server log shows a panic:"; grep -m5 -i panicked "$log"; fi
n503=$(grep -c "503 Service Unavailable" "$log" || true)
info "the server log shows $n503 answers 503"
stop_server
finish
