#!/usr/bin/env bash
# PostgreSQL backends terminated under load: while CONNS (4) connections send
# a light mix of POST /books and GET /books, terminate every backend of the
# server's database TIMES (4) times (pg_terminate_backend; the PostgreSQL
# server itself is never stopped: other work may use it). Pass: requests fail
# only with 503 and only within 2 s of a termination, GET /books answers 200
# within 2 s of each termination without restarting bookshelf (same process,
# launched once), and no "panicked" in its log.
#
#   bash scripts/reliability/pg-backends.sh BINARY
# Environment: TIMES, CONNS, GAP (seconds between terminations, 3).
CHECK=pg-backends LIMIT=${LIMIT:-90}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TIMES=${TIMES:-4}
CONNS=${CONNS:-4}
GAP=${GAP:-3}
RECOVER=2.0
pg_available || { fail "PostgreSQL is not reachable on 127.0.0.1:5432"; finish; }
pg_create_db; url=$PG_URL
dbname=${url##*/}
log=$WORK/server.log
start_server "$log" "$url" ROCKET_LOG_LEVEL=normal
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
pid=$SERVER_PID
info "server $pid ready in ${secs}s on $dbname"

python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --kinds post,list --sleep 0.02 \
  --duration $((TIMES * GAP + 30)) --stop-file "$WORK/stop" --timeout 10 \
  --prefix "pgb-$$" --events "$WORK/events.json" --summary "$WORK/summary.json" >/dev/null 2>&1 &
loader=$!
ALL_PIDS+=("$loader")
sleep 1.5
marks=()
for i in $(seq "$TIMES"); do
  t=$(date +%s.%N)
  n=$("${PSQL[@]}" -d postgres -tAc "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS ok
      FROM pg_stat_activity WHERE datname = '$dbname' AND pid <> pg_backend_pid()) t WHERE ok")
  marks+=("$t")
  echo "-- termination $i: $n backends of $dbname terminated"
  [[ $n -gt 0 ]] || fail "termination $i: no backend of $dbname was found to terminate"
  py_checks python3 "$REL_PY" recovery --base "$BASE" --path /books --path /ready \
    --since "$t" --limit "$RECOVER" --label "termination $i: "
  sleep "$GAP"
done
touch "$WORK/stop"
wait "$loader" || true
info "load: $(cat "$WORK/summary.json")"
py_checks python3 "$REL_PY" analyze --events "$WORK/events.json" --summary "$WORK/summary.json" \
  --marks "$(IFS=,; echo "${marks[*]}")" --allowed 503 --before 0.5 --after "$RECOVER"
n=$("${PSQL[@]}" -d postgres -tAc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$dbname'")
info "backends of $dbname now: $n"
check_survived "$pid" "$log"
info "the server log shows $(grep -c "503 Service Unavailable" "$log" || true) answers 503," \
  "$(grep -c "500 Internal Server Error" "$log" || true) answers 500"
stop_server
finish
