#!/usr/bin/env bash
# Failover: a primary and a streaming standby of their own (common.sh's
# pg_own_clusters; the main cluster is never touched), bookshelf on a multi-host URL
# (`postgres://…@127.0.0.1:A,127.0.0.1:B/postgres?target_session_attrs=read-write`),
# CONNS (4) connections sending POST /books. After 3 s the primary is
# stopped (`pg_ctlcluster … stop -m immediate`, as a crash), and PROMOTE_AFTER
# (1) s later the standby is promoted (`pg_ctlcluster … promote`).
# Pass: writes resume by themselves, without a restart of bookshelf, within
# RESUME (10) s of the promotion (the figure is printed); every acknowledged
# write (each 201's id) is on the promoted standby; requests fail only with
# 503 between the stop and the resumption; no panic.
# MODE=sync (the default) sets `synchronous_standby_names = '*'` on the
# primary, so a write is acknowledged only once the standby has it: none may
# be lost. MODE=async leaves replication asynchronous: writes acknowledged
# but not yet streamed when the primary stops are lost, and the check only
# reports how many (see the README: Failover).
#
#   bash scripts/reliability/failover.sh BINARY
# Needs root (pg_createcluster, pg_ctlcluster) and PostgreSQL's Debian tools.
CHECK=failover LIMIT=${LIMIT:-180}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODE=${MODE:-sync}
CONNS=${CONNS:-4}
PROMOTE_AFTER=${PROMOTE_AFTER:-1}
RESUME=${RESUME:-10}
pg_own_clusters "$MODE"
port_a=$PRIMARY_PORT port_b=$STANDBY_PORT

url="postgres://postgres@127.0.0.1:$port_a,127.0.0.1:$port_b/postgres?target_session_attrs=read-write"
log=$WORK/server.log
start_server "$log" "$url" ROCKET_LOG_LEVEL=normal ROCKET_DATABASE_TIMEOUT=2
secs=$(wait_ready 60) || { fail "the server did not become ready"; tail -20 "$log"; finish; }
pid=$SERVER_PID
info "server $pid ready in ${secs}s on $url"

python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --kinds post --duration 60 \
  --stop-file "$WORK/stop" --timeout 15 --prefix "fo-$$" --acked "$WORK/acked" \
  --events "$WORK/events.json" --summary "$WORK/summary.json" >/dev/null 2>&1 &
loader=$!
ALL_PIDS+=("$loader")
sleep 3
t_stop=$(date +%s.%N)
pg_ctl "$PRIMARY_CLUSTER" stop -m immediate
info "primary stopped (immediate) after $(wc -l <"$WORK/acked") acknowledged writes"
sleep "$PROMOTE_AFTER"
t_promote=$(date +%s.%N)
pg_ctl "$STANDBY_CLUSTER" promote
info "standby promoted $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t_stop" "$t_promote") s after the stop"
sleep $((RESUME + 3))
touch "$WORK/stop"
wait "$loader" || true
info "load: $(cat "$WORK/summary.json")"

py_checks python3 - "$WORK/events.json" "$WORK/summary.json" "$t_stop" "$t_promote" "$RESUME" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))
t0 = json.load(open(sys.argv[2]))["t0"]
t_stop, t_promote, bound = float(sys.argv[3]) - t0, float(sys.argv[4]) - t0, float(sys.argv[5])
after = sorted(e for e in events if e[3] == 201 and e[0] >= t_promote)
if not after:
    print(f"FAIL no write succeeded after the promotion")
    sys.exit()
resumed = after[0][1] - t_promote
ok = "PASS" if resumed <= bound else "FAIL"
print(f"{ok} writes resumed {resumed:.2f} s after the promotion "
      f"({after[0][1] - t_stop:.2f} s after the primary stopped; bound {bound:.0f} s), without a restart")
bad = [e for e in events if e[3] not in (201, 503)]
outside = [e for e in events if e[3] == 503 and not (t_stop - 0.5 <= e[1] and e[0] <= t_promote + resumed + 0.5)]
print(("PASS" if not bad else "FAIL") + f" every answer was 201 or 503 ({len(bad)} others: {[e[3] for e in bad][:10]})")
print(("PASS" if not outside else "FAIL") + f" 503s only between the stop and the resumption ({len(outside)} outside)")
failed = sum(1 for e in events if e[3] != 201)
print(f"        {len([e for e in events if e[3] == 201])} writes acknowledged, {failed} refused (503) or failed during the failover")
PY

# comm(1) needs both lists in the same lexical order (sort -n would make it
# refuse, and miscount, once ids pass a power of ten).
sort -u "$WORK/acked" >"$WORK/acked.sorted"
"${PSQL[@]}" -At -p "$port_b" -d postgres -c "SELECT id FROM books" | sort -u >"$WORK/present.sorted"
acked=$(wc -l <"$WORK/acked.sorted")
missing=$(comm -23 "$WORK/acked.sorted" "$WORK/present.sorted" | wc -l)
if [[ $MODE == sync ]]; then
  [[ $missing -eq 0 ]] && pass "all $acked acknowledged writes are on the promoted standby (synchronous replication)" ||
    fail "$missing of $acked acknowledged writes are missing on the promoted standby"
else
  info "asynchronous replication: $missing of $acked acknowledged writes missing on the promoted standby"
  pass "counted the acknowledged writes asynchronous replication lost: $missing"
fi
check_survived "$pid" "$log"
stop_server
finish
