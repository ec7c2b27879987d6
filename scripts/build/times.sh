#!/usr/bin/env bash
# Build times of one revision, as a developer meets them: a cold `cargo
# build` (debug) in a fresh clone with its own target directory, then a
# rebuild after touching a route file, then one after touching an engine
# file, each with the crates it recompiled. Give each revision its own line;
# run the revisions you compare one after the other, in one run (the machine
# is shared, so figures from different runs do not compare).
#
# usage: scripts/build/times.sh REV ROUTE_FILE ENGINE_FILE
#   e.g. scripts/build/times.sh HEAD src/routes/books.rs crates/bookshelf_migrate/src/diff.rs
set -euo pipefail
[[ $# -eq 3 ]] || { sed -n '2,11p' "$0" >&2; exit 2; }
rev=$1 route=$2 engine=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/tree"
git -C "$work/tree" checkout -q "$rev"
export CARGO_TARGET_DIR="$work/target"

timed() {
    local log=$1 start end
    shift
    start=$(date +%s.%N)
    (cd "$work/tree" && "$@") >"$log" 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
compiled() { grep -o 'Compiling [^ ]*' "$1" | cut -d' ' -f2 | tr '\n' ' '; }

cold=$(timed "$work/cold.log" cargo build --locked)
touch "$work/tree/$route"
route_s=$(timed "$work/route.log" cargo build --locked)
touch "$work/tree/$engine"
engine_s=$(timed "$work/engine.log" cargo build --locked)
printf '%s (%s): cold %.1f s; touch %s: %.2f s (compiled: %s); touch %s: %.2f s (compiled: %s)\n' \
    "$rev" "$(git -C "$work/tree" rev-parse --short HEAD)" "$cold" \
    "$route" "$route_s" "$(compiled "$work/route.log")" \
    "$engine" "$engine_s" "$(compiled "$work/engine.log")"
