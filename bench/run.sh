#!/usr/bin/env bash
# Benchmark of bookshelf (issue 5): load the release binary with wrk, on a
# fresh SQLite database and then on a fresh PostgreSQL database, and write
# the results to bench/results.md.
#
# Usage: bench/run.sh [BINARY]      (default: target/release/bookshelf)
#
# For each backend the script starts BINARY on 127.0.0.1 (a free port, a
# fresh database, ROCKET_LOG_LEVEL=critical, no Rocket.toml), waits for
# GET /ready, inserts BENCH_BOOKS books with BENCH_REVIEWS_PER_BOOK reviews
# each with SQL, then runs wrk (bench/bookshelf.lua) at each connection count:
#   health  GET /health            the framework's ceiling, same binary and pass
#   get     GET /books/{id}        random ids among the seeded books
#   list    GET /books?limit=20
#   post    POST /books            JSON body, unique titles
#   mix     90% get + 10% post
# It records req/s, p50/p90/p99/max latency, non-2xx responses, socket errors
# and timeouts (from wrk's done() hook), the CPU time of the server, of wrk,
# of PostgreSQL and of everything else on the machine (to spot disturbed
# runs), and the server's peak RSS (VmRSS sampled every 0.1 s, and VmHWM at
# the end of each pass); then it stops the servers (SIGTERM).
#
# Baselines in the same run (issue 12), on the same database:
#   peer     bench/peer (axum 0.8 + sqlx 0.8, its own Cargo project), with
#            the same pool size, started once bookshelf has migrated and the
#            data is seeded, waited for on GET /health, warmed up like
#            bookshelf, and loaded with wrk in the same scenarios (default
#            get, list, post), recording the same columns. Both servers are
#            up for the whole pass but only one is loaded at a time (an idle
#            server uses no measurable CPU: see the CPU columns): each of
#            bookshelf's runs and the peer's run of the same scenario and
#            connections come one right after the other, the one that goes
#            first alternating from pair to pair, so that the machine's drift
#            over the minutes of a pass stays out of their ratio (run one
#            after the other, minutes apart, the same two binaries measured
#            0.85x and then 1.50x at one connection: bench/results.md).
#            Reads come before writes in the scenarios' order, so both read
#            the seeded rows; a pair's second POST run sees the rows its
#            first added.
#   pgbench  (PostgreSQL pass only) PostgreSQL's own limit for the same
#            statements: bench/pgbench/select.sql (bookshelf's SELECT by id)
#            and insert.sql (its INSERT ... RETURNING), -M prepared, 8
#            clients, BENCH_DURATION seconds each; tps, average latency and
#            p50/p90/p99/max from pgbench's per-transaction log.
# (PostgreSQL's data is seeded then VACUUM ANALYZEd, so that index-only
# scans read no heap pages from the first run on.)
# Then it drops the PostgreSQL database and writes the report, with a
# bookshelf/peer table per backend, bookshelf as a share of pgbench, and the
# targets of issues 5 and 12.
#
# Environment (all optional):
#   BENCH_DURATION=10           seconds per wrk run (2 for a quick run)
#   BENCH_CONNECTIONS="1 16 64" connection counts
#   BENCH_BACKENDS="sqlite postgres"
#   BENCH_SCENARIOS="health get list post mix"
#   BENCH_BOOKS=10000  BENCH_REVIEWS_PER_BOOK=3
#   BENCH_THREADS=$(nproc)      most wrk threads per run (never more than connections)
#   BENCH_WARMUP=2              seconds of unrecorded GET /books/{id} before each pass
#   BENCH_WRK_TIMEOUT=5s        wrk's per-request timeout
#   BENCH_QUIET_WAIT=60         before each run, wait up to this many seconds for
#                               other work on the machine to stop (0: don't wait)
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432   server to create the database on
#   BENCH_PG_SSLMODE=disable    sslmode of bookshelf's, the peer's and pgbench's connections:
#                               the peer's sqlx is built without TLS, so by default none
#                               of the three encrypts (with libpq's default, prefer,
#                               bookshelf and pgbench would, on a server with ssl=on)
#   BENCH_OUT=bench/results.md  where the report goes
#   BENCH_NOTES=FILE            Markdown appended to the report (analysis)
#   BENCH_NOTE="text"           one line added to the report's header
#   BENCH_KEEP_WORK=1           keep the work directory (raw wrk output, server logs,
#                               results.tsv and meta.env, which bench/report.py reads)
#   ROCKET_*                    passed to the server (e.g. ROCKET_DATABASE_POOL_SIZE,
#                               ROCKET_WORKERS), except ADDRESS, PORT, LOG_LEVEL, CONFIG
#   BENCH_PEER=PATH|none        the peer's binary (default
#                               bench/peer/target/release/bookshelf-peer, built or
#                               brought up to date with cargo first); none: no peer
#   BENCH_PEER_SCENARIOS="get list post"   the peer's scenarios, run beside bookshelf's
#                               runs of the same (default: those of BENCH_SCENARIOS
#                               among get, list, post; one not in BENCH_SCENARIOS is not run)
#   PEER_*                      passed to the peer (PEER_SQLITE_WRITERS=1: SQLite writes
#                               through a pool of one connection of their own, 0: through
#                               the read pool; PEER_TEST_BEFORE_ACQUIRE=true: sqlx's ping
#                               on every checkout), except PEER_ADDR; PEER_POOL_SIZE defaults
#                               to ROCKET_DATABASE_POOL_SIZE, else 8 (bookshelf's default)
#   BENCH_PGBENCH="select insert"   pgbench scripts of bench/pgbench to run; none: no pgbench
#   BENCH_PGBENCH_CLIENTS=8     pgbench's clients (-c); threads (-j) = min(clients, BENCH_THREADS)
# Exit status: 0 when every run completed (targets met or not: see the
# report), 1 when a server, wrk or pgbench run failed.

