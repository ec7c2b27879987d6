#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the same figure
# for the same binary and requests whatever else the machine is doing, so a
# change's effect on a lone request's CPU shows without the noise of req/s
# (issue 24). User-space instructions only: the kernel's share (syscalls,
# wake-ups) is not counted.
#
#   bench/instructions.sh BINARY [BINARY ...]
#   INSTR_PATHS="/health /books/ID" INSTR_REQUESTS="1000 3000" INSTR_POSTGRES=postgres://...
#   INSTR_KEEP=DIR keeps callgrind's outputs there (for callgrind_annotate)
#
# For each BINARY and each path (ID: a random id among 10,000 seeded books)
# it starts the server under callgrind on a fresh database (a PostgreSQL
# database of its own on INSTR_POSTGRES, default the local server; or, with
# INSTR_POSTGRES=sqlite, a temporary SQLite file), seeds it, sends the
# requests one after another on one keep-alive connection (a Python client),
# stops the server with SIGINT and reads callgrind's total. It does that for
# each of the two request counts in INSTR_REQUESTS; the difference between
# the totals divided by the difference between the counts is the cost of one
# request, with start-up and shutdown cancelled out. BINARY may be the peer's
# own binary, bench/peer/target/release/bookshelf-peer (axum + sqlx; it
# listens on PEER_ADDR, which is set too), on the database bookshelf
# (BOOKSHELF, default target/release/bookshelf) migrated. Needs valgrind and
# python3; a run takes a few seconds per thousand requests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(( $# )) || { echo "usage: bench/instructions.sh BINARY [BINARY ...]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "bench/instructions.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
paths=${INSTR_PATHS:-/health /books/ID}
read -r n1 n2 <<<"${INSTR_REQUESTS:-1000 3000}"
(( n2 > n1 )) || { echo "INSTR_REQUESTS: the second count must be larger" >&2; exit 2; }
postgres=${INSTR_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
bookshelf=${BOOKSHELF:-$repo/target/release/bookshelf}
work=$(mktemp -d)
pid= pgdb=
cleanup() {
    [[ -n $pid ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    [[ -n $pgdb ]] && { psql "$postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true; }
    rm -rf "$work"
}
trap cleanup EXIT
. "$repo/bench/seed.sh"
cat >"$work/client.py" <<'PY'
import http.client, random, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
random.seed(1)
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("GET", path.replace("ID", str(random.randint(1, 10000))))
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        sys.exit(f"{path}: {reply.status}")
PY
# Prints callgrind's instruction total for BINARY serving N requests of PATH.
count() { # binary path n
    local db
    if [[ $postgres == sqlite ]]; then
        db=$work/instr.db
        rm -f "$db"
        DATABASE_URL=$db "$bookshelf" migrate up >/dev/null
        { echo "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10000)"
          seed_sql "n % 2" s; } | sqlite3 "$db" >/dev/null
    else
        pgdb=bookshelf_instr_$$
        psql "$postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1
        psql "$postgres" -qc "CREATE DATABASE $pgdb"
        db=$(pg_url "$postgres" "$pgdb")
        DATABASE_URL=$db "$bookshelf" migrate up >/dev/null
        seed_sql "n % 2 = 1" "generate_series(1, 10000) AS n" | psql "$db" -qv ON_ERROR_STOP=1 >/dev/null
    fi
    local port=$((20000 + RANDOM % 20000)) out=$work/callgrind.out
    ROCKET_PORT=$port ROCKET_ADDRESS=127.0.0.1 ROCKET_LOG_LEVEL=critical ROCKET_MIGRATE=check \
        DATABASE_URL=$db PEER_ADDR=127.0.0.1:$port \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$1" serve >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    python3 "$work/client.py" "$port" "$2" "$3"
    kill -INT "$pid"
    wait "$pid" || true
    pid=
    [[ -n $pgdb ]] && { psql "$postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null; pgdb=; }
    if [[ -n ${INSTR_KEEP:-} ]]; then
        mkdir -p "$INSTR_KEEP"
        cp "$out" "$INSTR_KEEP/callgrind.$(basename "$1").${2//\//_}.$3"
    fi
    sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$out" | head -1
}
echo "instructions per request (callgrind; ${n1} and ${n2} requests on one connection; $([[ $postgres == sqlite ]] && echo SQLite || echo PostgreSQL))"
for bin in "$@"; do
    for path in $paths; do
        a=$(count "$bin" "$path" "$n1")
        b=$(count "$bin" "$path" "$n2")
        echo "$bin $path: $(( (b - a) / (n2 - n1) ))"
    done
done
