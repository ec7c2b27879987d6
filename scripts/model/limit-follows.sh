#!/usr/bin/env bash
# One declaration per limit (issue 20): a copy of this tree with one limit
# changed in src/constraints.rs (a rating from 1..=5 to 1..=10), then
# - `bookshelf migrate diff` writes the CHECK's change for both backends;
# - the copy's binary, built from it, refuses 11 and accepts 7 with the
#   API's 422, says maximum 10 in /openapi.json, and its SQLite database
#   (migrated by the binary at start) refuses 11 written directly;
# - this tree's BINARY, as a baseline, still refuses 7.
# Prints PASS/FAIL lines and exits 1 on any FAIL.
#
#   bash scripts/model/limit-follows.sh BINARY POSTGRES_SERVER_URL
#
# Builds the copy in target/ under another package name (the dependencies
# are shared; only bookshelf is compiled again), then puts back what it
# replaced there.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: bash scripts/model/limit-follows.sh BINARY POSTGRES_SERVER_URL" >&2
  exit 2
fi
binary_a=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
server=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -p "$binary_a" "$work/bookshelf-a"
mkdir "$work/tree"
tar -C "$root" --exclude=./target --exclude=./.git --exclude=./scripts/browser/node_modules -cf - . \
  | tar -C "$work/tree" -xf -

sed -i 's/check(rating in 1..=5);/check(rating in 1..=10);/' "$work/tree/src/constraints.rs"
grep -q 'check(rating in 1..=10);' "$work/tree/src/constraints.rs"

echo "== migrate diff on the changed model"
(cd "$work/tree" && "$work/bookshelf-a" migrate diff raise_rating_limit --postgres "$server")

echo "== building the changed tree"
sed -i '0,/^name = "bookshelf"$/s//name = "bookshelf-limits"/' "$work/tree/Cargo.toml"
printf '\n[lib]\nname = "bookshelf"\npath = "src/lib.rs"\n\n[[bin]]\nname = "bookshelf"\npath = "src/main.rs"\n' \
  >>"$work/tree/Cargo.toml"
built="$root/target/debug/bookshelf"
saved=
if [[ -e $built ]]; then
  saved="$work/bookshelf-debug-saved"
  cp -p "$built" "$saved"
fi
(cd "$work/tree" && CARGO_TARGET_DIR="$root/target" cargo build --quiet --bin bookshelf)
cp -p "$built" "$work/bookshelf-b"
if [[ -n $saved ]]; then cp -p "$saved" "$built"; fi

python3 "$here/limits.py" "$work" "$work/bookshelf-a" "$work/bookshelf-b"
