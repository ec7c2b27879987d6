#!/usr/bin/env bash
# PostgreSQL outage (an extra to pg-backends.sh): bookshelf reaches PostgreSQL
# through a TCP proxy on 127.0.0.1 (rel.py proxy), which simulates the
# database going away: it drops every connection and refuses new ones for
# DOWN (3) seconds, OUTAGES (2) times, while CONNS (4) connections send a
# light mix of POST /books and GET /books. The PostgreSQL server itself is
# never touched. Pass: requests fail only with 503, only while the database
# is away (and up to 2 s after it is back), none hangs longer than the
# database timeout allows (ROCKET_DATABASE_TIMEOUT=3 s + 2 s), GET /books
# answers 200 within 2 s of the database accepting connections again, with
# no restart of bookshelf and no "panicked" in its log.
#
#   bash scripts/reliability/pg-outage.sh BINARY
CHECK=pg-outage LIMIT=${LIMIT:-90}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OUTAGES=${OUTAGES:-2}
DOWN=${DOWN:-3}
CONNS=${CONNS:-4}
RECOVER=2.0
pg_available || { fail "PostgreSQL is not reachable on 127.0.0.1:5432"; finish; }
pg_create_db; url=$PG_URL
dbname=${url##*/}
proxy_port=$(free_port)
python3 "$REL_PY" proxy --port "$proxy_port" --target 5432 >"$WORK/proxy.log" 2>&1 &
proxy=$!
ALL_PIDS+=("$proxy")
for _ in $(seq 200); do grep -q '^up' "$WORK/proxy.log" && break; sleep 0.01; done
log=$WORK/server.log
start_server "$log" "postgres://postgres@127.0.0.1:$proxy_port/$dbname" ROCKET_LOG_LEVEL=normal \
  ROCKET_DATABASE_TIMEOUT=3
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
pid=$SERVER_PID
info "server $pid ready in ${secs}s on $dbname through the proxy on port $proxy_port"

python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --kinds post,list --sleep 0.02 \
  --duration 60 --stop-file "$WORK/stop" --timeout 15 --prefix "pgo-$$" \
  --events "$WORK/events.json" --summary "$WORK/summary.json" >/dev/null 2>&1 &
loader=$!
ALL_PIDS+=("$loader")
sleep 1.5
periods=()
for i in $(seq "$OUTAGES"); do
  n_before=$(grep -c '^down' "$WORK/proxy.log" || true)
  kill -USR1 "$proxy"
  for _ in $(seq 200); do (($(grep -c '^down' "$WORK/proxy.log") > n_before)) && break; sleep 0.005; done
  t_down=$(grep '^down' "$WORK/proxy.log" | tail -n 1 | cut -d' ' -f2)
  echo "-- outage $i: the database is away for ${DOWN}s"
  sleep "$DOWN"
  # While it is away: the service answers, with 503, within the timeout.
  code=$(python3 -c 'import sys, time, urllib.request, urllib.error
t = time.time()
try: s = urllib.request.urlopen(sys.argv[1], timeout=10).status
except urllib.error.HTTPError as e: s = e.code
except OSError as e: s = type(e).__name__
print(s, f"{time.time() - t:.2f}")' "$BASE/books")
  [[ ${code% *} == 503 ]] && pass "outage $i: GET /books while the database is away: 503 in ${code#* }s" ||
    fail "outage $i: GET /books while the database is away: ${code% *} in ${code#* }s (expected 503)"
  n_before=$(grep -c '^up' "$WORK/proxy.log")
  kill -USR2 "$proxy"
  for _ in $(seq 200); do (($(grep -c '^up' "$WORK/proxy.log") > n_before)) && break; sleep 0.005; done
  t_up=$(grep '^up' "$WORK/proxy.log" | tail -n 1 | cut -d' ' -f2)
  periods+=("$t_down:$t_up")
  py_checks python3 "$REL_PY" recovery --base "$BASE" --path /books --path /ready \
    --since "$t_up" --limit "$RECOVER" --label "outage $i: once the database is back, "
  sleep 3
  # When did bookshelf first connect again (r2d2 retries with a backoff of
  # up to database_timeout / 2)?
  first=$(awk -v up="$t_up" '$1 == "accept" && $2 >= up { print $2; exit }' "$WORK/proxy.log")
  [[ -z $first ]] || info "outage $i: bookshelf's first new connection came" \
    "$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$t_up" "$first")s after the database was back"
done
touch "$WORK/stop"
wait "$loader" || true
info "load: $(cat "$WORK/summary.json")"
py_checks python3 "$REL_PY" analyze --events "$WORK/events.json" --summary "$WORK/summary.json" \
  --marks "$(IFS=,; echo "${periods[*]}")" --allowed 503 --before 0.5 --after "$RECOVER" \
  --max-latency 5
check_survived "$pid" "$log"
info "the server log shows $(grep -c "503 Service Unavailable" "$log" || true) answers 503," \
  "$(grep -c "500 Internal Server Error" "$log" || true) answers 500"
stop_server
finish
