# Shared by the reliability checks: sourced, not run.
#
# A check script sets CHECK (its name) and LIMIT (seconds it may take), then
# sources this file with its arguments ("$@"): BINARY first. It gets:
#   pass MSG / fail MSG      count a result (and print it)
#   start_server LOG URL [VAR=VALUE...]   start bookshelf on a free port of
#                            127.0.0.1; sets SERVER_PID, PORT, BASE
#   wait_ready [SECONDS]     wait until GET /ready answers 200; prints the
#                            seconds since the server was started
#   py_checks CMD...         run a helper printing PASS/FAIL lines, count them
#   stop_server              SIGKILL the current server (and reap it)
#   check_survived PID LOG   the server still runs, launched once, no panic
#   pg_create_db             a fresh PostgreSQL database; sets PG_URL, PG_DB
#   pg_own_clusters MODE     a primary and a streaming standby of their own
#   finish                   exit; the EXIT trap cleans up and prints the
#                            closing line "CHECK: N passed, N failed"
# Every server started and every database created is killed / dropped by an
# EXIT trap, and the whole script runs under `timeout LIMIT`.
# Environment: ROCKET_CONFIG (default: the repository's Rocket.toml),
# KEEP_WORK=1 keeps the scratch directory (logs, databases) of a passing run.
set -euo pipefail

: "${CHECK:?set CHECK before sourcing common.sh}"
: "${LIMIT:=120}"

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BOOKSHELF_BINARY" >&2
  exit 2
fi

# Bound the whole check in time: re-run this script under timeout(1), which
# signals the script's whole process group (load clients, servers) on expiry.
if [[ -z ${RELIABILITY_BOUNDED:-} ]]; then
  export RELIABILITY_BOUNDED=1
  # timeout(1) runs in a process group of its own, so pass on ^C and TERM.
  timeout -k 10 "$LIMIT" bash "$0" "$@" &
  bounded=$!
  trap 'kill -TERM "$bounded" 2>/dev/null' INT TERM
  status=0
  wait "$bounded" || status=$?
  while kill -0 "$bounded" 2>/dev/null; do
    status=0
    wait "$bounded" || status=$?
  done
  # On SIGTERM the check prints its own closing line; after a SIGKILL
  # (it ignored the TERM for 10 s) it could not.
  if [[ $status -eq 137 ]]; then
    echo "$CHECK: killed after its ${LIMIT}s time limit"
    echo "$CHECK: 0 passed, 1 failed"
  fi
  [[ $status -ne 124 ]] || status=1
  exit "$status"
fi

REL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$REL_DIR/../.." && pwd)
BIN=$(realpath "$1")
[[ -x $BIN ]] || { echo "$BIN is not an executable" >&2; exit 2; }
REL_PY=$REL_DIR/rel.py
# The servers read this Rocket.toml (the repository's unless ROCKET_CONFIG is
# set: a binary must be run with the configuration of its own revision).
CONFIG=$(realpath "${ROCKET_CONFIG:-$ROOT/Rocket.toml}")
export PGOPTIONS="-c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
WORK=$(mktemp -d "/tmp/bookshelf-rel-$CHECK.XXXXXX")
PASSED=0
FAILED=0
SERVER_PID=
ALL_PIDS=()
PG_DBS=()
PG_CLUSTERS=()

pass() { PASSED=$((PASSED + 1)); echo "  PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; }
info() { echo "  ..    $*"; }
# check DESCRIPTION COMMAND...: pass if the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

FINISHED=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -z $FINISHED ]]; then
    case $status in
      143) echo "  FAIL  stopped by SIGTERM (the ${LIMIT}s time limit, or an interruption)" ;;
      130) echo "  FAIL  interrupted" ;;
      *) echo "  FAIL  the script stopped early (exit status $status)" ;;
    esac
    FAILED=$((FAILED + 1))
    [[ $status -ne 0 ]] || status=1
  fi
  local pid
  for pid in "${ALL_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  local cluster
  for cluster in "${PG_CLUSTERS[@]}"; do
    pg_lsclusters -h | awk -v c="$cluster" '$2 == c' | grep -q . &&
      { pg_dropcluster --stop "$PG_VERSION" "$cluster" >/dev/null 2>&1 ||
        echo "warning: could not drop cluster $PG_VERSION/$cluster" >&2; }
  done
  local db
  for db in "${PG_DBS[@]}"; do
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "warning: could not drop database $db" >&2
  done
  if [[ -n ${KEEP_WORK:-} || $status -ne 0 ]]; then
    echo "  (logs and files kept in $WORK)"
  else
    rm -rf "$WORK"
  fi
  echo "$CHECK: $PASSED passed, $FAILED failed"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# py_checks COMMAND...: runs a helper that prints "PASS msg" / "FAIL msg"
# lines, counting them; other lines are shown. A helper that fails without
# printing a FAIL line is itself a failure.
py_checks() {
  local line out status=0 failed_before=$FAILED
  out=$("$@" 2>&1) || status=$?
  while IFS= read -r line; do
    case $line in
      "PASS "*) pass "${line#PASS }" ;;
      "FAIL "*) fail "${line#FAIL }" ;;
      "") ;;
      *) echo "        $line" ;;
    esac
  done <<<"$out"
  if [[ $status -ne 0 && $FAILED -eq $failed_before ]]; then
    fail "helper '$*' exited $status"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOG DATABASE_URL [VAR=VALUE ...]
