#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while CONNS (16) connections write (POST /books
# and reviews). Pass: the server exits with status 0 within GRACE (10) seconds
# (bookshelf's shutdown grace, database_timeout + database_lock_timeout + 1 =
# 9 s with the shipped settings, which Rocket waits out while clients keep
# their connections busy, plus slack), every write
# acknowledged with 201 is in the database, the SQLite file is intact, and the
# log shows no panic. ROUNDS (2) rounds on each backend.
#
#   bash scripts/reliability/shutdown.sh BINARY [BACKEND]
# BACKEND: sqlite, postgres or both (the default). Environment: ROUNDS, CONNS,
# GRACE (whole seconds), LOAD_BEFORE (seconds of load before the SIGTERM, 1.5).
CHECK=shutdown LIMIT=${LIMIT:-120}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-16}
GRACE=${GRACE:-10}
LOAD_BEFORE=${LOAD_BEFORE:-1.5}
backends=${2:-both}
[[ $backends == both ]] && backends="sqlite postgres"

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# exited PID: true once the (child) process is gone or a zombie.
exited() {
  local line rest
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
  rest=${line##*) }
  [[ ${rest%% *} == Z ]]
}

for backend in $backends; do
  if [[ $backend == postgres ]]; then
    if ! pg_available; then fail "PostgreSQL is not reachable on 127.0.0.1:5432"; continue; fi
    pg_create_db; url=$PG_URL
  else
    url=$WORK/shutdown.db
  fi
  acked=$WORK/acked-$backend.txt
  acked_reviews=$WORK/acked-reviews-$backend.txt
  : >"$acked"
  : >"$acked_reviews"
  for round in $(seq "$ROUNDS"); do
    echo "-- $backend, round $round: SIGTERM after ${LOAD_BEFORE}s of writes from $CONNS connections"
    log=$WORK/server-$backend-$round.log
    start_server "$log" "$url" ROCKET_LOG_LEVEL=normal
    if ! secs=$(wait_ready 60); then
      fail "$backend: the server did not become ready"; tail -20 "$log"; break
    fi
    python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --duration 30 \
      --prefix "shutdown-$$-$backend-$round" --acked "$acked" --acked-reviews "$acked_reviews" \
      --kinds post,review --stop-on-conn-error --timeout 15 >"$WORK/load-$backend-$round.json" 2>&1 &
    loader=$!
    ALL_PIDS+=("$loader")
    sleep "$LOAD_BEFORE"
    pid=$SERVER_PID
    t0=$(now_ms)
    kill -TERM "$pid"
    while ! exited "$pid" && (($(now_ms) - t0 < (GRACE + 4) * 1000)); do
      sleep 0.01
    done
    took_ms=$(($(now_ms) - t0))
    took=$((took_ms / 1000)).$(printf '%03d' $((took_ms % 1000)))
    if exited "$pid"; then
      status=0
      wait "$pid" || status=$?
      [[ $status -eq 0 ]] && pass "$backend round $round: exit status 0 after SIGTERM" ||
        fail "$backend round $round: exit status $status after SIGTERM"
      if ((took_ms <= GRACE * 1000)); then
        pass "$backend round $round: exited ${took}s after SIGTERM (<= ${GRACE}s)"
      else
        fail "$backend round $round: exited only ${took}s after SIGTERM (limit ${GRACE}s)"
      fi
    else
      fail "$backend round $round: still running ${took}s after SIGTERM; killing it"
      kill -9 "$pid"
      wait "$pid" || true
    fi
    SERVER_PID=
    wait "$loader" || true
    info "load: $(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))
print(s["statuses"], "- connection errors after the SIGTERM:", s["conn_errors"])' "$WORK/load-$backend-$round.json");" \
      "acknowledged so far: $(wc -l <"$acked") books, $(wc -l <"$acked_reviews") reviews"
    if grep -q "Graceful shutdown completed" "$log"; then info "the log says: Graceful shutdown completed"; fi
    if [[ $backend == sqlite ]]; then
      py_checks python3 "$REL_PY" sqlite-check --db "$url" --acked "$acked" \
        --acked-reviews "$acked_reviews" --label "$backend round $round"
    else
      py_checks python3 "$REL_PY" db-has-ids --db "$url" --acked "$acked" \
        --acked-reviews "$acked_reviews" --label "$backend round $round"
    fi
    if log_has_panic "$log"; then
      fail "$backend round $round: the server log shows a panic:"; grep -m5 -i panicked "$log"
    fi
  done
done
finish
