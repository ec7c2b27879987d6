#!/usr/bin/env bash
# A/B helper for bench/run.sh's SQLite scenarios on a noisy machine: starts
# BINARY on a fresh SQLite file with 10,000 books, then alternates short wrk
# runs of the scenarios (AB_ROUNDS rounds of AB_DUR seconds each, 64
# connections) and prints, per scenario, the summed req/s, the server's CPU
# time per request (from /proc/PID/stat) and each round's p99; then each
# scenario's share of /health. Alternating rounds keeps the host's drift out
# of the shares; the full report is still bench/run.sh's.
#
#   bench/ab.sh BINARY [NAME=VALUE ...]     (NAME=VALUE: server environment)
#   AB_SCEN="health get post" AB_ROUNDS=6 AB_DUR=2 AB_CONNS=64
set -euo pipefail
bin=$1; shift
repo=$(cd "$(dirname "$0")/.." && pwd)
scen=${AB_SCEN:-health get post}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
db=$work/ab.db
env "$@" ROCKET_PORT=$port ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=critical DATABASE_URL=$db \
    "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
sqlite3 "$db" <<SQL >/dev/null
.timeout 10000
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10000)
INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
SELECT 'Seed book ' || n, 'Author ' || (n % 500), (n % 100) + 0.99, (n % 5) + 1, n % 2,
       '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'The description of seed book ' || n || '.'
FROM s;
SQL
wrk_run() {
    BENCH_SCENARIO=$1 BENCH_MAX_ID=10000 BENCH_RUN_TAG=ab$2$RANDOM \
        wrk -t2 -c"${AB_CONNS:-64}" -d"$3"s -s "$repo/bench/bookshelf.lua" "http://127.0.0.1:$port" \
        | grep BENCH_RESULT
}
wrk_run get warmup 2 >/dev/null
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
field() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$2"; }
declare -A N D C P
for round in $(seq "${AB_ROUNDS:-6}"); do
    for s in $scen; do
        c0=$(cpu); line=$(wrk_run "$s" "$round" "${AB_DUR:-2}"); c1=$(cpu)
        [[ $(field status "$line") == 0 ]] || echo "ab: $s round $round: $(field status "$line") non-2xx" >&2
        N[$s]=$(( ${N[$s]:-0} + $(field requests "$line") ))
        D[$s]=$(( ${D[$s]:-0} + $(field duration_us "$line") ))
        C[$s]=$(( ${C[$s]:-0} + c1 - c0 ))
        P[$s]="${P[$s]:-} $(awk -v us="$(field p99_us "$line")" 'BEGIN { printf "%.1f", us / 1000 }')"
    done
done
ticks=$(getconf CLK_TCK)
declare -A R
out="${*:-(defaults)}:"
for s in $scen; do
    R[$s]=$(( N[$s] * 1000000 / D[$s] ))
    out="$out $s ${R[$s]} req/s, $(( C[$s] * 1000000 / ticks / N[$s] )) us CPU/req, p99 ms:${P[$s]};"
done
if [[ -n ${R[health]:-} ]]; then
    for s in $scen; do [[ $s == health ]] || out="$out $s/health $(( 100 * R[$s] / R[health] ))%"; done
fi
echo "$out"
