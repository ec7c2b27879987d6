#!/usr/bin/env bash
# A hot standby stopped under load (issue 23): a primary and a streaming
# standby of their own (common.sh's pg_own_clusters; the main cluster is
# never touched), bookshelf reading from the standby
# (`DATABASE_REPLICA_URLS`), CONNS (16) connections of GET /books/{id} and
# GET /books?limit=5. After 4 s the standby is stopped
# (`pg_ctlcluster … stop -m immediate`, as a crash); 4 s later it is started
# again.
# Pass: the standby served reads before the stop; no request fails beyond the
# ones in flight when it stopped (none that started after it, and no more
# than were in flight: each of those is retried on the primary, so the count
# printed is normally 0); while it is down the reads go to the primary,
# `/ready` answers 200 and names it `down`; once it is back it streams and
# serves reads again, without a restart of bookshelf; no panic.
#
#   bash scripts/reliability/standby-down.sh BINARY
# Needs root (pg_createcluster, pg_ctlcluster) and PostgreSQL's Debian tools.
CHECK=standby-down LIMIT=${LIMIT:-150}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONNS=${CONNS:-16}
BOOKS=50
pg_own_clusters async
primary_url=postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres
standby_url=postgres://postgres@127.0.0.1:$STANDBY_PORT/postgres

log=$WORK/server.log
start_server "$log" "$primary_url" ROCKET_LOG_LEVEL=normal ROCKET_DATABASE_TIMEOUT=2 \
  DATABASE_REPLICA_URLS="$standby_url"
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
pid=$SERVER_PID
info "server $pid ready in ${secs}s, reading from $standby_url"
python3 "$REL_PY" load --base "$BASE" --conns 4 --kinds post --total "$BOOKS" --prefix "sd-$$" >/dev/null

# standby_state: the standby's state in /ready ("streaming", "down", …).
standby_state() {
  curl -s "$BASE/ready" | python3 -c 'import json, sys; print(json.load(sys.stdin)["replicas"][0]["state"])'
}
# wait_state STATE: until /ready says so, 15 s at most; prints the state seen.
wait_state() {
  local state
  for _ in $(seq 1 150); do
    state=$(standby_state)
    [[ $state == "$1" ]] && break
    sleep 0.1
  done
  echo "$state"
}
# reads TARGET: bookshelf_replica_reads_total for the primary ("primary") or
# the standby ("standby").
reads() {
  curl -s "$BASE/metrics" | python3 -c '
import sys
want = sys.argv[1]
total = 0
for line in sys.stdin:
    if line.startswith("bookshelf_replica_reads_total{"):
        primary = "target=\"primary\"" in line
        if primary == (want == "primary"):
            total += float(line.rsplit(" ", 1)[1])
print(int(total))' "$1"
}

state=$(wait_state streaming)
[[ $state == streaming ]] || { fail "the standby is $state, not streaming, before the load"; finish; }

python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --kinds get,list --get-ids "$BOOKS" \
  --duration 60 --stop-file "$WORK/stop" --timeout 15 --events "$WORK/events.json" \
  --summary "$WORK/summary.json" >/dev/null 2>&1 &
loader=$!
ALL_PIDS+=("$loader")
sleep 4
on_standby_before=$(reads standby)
t_stop=$(date +%s.%N)
pg_ctl "$STANDBY_CLUSTER" stop -m immediate
info "standby stopped (immediate) after $on_standby_before reads it served"
on_primary_at_stop=$(reads primary)
sleep 4
on_primary_down=$(($(reads primary) - on_primary_at_stop))
ready_status=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ready")
state_down=$(standby_state)
on_standby_down=$(reads standby)
t_start=$(date +%s.%N)
pg_ctl "$STANDBY_CLUSTER" start
state_back=$(wait_state streaming)
on_standby_back=$(reads standby)
sleep 3
on_standby_after=$(($(reads standby) - on_standby_back))
touch "$WORK/stop"
wait "$loader" || true
info "load: $(cat "$WORK/summary.json")"

[[ $on_standby_before -gt 0 ]] && pass "the standby served reads before it stopped ($on_standby_before)" ||
  fail "the standby served no read before it stopped"
[[ $on_primary_down -gt 0 ]] && pass "while it was down, the primary served the reads ($on_primary_down in 4 s)" ||
  fail "while the standby was down, the primary served no read"
[[ $ready_status == 200 && $state_down == down ]] &&
  pass "while it was down, /ready answered $ready_status and named it $state_down" ||
  fail "while the standby was down, /ready answered $ready_status and named it $state_down"
[[ $state_back == streaming && $on_standby_after -gt 0 ]] &&
  pass "started again, it streams and serves reads again ($on_standby_after in 3 s)" ||
  fail "started again, the standby is $state_back and served $on_standby_after reads"

py_checks python3 - "$WORK/events.json" "$WORK/summary.json" "$t_stop" "$t_start" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))
t0 = json.load(open(sys.argv[2]))["t0"]
t_stop, t_start = float(sys.argv[3]) - t0, float(sys.argv[4]) - t0
failed = [e for e in events if e[3] != 200]
in_flight = [e for e in events if e[0] <= t_stop <= e[1]]
later = [e for e in failed if e[0] > t_stop]
print(f"        {len(events)} reads, {len(failed)} not 200; {len(in_flight)} in flight when the standby stopped")
print(("PASS" if not later else "FAIL") +
      f" no read that started after the stop failed ({len(later)}: {[e[3] for e in later][:10]})")
print(("PASS" if len(failed) <= len(in_flight) else "FAIL") +
      f" failures ({len(failed)}) no more than the reads in flight at the stop ({len(in_flight)})")
down = [e for e in events if t_stop <= e[0] <= t_start]
print(("PASS" if down else "FAIL") + f" reads went on while it was down ({len(down)} in {t_start - t_stop:.1f} s)")
PY
check_survived "$pid" "$log"
stop_server
finish
