#!/usr/bin/env bash
# Browser test of the Swagger UI at /docs, against a bookshelf binary.
#
#   bash scripts/browser/run.sh BINARY      e.g. bash scripts/browser/run.sh target/release/bookshelf
#
# Installs Chromium from Debian (apt-get) if /usr/bin/chromium is missing and
# playwright-core (npm ci) if scripts/browser/node_modules is missing, starts
# BINARY on 127.0.0.1, a free port and a fresh SQLite database in a temporary
# directory, waits for GET /ready to answer 200, then runs docs.mjs, which saves
# a screenshot to target/docs-screenshot.png. Exits with docs.mjs's status.
# No browser is ever downloaded by a tool of its own: playwright-core drives
# the system Chromium.
set -euo pipefail

READY_TIMEOUT_S=${READY_TIMEOUT_S:-30}

if [[ $# -ne 1 ]]; then
  echo "usage: bash scripts/browser/run.sh BINARY" >&2
  exit 2
fi
if [[ ! -x $1 ]]; then
  echo "run.sh: $1 is not an executable file" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
started_at=$(date +%s)

# Chromium, from Debian's packages.
if [[ ! -x /usr/bin/chromium ]]; then
  echo "run.sh: /usr/bin/chromium missing: apt-get install chromium"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends chromium
fi

# playwright-core, exactly as package-lock.json pins it.
if [[ ! -d $here/node_modules/playwright-core ]]; then
  echo "run.sh: npm ci in scripts/browser"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/bookshelf-docs.XXXXXX")
server_pid=
cleanup() {
  local status=$?
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s $workdir/server.log ]]; then
    echo "run.sh: last lines of the server's log:" >&2
    tail -n 20 "$workdir/server.log" >&2
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on now (the kernel picks it).
port=$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
base=http://127.0.0.1:$port

# Run from the empty temporary directory, with ROCKET_CONFIG naming a file
# that does not exist, so no Rocket.toml (here or in a parent) is read.
(
  cd "$workdir"
  exec env -u ROCKET_DATABASE_URL -u ROCKET_PROFILE \
    ROCKET_CONFIG="$workdir/Rocket.toml" \
    DATABASE_URL="$workdir/docs.db" \
    ROCKET_ADDRESS=127.0.0.1 \
    ROCKET_PORT="$port" \
    "$binary"
) >"$workdir/server.log" 2>&1 &
server_pid=$!
echo "run.sh: started $binary (pid $server_pid) on $base, database $workdir/docs.db"

deadline=$((SECONDS + READY_TIMEOUT_S))
ready() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));' "$base/ready"
}
until ready; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: the server exited before GET /ready answered 200" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "run.sh: GET $base/ready did not answer 200 within ${READY_TIMEOUT_S} s" >&2
    exit 1
  fi
  sleep 0.2
done
echo "run.sh: GET /ready answered 200 after $(($(date +%s) - started_at)) s"

mkdir -p "$root/target"
status=0
node "$here/docs.mjs" "$base" "$root/target/docs-screenshot.png" || status=$?
echo "run.sh: docs.mjs exited $status after $(($(date +%s) - started_at)) s in all"
exit "$status"
