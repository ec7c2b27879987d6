#!/usr/bin/env bash
# Crash (SQLite): ROUNDS (10) times, load writes from CONNS (16) connections
# (POST /books, and POST /books/ID/reviews of the book each connection just
# created), recording every id acknowledged with 201, and kill -9 the
# server at a random moment 0.2-1.5 s into the load (counted from its first
# acknowledged write). Then, with Python's
# sqlite3 on the file: PRAGMA integrity_check is ok, PRAGMA foreign_key_check
# is empty, every id acknowledged so far is present; the server restarts on
# the same file and GET /ready answers 200 in under 2 s from its start.
#
#   bash scripts/reliability/crash.sh BINARY
# Environment: ROUNDS, CONNS, SEED (for the kill moments; printed).
CHECK=crash LIMIT=${LIMIT:-150}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS=${ROUNDS:-10}
CONNS=${CONNS:-16}
SEED=${SEED:-$RANDOM}
READY_LIMIT=2.0
db=$WORK/crash.db
acked=$WORK/acked.txt
acked_reviews=$WORK/acked-reviews.txt
: >"$acked"
: >"$acked_reviews"
log=$WORK/server.log
delays=$(python3 -c 'import random, sys; r = random.Random(int(sys.argv[1]))
print(" ".join(f"{r.uniform(0.2, 1.5):.3f}" for _ in range(int(sys.argv[2]))))' "$SEED" "$ROUNDS")
info "seed $SEED; kill -9 moments (s into the load): $delays"

start_server "$log" "$db" ROCKET_LOG_LEVEL=normal
secs=$(wait_ready 60) || { fail "the server did not start on a fresh file"; tail -20 "$log"; finish; }
info "first start: ready in ${secs}s"
ready_times=()
round=0
for delay in $delays; do
  round=$((round + 1))
  echo "-- round $round: kill -9 at ${delay}s into the load"
  before=$(wc -l <"$acked")
  python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --duration 20 \
    --prefix "crash-$$-r$round" --acked "$acked" --acked-reviews "$acked_reviews" \
    --kinds post,review --stop-on-conn-error --timeout 10 \
    >"$WORK/load-$round.json" 2>&1 &
  loader=$!
  ALL_PIDS+=("$loader")
  # The load has begun when its first write is acknowledged.
  for _ in $(seq 1000); do
    (($(wc -l <"$acked") > before)) && break
    kill -0 "$loader" 2>/dev/null || break
    sleep 0.01
  done
  sleep "$delay"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  killed_pid=$SERVER_PID
  SERVER_PID=
  wait "$loader" || true
  now=$(wc -l <"$acked")
  info "server $killed_pid killed; $((now - before)) books acknowledged this round ($now in all," \
    "$(wc -l <"$acked_reviews") reviews); load:" \
    "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["statuses"], "conn errors", s["conn_errors"])' "$WORK/load-$round.json")"
  [[ $((now - before)) -gt 0 ]] || fail "round $round: no write was acknowledged before the kill"
  py_checks python3 "$REL_PY" sqlite-check --db "$db" --acked "$acked" \
    --acked-reviews "$acked_reviews" --label "round $round"
  start_server "$log" "$db" ROCKET_LOG_LEVEL=normal
  if secs=$(wait_ready 10); then
    ready_times+=("$secs")
    if python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' "$secs" "$READY_LIMIT"; then
      pass "round $round: restarted on the same file, ready in ${secs}s (< ${READY_LIMIT}s)"
    else
      fail "round $round: restarted, but ready only after ${secs}s (limit ${READY_LIMIT}s)"
    fi
  else
    fail "round $round: the server did not become ready after the crash"
    tail -20 "$log"
    break
  fi
  # The restarted server itself serves the last acknowledged write.
  last=$(tail -n 1 "$acked")
  if [[ -n $last ]]; then
    code=$(python3 -c 'import sys, urllib.request, urllib.error
try: print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e: print(e.code)' "$BASE/books/$last")
    [[ $code == 200 ]] && pass "round $round: the restarted server serves the last acknowledged book ($last)" ||
      fail "round $round: GET /books/$last after the restart answered $code"
  fi
done
info "ready times after the crashes: ${ready_times[*]}"
if log_has_panic "$log"; then fail "the server log shows a panic:"; grep -m5 -i panicked "$log"; fi
stop_server
finish