set -Eeuo pipefail
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
command_line="bench/run.sh${*:+ $*}"

binary=${1:-$repo_root/target/release/bookshelf}
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-1 16 64}
backends=${BENCH_BACKENDS:-sqlite postgres}
scenarios=${BENCH_SCENARIOS:-health get list post mix}
books=${BENCH_BOOKS:-10000}
reviews_per_book=${BENCH_REVIEWS_PER_BOOK:-3}
max_threads=${BENCH_THREADS:-$(nproc)}
warmup=${BENCH_WARMUP:-2}
wrk_timeout=${BENCH_WRK_TIMEOUT:-5s}
quiet_wait=${BENCH_QUIET_WAIT:-60}
pg_url=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
pg_sslmode=${BENCH_PG_SSLMODE:-disable}
out=${BENCH_OUT:-$repo_root/bench/results.md}
lua=$script_dir/bookshelf.lua
peer_binary=${BENCH_PEER:-$script_dir/peer/target/release/bookshelf-peer}
peer_pool_size=${PEER_POOL_SIZE:-${ROCKET_DATABASE_POOL_SIZE:-8}}
if [[ -n ${BENCH_PEER_SCENARIOS:-} ]]; then
    peer_scenarios=$BENCH_PEER_SCENARIOS
else
    peer_scenarios=""
    for s in $scenarios; do [[ $s == get || $s == list || $s == post ]] && peer_scenarios+="${peer_scenarios:+ }$s"; done
fi
pgbench_scripts=${BENCH_PGBENCH:-select insert}
pgbench_clients=${BENCH_PGBENCH_CLIENTS:-8}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

