#!/usr/bin/env bash
# Property-based API test: schemathesis, with every check, against a
# bookshelf binary on a fresh database; then its /metrics, read with the
# reference Prometheus client's parser (scripts/metrics/check.py).
#
#   bash scripts/schemathesis/run.sh BINARY DATABASE_URL [extra `st run` options]
#
# DATABASE_URL is a SQLite file that must not exist yet, or a PostgreSQL
# database the caller created empty. schemathesis (pinned below) is installed
# in a virtualenv under target/. Exits non-zero on any failure it reports.
# Environment: SEED (42), MAX_EXAMPLES (300), PORT (a free one).
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 BINARY DATABASE_URL [st options...]" >&2; exit 2; }
ST_VERSION=4.32.5
PROMETHEUS_CLIENT_VERSION=0.23.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "$1")
db=$2
shift 2
[[ -x $binary ]] || { echo "$binary is not an executable" >&2; exit 2; }
case $db in
  postgres://* | postgresql://*) ;;
  *)
    db=$(realpath -m "${db#sqlite://}")
    [[ ! -e $db ]] || { echo "$db exists; give a fresh SQLite file" >&2; exit 2; }
    ;;
esac

venv=$root/target/schemathesis-venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if [[ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $ST_VERSION" ]]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("prometheus_client"))' 2>/dev/null)" != "$PROMETHEUS_CLIENT_VERSION" ]]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
fi

port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
base=http://127.0.0.1:$port
out=$root/target/schemathesis/$(date +%Y%m%dT%H%M%S)-$$
mkdir -p "$out"
work=$(mktemp -d)
(
  cd "$work"
  exec env ROCKET_CONFIG="$root/Rocket.toml" DATABASE_URL="$db" ROCKET_ADDRESS=127.0.0.1 \
    ROCKET_PORT="$port" ROCKET_LOG_LEVEL=critical "$binary"
) >"$out/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ready() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/ready" 2>/dev/null; }
for _ in $(seq 120); do
  ready && break
  kill -0 "$server" 2>/dev/null || { echo "the server exited:" >&2; cat "$out/server.log" >&2; exit 1; }
  sleep 0.5
done
ready || { echo "the server was not ready after 60 s" >&2; exit 1; }

# One worker and no example database, so that a seed reproduces a run.
status=0
timeout 900 "$venv/bin/st" --config-file "$here/schemathesis.toml" --no-color \
  run "$base/openapi.json" --url "$base" \
  --checks all --phases examples,coverage,fuzzing,stateful \
  --seed "${SEED:-42}" --max-examples "${MAX_EXAMPLES:-300}" --workers 1 \
  --generation-database none --request-timeout 10 --output-sanitize false \
  --report junit --report-dir "$out" "$@" 2>&1 | tee "$out/st.txt" || status=$?
# /metrics after that traffic, read by the reference client's parser.
migrations=$(find "$root/migrations/sqlite" -mindepth 1 -maxdepth 1 -type d | wc -l)
"$venv/bin/python" "$root/scripts/metrics/check.py" "$base" "$migrations" || status=1
if grep -qiE "panicked|internal error" "$out/server.log"; then
  echo "the server log shows a panic or an internal error:" >&2
  grep -iE "panicked|internal error" "$out/server.log" | head -20 >&2
  status=1
fi
echo "schemathesis exited $status; report and server log in $out"
exit "$status"