start_server() {
  local log=$1 url=$2
  shift 2
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  (
    cd "$WORK"
    exec env ROCKET_CONFIG="$CONFIG" DATABASE_URL="$url" \
      ROCKET_ADDRESS=127.0.0.1 ROCKET_PORT="$PORT" ROCKET_LOG_LEVEL=critical \
      ROCKET_CLI_COLORS=false "$@" "$BIN"
  ) >>"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_STARTED=$(date +%s.%N)
  ALL_PIDS+=("$SERVER_PID")
}

# wait_ready [SECONDS]: waits for GET /ready → 200; prints the seconds it took
# (since start_server); fails (returns 1) if the server exits or the time runs out.
wait_ready() {
  python3 "$REL_PY" wait-ready --base "$BASE" --pid "$SERVER_PID" \
    --since "$SERVER_STARTED" --timeout "${1:-30}"
}

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

pg_available() {
  "${PSQL[@]}" -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

# pg_create_db: creates a fresh database (dropped by the EXIT trap); sets
# PG_URL to its URL and PG_DB to its name. Not to be called in $(...): the
# trap would not know the database.
pg_create_db() {
  PG_DB=bookshelf_rel_${CHECK//-/_}_$$_${#PG_DBS[@]}
  PG_DBS+=("$PG_DB")
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  PG_URL=postgres://postgres@127.0.0.1/$PG_DB
}

# pg_own_clusters MODE: a primary and a streaming hot standby of their own
# (two new clusters on free ports: pg_createcluster, then
# scripts/postgres/standby.sh; the main cluster is never touched), dropped by
# the EXIT trap. MODE sync sets `synchronous_standby_names = '*'` on the
# primary; async leaves replication asynchronous. Sets PG_VERSION,
# PRIMARY_CLUSTER, STANDBY_CLUSTER, PRIMARY_PORT, STANDBY_PORT; pg_ctl
# CLUSTER ACTION... runs pg_ctlcluster on one of them. Needs root and
# Debian's postgresql-common. Not to be called in $(...).
pg_ctl() { pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$@"; }
pg_own_clusters() {
  local mode=$1
  command -v pg_createcluster >/dev/null ||
    { fail "pg_createcluster is missing (Debian's postgresql-common)"; finish; }
  PG_VERSION=$(ls /etc/postgresql | sort -n | tail -1)
  PRIMARY_CLUSTER=bookshelf_${CHECK//-/_}_a_$$
  STANDBY_CLUSTER=bookshelf_${CHECK//-/_}_b_$$
  PG_CLUSTERS+=("$PRIMARY_CLUSTER" "$STANDBY_CLUSTER")
  PRIMARY_PORT=$(free_port)
  STANDBY_PORT=$(free_port)
  pg_createcluster "$PG_VERSION" "$PRIMARY_CLUSTER" -p "$PRIMARY_PORT" >/dev/null
  cp "/etc/postgresql/$PG_VERSION/main/pg_hba.conf" "/etc/postgresql/$PG_VERSION/$PRIMARY_CLUSTER/pg_hba.conf"
  if [[ $mode == sync ]]; then
    pg_conftool -s "$PG_VERSION" "$PRIMARY_CLUSTER" set synchronous_standby_names '*'
  fi
  pg_ctl "$PRIMARY_CLUSTER" start
  bash "$ROOT/scripts/postgres/standby.sh" "$PRIMARY_CLUSTER" "$STANDBY_CLUSTER" "$STANDBY_PORT" >/dev/null
  info "primary $PRIMARY_CLUSTER on port $PRIMARY_PORT, standby $STANDBY_CLUSTER on port $STANDBY_PORT, replication $mode:" \
    "$("${PSQL[@]}" -At -p "$PRIMARY_PORT" -d postgres -c "SELECT string_agg(state || '/' || sync_state, ',') FROM pg_stat_replication")"
}

# log_has_panic LOG: true when the log shows a panic.
log_has_panic() { grep -qi "panicked" "$1"; }

# check_survived PID LOG: passes if server PID still runs, launched once (no
# restart), and LOG shows no panic; two results.
check_survived() {
  local pid=$1 log=$2
  if kill -0 "$pid" 2>/dev/null && [[ $(grep -c "Rocket has launched" "$log") -eq 1 ]]; then
    pass "bookshelf was not restarted: process $pid, launched once, still running"
  else
    fail "bookshelf did not survive: process $pid alive? $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
  fi
  if log_has_panic "$log"; then
    fail "the server log shows a panic:"; grep -m5 -i panicked "$log"
  else
    pass "no \"panicked\" in the server log"
  fi
}

# finish: ends the check; the EXIT trap prints the closing line.
finish() {
  FINISHED=1
  if [[ $FAILED -eq 0 && $PASSED -gt 0 ]]; then exit 0; else exit 1; fi
}

echo "== $CHECK ($(basename "$BIN"), limit ${LIMIT}s)"