case $binary in /*) ;; *) binary=$PWD/$binary ;; esac
[[ -x $binary ]] || die "no executable binary at $binary (build it with: cargo build --release)"
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 ]] || die "BENCH_DURATION must be whole seconds >= 1"
for b in $backends; do [[ $b == sqlite || $b == postgres ]] || die "unknown backend $b"; done
[[ $pgbench_clients =~ ^[1-9][0-9]*$ ]] || die "BENCH_PGBENCH_CLIENTS must be a whole number >= 1"
for s in $peer_scenarios; do
    case $s in health|get|list|post|mix) ;; *) die "unknown peer scenario $s" ;; esac
done
if [[ $pgbench_scripts != none ]]; then
    for s in $pgbench_scripts; do [[ -f $script_dir/pgbench/$s.sql ]] || die "no pgbench script bench/pgbench/$s.sql"; done
fi

# The peer: built (or brought up to date) with cargo unless BENCH_PEER names a
# binary; before any measurement, so that the build disturbs no run.
if [[ $peer_binary != none && -n $peer_scenarios ]]; then
    if [[ -z ${BENCH_PEER:-} ]]; then
        command -v cargo >/dev/null || die "cargo is needed to build the peer (or set BENCH_PEER=none)"
        log "building the peer: cargo build --release --manifest-path bench/peer/Cargo.toml"
        # LIBSQLITE3_FLAGS set (empty) keeps .cargo/config.toml's SQLite
        # options, which are bookshelf's, out of the peer's build.
        LIBSQLITE3_FLAGS= cargo build --release --quiet --manifest-path "$script_dir/peer/Cargo.toml" >&2 \
            || die "could not build the peer (BENCH_PEER=none skips it)"
    fi
    case $peer_binary in /*) ;; *) peer_binary=$PWD/$peer_binary ;; esac
    [[ -x $peer_binary ]] || die "no executable peer at $peer_binary (BENCH_PEER=none skips it)"
else
    peer_binary=none
fi

# wrk comes from Debian; install it when missing.
if ! command -v wrk >/dev/null; then
    log "wrk is missing: installing the Debian package"
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    timeout 300 $sudo apt-get update -qq >&2 && \
        timeout 300 $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 \
        || die "could not install wrk (apt-get install wrk)"
fi
for tool in curl python3; do command -v $tool >/dev/null || die "$tool is needed"; done
if [[ " $backends " == *" sqlite "* ]]; then command -v sqlite3 >/dev/null || die "sqlite3 is needed"; fi
if [[ " $backends " == *" postgres "* ]]; then command -v psql >/dev/null || die "psql is needed"; fi
if [[ " $backends " == *" postgres "* && $pgbench_scripts != none ]]; then
    command -v pgbench >/dev/null || die "pgbench is needed (apt-get install postgresql-client; BENCH_PGBENCH=none skips it)"
fi

work=$(mktemp -d /tmp/bookshelf-bench.XXXXXX)
run_tag="$$-$(date +%s)"
pg_db="bookshelf_bench_$$"
pg_created=""
server_pid=""             # the server loaded now (run_wrk's), and its address
base=""
server_kind=bookshelf    # what server_pid is: bookshelf or peer
bookshelf_pid="" bookshelf_base=""
peer_pid="" peer_base=""
sampler_pid=""
results=$work/results.tsv
meta=$work/meta.env
failed=0

# Makes bookshelf or the peer the server that run_wrk loads.
use() {
    server_kind=$1
    case $1 in
        bookshelf) server_pid=$bookshelf_pid base=$bookshelf_base ;;
        peer) server_pid=$peer_pid base=$peer_base ;;
    esac
}

# Stops process $1 (SIGTERM, then SIGKILL after 10 s).
stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "server $pid did not stop on SIGTERM in 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    wait "$pid" 2>/dev/null || true
}

# Stops the RSS sampler, bookshelf and the peer.
stop_servers() {
    if [[ -n $sampler_pid ]]; then kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""; fi
    stop_pid "$bookshelf_pid"
    stop_pid "$peer_pid"
    server_pid="" bookshelf_pid="" peer_pid=""
}

drop_pg_db() {
    [[ -n $pg_created ]] || return 0
    timeout 30 psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qAtc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 \
        || log "could not drop database $pg_db"
    pg_created=""
}

cleanup() {
    stop_servers
    drop_pg_db
    [[ -n ${BENCH_KEEP_WORK:-} ]] && log "work files kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# VmRSS/VmHWM of a process, in KiB.
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# user+system clock ticks of a process.
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# user+system clock ticks of all PostgreSQL server processes (the database's
# share of the CPU in the PostgreSQL pass; not counted as "other" work), plus
# those of the processes that exited and that the postmaster reaped (its
# cutime+cstime): pgbench's backends exit before the end of its run.
db_ticks() {
    [[ $1 == postgres ]] || { echo 0; return; }
    # Processes may exit between the glob and the read: ignore cat's status.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { t += $14 + $15 + $16 + $17 } END { print t + 0 }'
}

# Jiffies of the whole machine: "processes irq idle": processes = user, nice,
# system and steal (time the hypervisor gave to others); irq = hard and soft
# interrupts (loopback TCP is mostly softirq); idle = idle and iowait.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $9, $7 + $8, $5 + $6 }' /proc/stat; }

# Samples the server's VmRSS every 0.1 s into $1 (the largest value seen).
sample_rss() {
    local file=$1 max=0 written=0 key value _
    while kill -0 "$server_pid" 2>/dev/null; do
        while read -r key value _; do
            if [[ $key == VmRSS: ]]; then (( value > max )) && max=$value; break; fi
        done < "/proc/$server_pid/status" 2>/dev/null || true
        if (( max > written )); then
            echo "$max" > "$file.tmp" && mv -f "$file.tmp" "$file"
            written=$max
        fi
        sleep 0.1
    done
}

start_server() {
    local backend=$1 db_url=$2 port
    port=$(free_port)
    base="http://127.0.0.1:$port"
    local -a env_args=(PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8
        DATABASE_URL="$db_url" ROCKET_ADDRESS=127.0.0.1 ROCKET_PORT="$port"
        ROCKET_LOG_LEVEL=critical ROCKET_CLI_COLORS=false
        ROCKET_CONFIG="$work/no-Rocket.toml")
    local var
    for var in $(compgen -e | grep '^ROCKET_' || true); do
        case $var in ROCKET_ADDRESS|ROCKET_PORT|ROCKET_LOG_LEVEL|ROCKET_CONFIG|ROCKET_CLI_COLORS) continue ;; esac
        env_args+=("$var=${!var}")
    done
    # A directory of its own, so that no .env is picked up.
    mkdir -p "$work/run-$backend"
    (cd "$work/run-$backend" && exec env -i "${env_args[@]}" "$binary" serve) \
        > "$work/server-$backend.log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 60))
    until curl -fsS -m 2 "$base/ready" >/dev/null 2>&1; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -20 "$work/server-$backend.log" >&2
            die "server ($backend) exited during start-up"
        fi
        (( SECONDS < deadline )) || { tail -20 "$work/server-$backend.log" >&2; die "server ($backend) not ready in 60 s"; }
        sleep 0.1
    done
    log "$backend: server $server_pid ready on $base"
}

# Starts the peer on the database bookshelf migrated and seeded, with the
# same pool size, and waits for GET /health (the peer opens its pool, and so
# one connection, before it listens).
start_peer() {
    local backend=$1 db_url=$2 port
    port=$(free_port)
    base="http://127.0.0.1:$port"
    local -a env_args=(PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8
        DATABASE_URL="$db_url" PEER_ADDR="127.0.0.1:$port" PEER_POOL_SIZE="$peer_pool_size")
    local var
    for var in $(compgen -e | grep '^PEER_' || true); do
        case $var in PEER_ADDR|PEER_POOL_SIZE) continue ;; esac
        env_args+=("$var=${!var}")
    done
    mkdir -p "$work/run-$backend-peer"
    (cd "$work/run-$backend-peer" && exec env -i "${env_args[@]}" "$peer_binary") \
        > "$work/peer-$backend.log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 60))
    until curl -fsS -m 2 "$base/health" >/dev/null 2>&1; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -20 "$work/peer-$backend.log" >&2
            die "peer ($backend) exited during start-up"
        fi
        (( SECONDS < deadline )) || { tail -20 "$work/peer-$backend.log" >&2; die "peer ($backend) not ready in 60 s"; }
        sleep 0.1
    done
    log "$backend: peer $server_pid ready on $base"
}

# Runs one pgbench script against the PostgreSQL database (no server running)
# and appends a row to $results: server "pgbench", scenario = the script's
# name, conns = clients, requests = transactions, duration such that
# requests / duration = pgbench's tps (without the initial connection time),
# status = failed transactions, latency percentiles from pgbench's
# per-transaction log (--log; every transaction), avg_us = pgbench's
# "latency average".
run_pgbench() {
    local name=$1 url=$2
    local clients=$pgbench_clients threads=$(( pgbench_clients < max_threads ? pgbench_clients : max_threads ))
    local out_file=$work/pgbench.$name.txt prefix=$work/pgbench-log.$name time_file=$work/time.pgbench.$name
    (( quiet_wait > 0 )) && wait_quiet
    waited_note=0
    local d0 d1 m0 m1 rc=0 TIMEFORMAT='%U %S' stamp
    stamp=$(date -u '+%Y-%m-%d %H:%M:%S.%6N')
    d0=$(db_ticks postgres); m0=$(machine_ticks)
    { time timeout $((duration + 60)) pgbench -n -M prepared -c "$clients" -j "$threads" -T "$duration" \
        -D max_id="$max_id" -D tag="$run_tag" -D ts="$stamp" \
        --log --log-prefix="$prefix" -f "$script_dir/pgbench/$name.sql" "$url" > "$out_file" 2>&1 ; } 2> "$time_file" || rc=$?
    d1=$(db_ticks postgres); m1=$(machine_ticks)
    local tps avg processed n_failed
    tps=$(awk '/^tps = / { print $3; exit }' "$out_file")
    avg=$(awk '/^latency average = / { print $4; exit }' "$out_file")
    processed=$(awk -F': ' '/^number of transactions actually processed/ { print $2 + 0; exit }' "$out_file")
    n_failed=$(awk -F': ' '/^number of failed transactions/ { print $2 + 0; exit }' "$out_file")
    if [[ $rc -ne 0 || -z $tps || -z $processed ]]; then
        log "pgbench $name failed (exit $rc):"; cat "$out_file" >&2
        failed=1
        rm -f "$prefix".*
        return 0
    fi
    local duration_us hz wrk_cpu db_cpu procs irq idle p50 p90 p99 pmax
    duration_us=$(awk -v n="$processed" -v t="$tps" 'BEGIN { printf "%d", (t > 0 ? n / t : 1) * 1e6 }')
    # Column 3 of pgbench's log: the transaction's latency in microseconds.
    read -r p50 p90 p99 pmax < <(cat "$prefix".* | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        function q(p,  i) { i = int(NR * p + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
        END { if (NR == 0) print 0, 0, 0, 0; else print q(0.50), q(0.90), q(0.99), v[NR] }')
    rm -f "$prefix".*
    hz=$(getconf CLK_TCK)
    read -r mp0 mq0 mi0 <<< "$m0"; read -r mp1 mq1 mi1 <<< "$m1"
    db_cpu=$(awk -v d=$((d1 - d0)) -v hz="$hz" -v us="$duration_us" 'BEGIN { printf "%.3f", d / hz / (us / 1e6) }')
    wrk_cpu=$(tail -n 1 "$time_file" | awk -v us="$duration_us" '{ printf "%.3f", ($1 + $2) / (us / 1e6) }')
    read -r procs irq idle < <(awk -v p=$((mp1 - mp0)) -v q=$((mq1 - mq0)) -v i=$((mi1 - mi0)) \
        -v hz="$hz" -v us="$duration_us" 'BEGIN { s = hz * us / 1e6; printf "%.3f %.3f %.3f\n", p / s, q / s, i / s }')
    local avg_us
    avg_us=$(awk -v a="$avg" 'BEGIN { printf "%d", a * 1000 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        postgres "$name" "$clients" "$threads" "$duration_us" "$processed" 0 \
        "$p50" "$p90" "$p99" "$pmax" "${n_failed:-0}" 0 0 0 0 0 0.000 "$procs" "" "$wrk_cpu" "$irq" "$idle" "$db_cpu" \
        pgbench "$avg_us" >> "$results"
    awk -v t="$tps" -v a="$avg" -v p50="$p50" -v p99="$p99" -v f="${n_failed:-0}" -v c="$clients" -v w="$wrk_cpu" -v db="$db_cpu" -v s="$name" \
        'BEGIN { printf "bench: postgres pgbench %-6s c%-3s %9.0f tps    avg %7.2f ms  p50 %7.2f ms  p99 %7.2f ms  failed %d  cpu pgbench %.2f  db %.2f\n", s, c, t, a, p50 / 1000, p99 / 1000, f, w, db }' >&2
}

seed_sqlite() {
    local file=$1
    timeout 120 sqlite3 "$file" <<SQL >/dev/null
.timeout 10000
BEGIN IMMEDIATE;
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $books)
INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
SELECT 'Seed book ' || n, 'Author ' || (n % 500), (n % 100) + 0.99, (n % 5) + 1, n % 2,
       '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'The description of seed book ' || n || '.'
FROM s;
WITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r WHERE k < $reviews_per_book)
INSERT INTO reviews (book_id, author, content, created_at)
SELECT b.id, 'Reviewer ' || r.k, 'Review ' || r.k || ' of book ' || b.id || ': worth reading.',
       '2026-01-02 00:00:00'
FROM books b, r WHERE $reviews_per_book > 0;
COMMIT;
ANALYZE;
SQL
}

seed_postgres() {
    local url=$1
    timeout 120 psql "$url" -v ON_ERROR_STOP=1 -qAt >/dev/null <<SQL
BEGIN;
INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
SELECT 'Seed book ' || n, 'Author ' || (n % 500), (n % 100) + 0.99, (n % 5) + 1, n % 2 = 1,
       '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'The description of seed book ' || n || '.'
FROM generate_series(1, $books) AS n;
INSERT INTO reviews (book_id, author, content, created_at)
SELECT b.id, 'Reviewer ' || k, 'Review ' || k || ' of book ' || b.id || ': worth reading.',
       '2026-01-02 00:00:00'
FROM books b, generate_series(1, $reviews_per_book) AS k;
COMMIT;
VACUUM ANALYZE;
SQL
}

count_books() {
    case $1 in
        sqlite) sqlite3 -cmd '.timeout 10000' "$2" 'SELECT count(*), coalesce(max(id), 0) FROM books' | tr '|' ' ' ;;
        postgres) psql "$2" -qAtF ' ' -c 'SELECT count(*), coalesce(max(id), 0) FROM books' ;;
    esac
}

# Waits (at most $quiet_wait seconds) until the machine is quiet: less than
# 0.2 cores busy over a second while the server is idle, so that other work
# on the machine does not distort the next run.
wait_quiet() {
    local deadline=$((SECONDS + quiet_wait)) a b busy
    while :; do
        a=$(machine_ticks); sleep 1; b=$(machine_ticks)
        busy=$(awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.2f", (y[1] - x[1] + y[2] - x[2]) / hz }')
        awk -v b="$busy" 'BEGIN { exit !(b < 0.2) }' && return 0
        if (( SECONDS >= deadline )); then
            log "machine still busy ($busy cores used by others) after ${quiet_wait} s: running anyway"
            return 0
        fi
        (( waited_note )) || { log "waiting for other work on the machine to finish ($busy cores busy)"; waited_note=1; }
    done
}
waited_note=0

# Runs wrk once and appends a row to $results.
run_wrk() {
    local backend=$1 scenario=$2 conns=$3 seconds=$4 record=${5:-yes}
    local threads=$(( conns < max_threads ? conns : max_threads ))
    local label=$backend
    [[ $server_kind == bookshelf ]] || label=$backend-$server_kind
    local rss_file=$work/rss.$label.$scenario.$conns wrk_out=$work/wrk.$label.$scenario.$conns.txt
    local t0 t1 d0 d1 m0 m1 books_before="" books_after="" added=""
    (( quiet_wait > 0 )) && wait_quiet
    waited_note=0
    [[ $scenario == post || $scenario == mix ]] && read -r books_before _ <<< "$(count_books "$backend" "$db_target")"
    echo 0 > "$rss_file"
    sample_rss "$rss_file" &
    sampler_pid=$!
    t0=$(proc_ticks "$server_pid"); d0=$(db_ticks "$backend"); m0=$(machine_ticks)
    local rc=0 TIMEFORMAT='%U %S' time_file=$work/time.$label.$scenario.$conns
    # bash's `time` reports the CPU time wrk used (user, system).
    { time BENCH_SCENARIO=$scenario BENCH_MAX_ID=$max_id BENCH_RUN_TAG="$run_tag-$label-$scenario-$conns" \
        timeout $((seconds + 60)) wrk -t "$threads" -c "$conns" -d "${seconds}s" \
        --timeout "$wrk_timeout" -s "$lua" "$base" > "$wrk_out" 2>&1 ; } 2> "$time_file" || rc=$?
    t1=$(proc_ticks "$server_pid"); d1=$(db_ticks "$backend"); m1=$(machine_ticks)
    kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
    [[ $record == yes ]] || return 0
    if [[ -n $books_before ]]; then
        read -r books_after _ <<< "$(count_books "$backend" "$db_target")"
        added=$((books_after - books_before))
    fi
    local line
    line=$(grep '^BENCH_RESULT ' "$wrk_out" || true)
    if [[ $rc -ne 0 || -z $line ]]; then
        log "wrk failed ($label $scenario c$conns, exit $rc):"; cat "$wrk_out" >&2
        failed=1
        return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        log "$server_kind died during $backend $scenario c$conns"
        if [[ $server_kind == bookshelf ]]; then tail -20 "$work/server-$backend.log" >&2; else tail -20 "$work/peer-$backend.log" >&2; fi
        failed=1
    fi
    declare -A f=()
    local kv
    for kv in ${line#BENCH_RESULT }; do f[${kv%%=*}]=${kv#*=}; done
    local hz cpu wrk_cpu procs irq idle db_cpu
    hz=$(getconf CLK_TCK)
    read -r mp0 mq0 mi0 <<< "$m0"; read -r mp1 mq1 mi1 <<< "$m1"
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v us="${f[duration_us]}" 'BEGIN { printf "%.3f", d / hz / (us / 1e6) }')
    db_cpu=$(awk -v d=$((d1 - d0)) -v hz="$hz" -v us="${f[duration_us]}" 'BEGIN { printf "%.3f", d / hz / (us / 1e6) }')
    [[ $backend == postgres ]] || db_cpu=""
    wrk_cpu=$(tail -n 1 "$time_file" | awk -v us="${f[duration_us]}" '{ printf "%.3f", ($1 + $2) / (us / 1e6) }')
    # In cores: jiffies / CLK_TCK / seconds of the run.
    read -r procs irq idle < <(awk -v p=$((mp1 - mp0)) -v q=$((mq1 - mq0)) -v i=$((mi1 - mi0)) \
        -v hz="$hz" -v us="${f[duration_us]}" 'BEGIN { s = hz * us / 1e6; printf "%.3f %.3f %.3f\n", p / s, q / s, i / s }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$backend" "$scenario" "$conns" "$threads" "${f[duration_us]}" "${f[requests]}" "${f[bytes]}" \
        "${f[p50_us]}" "${f[p90_us]}" "${f[p99_us]}" "${f[max_us]}" "${f[status]}" "${f[connect]}" \
        "${f[read]}" "${f[write]}" "${f[timeout]}" "$(cat "$rss_file")" "$cpu" "$procs" "$added" "$wrk_cpu" "$irq" "$idle" "$db_cpu" \
        "$server_kind" "" >> "$results"
    awk -v r="${f[requests]}" -v us="${f[duration_us]}" -v p50="${f[p50_us]}" -v p99="${f[p99_us]}" \
        -v st="${f[status]}" -v to="${f[timeout]}" -v cpu="$cpu" -v wcpu="$wrk_cpu" -v rss="$(cat "$rss_file")" \
        -v b="$label" -v s="$scenario" -v c="$conns" \
        'BEGIN { printf "bench: %-8s %-6s c%-3s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  non-2xx %d  timeouts %d  cpu %.2f (wrk %.2f)  rss %.1f MiB\n", b, s, c, r / (us / 1e6), p50 / 1000, p99 / 1000, st, to, cpu, wcpu, rss / 1024 }' >&2
}

printf 'backend\tscenario\tconns\tthreads\tduration_us\trequests\tbytes\tp50_us\tp90_us\tp99_us\tmax_us\tstatus\tconnect\tread\twrite\ttimeout\tpeak_rss_kb\tserver_cpu\tmachine_procs\tbooks_added\twrk_cpu\tmachine_irq\tmachine_idle\tdb_cpu\tserver\tavg_us\n' > "$results"

# The report's header.
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    # How an idle core waits: at one connection each request wakes a core
    # four times, and a halted virtual CPU is slow to wake (bench/results.md,
    # "Where a lone PostgreSQL GET's time goes").
    idle_driver=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo unknown)
    if [[ -r /sys/module/haltpoll/parameters/guest_halt_poll_ns ]]; then
        idle_driver+=", guest_halt_poll_ns=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns)"
    fi
    echo "idle=$idle_driver"
    echo "commit=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    bin_dir=$(dirname "$binary")
    if bin_commit=$(git -C "$bin_dir" rev-parse --short HEAD 2>/dev/null) \
        && [[ $(git -C "$bin_dir" rev-parse --show-toplevel) != "$repo_root" ]]; then
        echo "binary_commit=\`$bin_commit\` in $(git -C "$bin_dir" rev-parse --show-toplevel)"
    fi
    echo "binary=$binary"
    echo "binary_info=$(stat -c '%s bytes, modified %y' "$binary" | cut -d. -f1), sha256 $(sha256sum "$binary" | cut -c1-12)"
    env_prefix=""
    for var in $(compgen -e | grep -E '^(BENCH|ROCKET)_' || true); do env_prefix+="$var=${!var} "; done
    echo "command=$env_prefix$command_line"
    echo "wrk_version=$( { wrk --version 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')"
    echo "duration=$duration"
    echo "connections=$connections"
    echo "threads=$max_threads"
    echo "wrk_timeout=$wrk_timeout"
    echo "books=$books"
    echo "reviews_per_book=$reviews_per_book"
    server_env="ROCKET_LOG_LEVEL=critical, no Rocket.toml (built-in defaults: pool of 8, workers = cores)"
    for var in $(compgen -e | grep '^ROCKET_' || true); do server_env+=", $var=${!var}"; done
    echo "server_env=$server_env"
    if [[ $peer_binary != none ]]; then
        echo "peer_binary=$peer_binary"
        echo "peer_info=$(stat -c '%s bytes, modified %y' "$peer_binary" | cut -d. -f1), sha256 $(sha256sum "$peer_binary" | cut -c1-12)"
        # The peer's defaults (bench/peer/src/main.rs) unless set.
        peer_env="PEER_POOL_SIZE=$peer_pool_size, PEER_SQLITE_WRITERS=${PEER_SQLITE_WRITERS:-1}"
        peer_env+=", PEER_TEST_BEFORE_ACQUIRE=${PEER_TEST_BEFORE_ACQUIRE:-false}"
        for var in $(compgen -e | grep '^PEER_' || true); do
            case $var in PEER_ADDR|PEER_POOL_SIZE|PEER_SQLITE_WRITERS|PEER_TEST_BEFORE_ACQUIRE) continue ;; esac
            peer_env+=", $var=${!var}"
        done
        echo "peer_env=$peer_env"
        echo "peer_scenarios=$peer_scenarios"
        echo "peer_order=alternated"
    fi
    if [[ " $backends " == *" postgres "* && $pgbench_scripts != none ]]; then
        echo "pgbench_version=$(pgbench --version 2>/dev/null | head -1)"
        echo "pgbench_clients=$pgbench_clients"
        echo "pgbench_threads=$(( pgbench_clients < max_threads ? pgbench_clients : max_threads ))"
        echo "pgbench_scripts=$pgbench_scripts"
    fi
    [[ -n ${BENCH_NOTE:-} ]] && echo "note=$BENCH_NOTE"
    [[ -n ${BENCH_NOTES:-} ]] && echo "analysis_file=$(cd "$(dirname "$BENCH_NOTES")" && pwd)/$(basename "$BENCH_NOTES")"
} > "$meta"

log "binary $binary; ${duration} s per run; connections: $connections; backends: $backends; work dir $work"
[[ $peer_binary == none ]] || log "peer $peer_binary (pool $peer_pool_size): $peer_scenarios"

for backend in $backends; do
    case $backend in
        sqlite)
            db_file=$work/bench.db
            db_url=$db_file
            db_target=$db_file
            echo "db_sqlite=fresh file in /tmp, WAL" >> "$meta"
            ;;
        postgres)
            timeout 30 psql "$pg_url/postgres" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $pg_db" >/dev/null \
                || die "cannot create database $pg_db on $pg_url"
            pg_created=yes
            db_url=$pg_url/$pg_db?sslmode=$pg_sslmode
            db_target=$db_url
            echo "db_postgres=fresh database $pg_db, $(psql "$pg_url/postgres" -qAtc 'SHOW server_version' 2>/dev/null | awk '{ print "PostgreSQL " $1 }'), connections with sslmode=$pg_sslmode (bookshelf, peer and pgbench)" >> "$meta"
            ;;
    esac
    start_server "$backend" "$db_url"
    bookshelf_pid=$server_pid bookshelf_base=$base
    seed_start=$SECONDS
    "seed_$backend" "$db_target" || die "seeding $backend failed"
    read -r n_books max_id <<< "$(count_books "$backend" "$db_target")"
    log "$backend: seeded $n_books books (max id $max_id) in $((SECONDS - seed_start)) s"
    (( n_books >= books )) || die "$backend: expected $books books, found $n_books"
    # The peer, on the same database, up beside bookshelf from here on.
    if [[ $peer_binary != none ]]; then
        start_peer "$backend" "$db_url"
        peer_pid=$server_pid peer_base=$base
    fi

    if (( warmup > 0 )); then
        use bookshelf; run_wrk "$backend" get 16 "$warmup" no
        [[ -z $peer_pid ]] || { use peer; run_wrk "$backend" get 16 "$warmup" no; }
    fi
    # Each of bookshelf's runs and the peer's run of the same scenario and
    # connections come one right after the other, the one that goes first
    # alternating from pair to pair, so that the machine's drift over the
    # minutes of a pass stays out of their ratio.
    pair=0
    for scenario in $scenarios; do
        for conns in $connections; do
            order=bookshelf
            if [[ -n $peer_pid && " $peer_scenarios " == *" $scenario "* ]]; then
                (( pair % 2 == 0 )) && order="bookshelf peer" || order="peer bookshelf"
                pair=$((pair + 1))
            fi
            for kind in $order; do
                use "$kind"
                run_wrk "$backend" "$scenario" "$conns" "$duration"
            done
        done
    done
    read -r n_after _ <<< "$(count_books "$backend" "$db_target")"
    echo "hwm_kb_$backend=$(proc_kb "$bookshelf_pid" VmHWM)" >> "$meta"
    log "$backend: peak RSS (VmHWM) $(( $(proc_kb "$bookshelf_pid" VmHWM) / 1024 )) MiB; books now $n_after"
    if [[ -n $peer_pid ]]; then
        echo "hwm_kb_peer_$backend=$(proc_kb "$peer_pid" VmHWM)" >> "$meta"
        log "$backend: peer peak RSS (VmHWM) $(( $(proc_kb "$peer_pid" VmHWM) / 1024 )) MiB"
    fi
    stop_servers

    # PostgreSQL's own limit for bookshelf's statements, with no server running.
    if [[ $backend == postgres && $pgbench_scripts != none ]]; then
        for script in $pgbench_scripts; do
            run_pgbench "$script" "$db_url"
        done
    fi
    [[ $backend == postgres ]] && drop_pg_db
done

mkdir -p "$(dirname "$out")"
python3 "$script_dir/report.py" "$results" "$meta" "$out"
log "report written to $out"
exit $failed
