#!/usr/bin/env bash
# Six migrators racing (issue 23): SIX (6) `bookshelf migrate up` started at
# once on one fresh PostgreSQL database, then six `migrate down --all`, ROUNDS
# (3) times, directly and through PgBouncer in `pool_mode = transaction`
# (scripts/pgbouncer/start.sh starts one for the check, or POOLER_URL names a
# server URL through one). Pass, each way and each round: every migrator
# exits 0, each migration is applied by exactly one of them (and reverted by
# exactly one), `migrate verify` passes after the ups, and the records are
# empty after the downs. Through a transaction pooler a session's advisory
# lock would not serialise them; the migration lock is a transaction's.
#
#   bash scripts/reliability/migrators.sh BINARY
CHECK=migrators LIMIT=${LIMIT:-240}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIX=${SIX:-6}
ROUNDS=${ROUNDS:-3}
pg_available || { fail "PostgreSQL is not reachable on 127.0.0.1:5432"; finish; }
pooler=${POOLER_URL:-}
if [[ -z $pooler ]]; then
  # PgBouncer runs as postgres: it must reach its directory inside $WORK.
  chmod 711 "$WORK"
  pooler=$(bash "$ROOT/scripts/pgbouncer/start.sh" postgres://postgres@127.0.0.1:5432 "$WORK/pgbouncer")
  ALL_PIDS+=("$(cat "$WORK/pgbouncer/pgbouncer.pid")")
fi
info "pooler: $pooler"

# race URL ARGS...: starts SIX migrators at once; prints their output; fails if one fails.
race() {
  local url=$1 i status=0
  shift
  local pids=()
  for i in $(seq "$SIX"); do
    # PgBouncer refuses libpq's `options` startup parameter (common.sh's PGOPTIONS).
    (cd "$WORK" && exec env -u PGOPTIONS ROCKET_CONFIG="$CONFIG" DATABASE_URL="$url" "$BIN" "$@") \
      >"$WORK/migrator.$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { status=1; echo "migrator $((i + 1)) failed: $(tail -3 "$WORK/migrator.$((i + 1)).log")" >&2; }
  done
  return $status
}
counted() { cat "$WORK"/migrator.*.log | grep -c "$1" || true; }

for way in direct pooler; do
  pg_create_db
  url=$PG_URL
  [[ $way == direct ]] || url=$pooler/$PG_DB
  total=$(cd "$WORK" && DATABASE_URL=$PG_URL ROCKET_CONFIG="$CONFIG" "$BIN" migrate status | sed -nE 's/^applied: +[0-9]+, pending: ([0-9]+)$/\1/p')
  for round in $(seq "$ROUNDS"); do
    rm -f "$WORK"/migrator.*.log
    if race "$url" migrate up; then ok=1; else ok=0; fi
    applied=$(counted "^applied [0-9]")
    verified=$(cd "$WORK" && env -u PGOPTIONS DATABASE_URL=$url ROCKET_CONFIG="$CONFIG" "$BIN" migrate verify >/dev/null 2>&1 && echo yes || echo no)
    [[ $ok == 1 && $applied == "$total" && $verified == yes ]] &&
      pass "$way, round $round: $SIX migrate up at once applied each of the $total migrations once; verify passes" ||
      fail "$way, round $round: migrate up: all exited 0: $ok, applications: $applied of $total, verify: $verified"
    rm -f "$WORK"/migrator.*.log
    if race "$url" migrate down --all; then ok=1; else ok=0; fi
    reverted=$(counted "^reverted [0-9]")
    left=$(psql -X -qAt -h 127.0.0.1 -U postgres -d "$PG_DB" -c "SELECT count(*) FROM __diesel_schema_migrations" || echo '?')
    [[ $ok == 1 && $reverted == "$total" && $left == 0 ]] &&
      pass "$way, round $round: $SIX migrate down --all at once reverted each once; no record left" ||
      fail "$way, round $round: migrate down --all: all exited 0: $ok, reverts: $reverted of $total, records left: $left"
  done
done
finish
