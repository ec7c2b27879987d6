#!/usr/bin/env bash
# A/B helper for a noisy machine: starts each BINARY on a database of its own
# with 10,000 books (a fresh SQLite file, or with AB_POSTGRES=URL a fresh
# database on that PostgreSQL server), then alternates short wrk runs: for
# each of AB_ROUNDS rounds, each scenario, each binary in turn (only one
# server is loaded at a time). It prints, per binary and scenario, the summed
# req/s, the server's CPU time per request (from /proc/PID/stat) and each
# round's p99; each scenario's share of /health; and, given two binaries or
# more, each one's req/s and CPU per request as a ratio of the first's.
# Alternating rounds keeps the host's drift out of the ratios; the full
# report is still bench/run.sh's.
#
#   bench/ab.sh BINARY [BINARY ...] [NAME=VALUE ...]   (NAME=VALUE: servers' environment)
#   AB_SCEN="health get post" AB_ROUNDS=6 AB_DUR=2 AB_CONNS=64 AB_POSTGRES=postgres://...
# A BINARY written BINARY+NAME=VALUE[+NAME=VALUE...] is started with those
# variables too, so one binary can be compared with itself under two settings
# (e.g. target/release/bookshelf+ROCKET_DATABASE_INLINE=false).
# wrk runs min(2, AB_CONNS) threads, so AB_CONNS=1 measures one client.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bins=() envs=()
for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then envs+=("$arg"); else bins+=("$arg"); fi
done
(( ${#bins[@]} )) || { echo "usage: bench/ab.sh BINARY [BINARY ...] [NAME=VALUE ...]" >&2; exit 2; }
scen=${AB_SCEN:-health get post}
work=$(mktemp -d)
pids=() ports=() dbs=() pgdbs=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    for db in "${pgdbs[@]}"; do psql "$AB_POSTGRES" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
. "$repo/bench/seed.sh"
for i in "${!bins[@]}"; do
    port=$((20000 + RANDOM % 20000))
    if [[ -n ${AB_POSTGRES:-} ]]; then
        name=bookshelf_ab_$$_$i
        psql "$AB_POSTGRES" -qc "CREATE DATABASE $name"
        pgdbs+=("$name")
        db=$(pg_url "$AB_POSTGRES" "$name")
    else
        db=$work/ab$i.db
    fi
    IFS=+ read -r -a spec <<<"${bins[$i]}"
    env "${envs[@]}" "${spec[@]:1}" ROCKET_PORT=$port ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=critical DATABASE_URL=$db \
        "${spec[0]}" serve >"$work/server$i.log" 2>&1 &
    pids+=($!) ports+=("$port") dbs+=("$db")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    if [[ -n ${AB_POSTGRES:-} ]]; then
        { seed_sql "n % 2 = 1" "generate_series(1, 10000) AS n"; echo "VACUUM ANALYZE books;"; } \
            | psql "$db" -qv ON_ERROR_STOP=1 >/dev/null
    else
        { echo ".timeout 10000"
          echo "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10000)"
          seed_sql "n % 2" s; } | sqlite3 "$db" >/dev/null
    fi
done
wrk_run() { # port scenario tag seconds
    BENCH_SCENARIO=$2 BENCH_MAX_ID=10000 BENCH_RUN_TAG=ab$3$RANDOM \
        wrk -t"$(( ${AB_CONNS:-64} < 2 ? ${AB_CONNS:-64} : 2 ))" -c"${AB_CONNS:-64}" -d"$4"s -s "$repo/bench/bookshelf.lua" "http://127.0.0.1:$1" \
        | grep BENCH_RESULT
}
for i in "${!bins[@]}"; do wrk_run "${ports[$i]}" get warmup 2 >/dev/null; done
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
field() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$2"; }
declare -A N D C P Q
for round in $(seq "${AB_ROUNDS:-6}"); do
    for s in $scen; do
        for i in "${!bins[@]}"; do
            pid=${pids[$i]}
            c0=$(cpu "$pid"); line=$(wrk_run "${ports[$i]}" "$s" "$round" "${AB_DUR:-2}"); c1=$(cpu "$pid")
            [[ $(field status "$line") == 0 ]] || echo "ab: ${bins[$i]} $s round $round: $(field status "$line") non-2xx" >&2
            k=$i.$s
            N[$k]=$(( ${N[$k]:-0} + $(field requests "$line") ))
            D[$k]=$(( ${D[$k]:-0} + $(field duration_us "$line") ))
            C[$k]=$(( ${C[$k]:-0} + c1 - c0 ))
            P[$k]="${P[$k]:-} $(awk -v us="$(field p99_us "$line")" 'BEGIN { printf "%.1f", us / 1000 }')"
            Q[$k]="${Q[$k]:-} $(awk -v us="$(field p50_us "$line")" 'BEGIN { printf "%.2f", us / 1000 }')"
        done
    done
done
ticks=$(getconf CLK_TCK)
declare -A R U
echo "environment: ${envs[*]:-(defaults)}; ${AB_POSTGRES:+PostgreSQL, }${AB_ROUNDS:-6} rounds of ${AB_DUR:-2} s, ${AB_CONNS:-64} connections"
for i in "${!bins[@]}"; do
    out="${bins[$i]}:"
    for s in $scen; do
        k=$i.$s
        R[$k]=$(( N[$k] * 1000000 / D[$k] ))
        U[$k]=$(( C[$k] * 1000000 / ticks / N[$k] ))
        out="$out $s ${R[$k]} req/s, ${U[$k]} us CPU/req, p50 ms:${Q[$k]}, p99 ms:${P[$k]};"
    done
    if [[ -n ${R[$i.health]:-} ]]; then
        for s in $scen; do [[ $s == health ]] || out="$out $s/health $(( 100 * R[$i.$s] / R[$i.health] ))%"; done
    fi
    echo "$out"
done
for i in "${!bins[@]}"; do
    (( i > 0 )) || continue
    out="${bins[$i]} / ${bins[0]}:"
    for s in $scen; do
        out="$out $s $(awk -v a="${R[$i.$s]}" -v b="${R[0.$s]}" 'BEGIN { printf "%.2f", a / b }')x req/s,"
        out="$out $(awk -v a="${U[$i.$s]}" -v b="${U[0.$s]}" 'BEGIN { printf "%.2f", a / b }')x CPU/req;"
    done
    echo "$out"
done
