#!/usr/bin/env bash
# Graceful shutdown while writers wait on a lock (SQLite; a variant of
# shutdown.sh). Another process holds the file write-locked (BEGIN EXCLUSIVE,
# as a backup, a VACUUM or a second instance's migration would) for 15 s. At
# t=0, 8 POSTs arrive: the writer thread takes one, which waits on the lock,
# and the rest wait in its queue. At t=2.5 s, 8 more queue. At t=3.5 s the
# server gets SIGTERM. It runs with the shipped settings: pool 8, database
# timeout 3 s, lock timeout 5 s.
# Pass: the server exits with status 0 within GRACE seconds, and no write is
# acknowledged that is not in the database.
#
# A request's database work runs on a database thread that Rocket cannot
# cancel: it may wait database_timeout (3 s) to be taken, then
# database_lock_timeout (5 s) for the lock. bookshelf raises Rocket's shutdown
# grace to outlast that (3 + 5 + 1 = 9 s with the shipped settings); with
# Rocket's own 2 s grace + 3 s mercy the shutdown failed ("outstanding
# background I/O") and the process exited 1.
#
#   bash scripts/reliability/shutdown-locked.sh BINARY
CHECK=shutdown-locked LIMIT=${LIMIT:-60}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GRACE=${GRACE:-10}
HOLD=${HOLD:-15}
db=$WORK/locked.db
log=$WORK/server.log
acked=$WORK/acked.txt
: >"$acked"
start_server "$log" "$db" ROCKET_LOG_LEVEL=normal ROCKET_DATABASE_POOL_SIZE=8 \
  ROCKET_DATABASE_TIMEOUT=3 ROCKET_DATABASE_LOCK_TIMEOUT=5000
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
info "ready in ${secs}s (pool 8, pool timeout 3 s, lock timeout 5000 ms)"
python3 "$REL_PY" hold-lock --db "$db" --seconds "$HOLD" --ready-file "$WORK/locked" \
  >"$WORK/hold.json" 2>&1 &
holder=$!
ALL_PIDS+=("$holder")
for _ in $(seq 500); do [[ -e $WORK/locked ]] && break; sleep 0.01; done
[[ -e $WORK/locked ]] || { fail "could not take the lock"; finish; }
info "t=0: the file is locked for ${HOLD}s; 8 POSTs: one waits on the lock, 7 queue"
python3 "$REL_PY" load --base "$BASE" --conns 8 --total 8 --timeout 30 --prefix a \
  --acked "$acked" >"$WORK/a.json" 2>&1 &
a=$!
ALL_PIDS+=("$a")
sleep 2.5
info "t=2.5: 8 more POSTs queue for the writer"
python3 "$REL_PY" load --base "$BASE" --conns 8 --total 8 --timeout 30 --prefix b \
  --acked "$acked" >"$WORK/b.json" 2>&1 &
b=$!
ALL_PIDS+=("$b")
sleep 1
info "t=3.5: SIGTERM"
pid=$SERVER_PID
t0=${EPOCHREALTIME/./}
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
took_ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
SERVER_PID=
took=$((took_ms / 1000)).$(printf '%03d' $((took_ms % 1000)))
[[ $status -eq 0 ]] && pass "exit status 0 after SIGTERM" ||
  fail "exit status $status after SIGTERM (log: $(grep -E 'Shutdown failed|failed to shutdown' "$log" | tr '\n' ' '))"
((took_ms <= GRACE * 1000)) && pass "exited ${took}s after SIGTERM (<= ${GRACE}s)" ||
  fail "exited ${took}s after SIGTERM (limit ${GRACE}s)"
wait "$a" "$b" || true
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
py_checks python3 "$REL_PY" sqlite-check --db "$db" --acked "$acked"
if log_has_panic "$log"; then fail "the server log shows a panic"; fi
finish
