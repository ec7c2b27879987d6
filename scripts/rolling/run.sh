#!/usr/bin/env bash
# Rolling upgrade under load (issue 11): three replicas of BINARY behind
# haproxy on one PostgreSQL, under constant mixed reads and writes, are
# replaced one at a time by a second binary built from this tree plus one
# expand migration (two nullable columns and an index built CONCURRENTLY)
# and one contract migration (one of those columns dropped); then the
# contract step. rolling.py prints requests sent, non-2xx, writes
# acknowledged against rows present, and the longest lock wait seen, and
# exits 1 unless every request succeeded and every acknowledged write is there.
#
#   bash scripts/rolling/run.sh BINARY POSTGRES_SERVER_URL
#   e.g. bash scripts/rolling/run.sh target/release/bookshelf postgres://postgres@127.0.0.1:5432/postgres
#
# Installs haproxy from Debian's packages if it is missing. Builds the second
# binary in target/ (the same dependencies; only bookshelf is compiled again)
# and puts BINARY back where it was.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: bash scripts/rolling/run.sh BINARY POSTGRES_SERVER_URL" >&2
  exit 2
fi
binary_a=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
server=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v haproxy >/dev/null; then
  echo "run.sh: haproxy missing: apt-get install haproxy"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends haproxy
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$binary_a" "$work/bookshelf-a"

# The second binary's tree: this one, plus the two migrations.
mkdir "$work/tree"
tar -C "$root" --exclude=./target --exclude=./.git --exclude=./scripts/browser/node_modules -cf - . \
  | tar -C "$work/tree" -xf -
expand=2099-01-01-000001_add_isbn_and_subtitle
contract=2099-01-01-000002_drop_subtitle
pg=$work/tree/migrations/postgres
lite=$work/tree/migrations/sqlite
mkdir -p "$pg/$expand" "$pg/$contract" "$lite/$expand" "$lite/$contract"
cat >"$pg/$expand/up.sql" <<'SQL'
SET lock_timeout = '5s';
SET statement_timeout = '1min';
ALTER TABLE books ADD COLUMN IF NOT EXISTS isbn TEXT;
ALTER TABLE books ADD COLUMN IF NOT EXISTS subtitle TEXT;
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_isbn_idx ON books (isbn);
SQL
cat >"$pg/$expand/down.sql" <<'SQL'
SET lock_timeout = '5s';
SET statement_timeout = '1min';
DROP INDEX CONCURRENTLY IF EXISTS books_isbn_idx;
ALTER TABLE books DROP COLUMN IF EXISTS subtitle;
ALTER TABLE books DROP COLUMN IF EXISTS isbn;
SQL
printf 'run_in_transaction = false\n' >"$pg/$expand/metadata.toml"
cat >"$pg/$contract/up.sql" <<'SQL'
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
-- lint: allow ban-drop-column: no binary reads subtitle; it runs only after every replica runs this one
ALTER TABLE books DROP COLUMN subtitle;
SQL
printf 'ALTER TABLE books ADD COLUMN subtitle TEXT;\n' >"$pg/$contract/down.sql"
printf 'run_in_transaction = true\ncontract = true\n' >"$pg/$contract/metadata.toml"
cat >"$lite/$expand/up.sql" <<'SQL'
ALTER TABLE books ADD COLUMN isbn TEXT;
ALTER TABLE books ADD COLUMN subtitle TEXT;
CREATE INDEX books_isbn_idx ON books (isbn);
SQL
printf 'DROP INDEX books_isbn_idx;\nALTER TABLE books DROP COLUMN subtitle;\nALTER TABLE books DROP COLUMN isbn;\n' >"$lite/$expand/down.sql"
cat >"$lite/$contract/up.sql" <<'SQL'
-- lint: allow ban-drop-column: no binary reads subtitle; it runs only after every replica runs this one
ALTER TABLE books DROP COLUMN subtitle;
SQL
printf 'ALTER TABLE books ADD COLUMN subtitle TEXT;\n' >"$lite/$contract/down.sql"
printf 'run_in_transaction = true\ncontract = true\n' >"$lite/$contract/metadata.toml"
sed -i 's/^        description -> Nullable<Text>,$/        description -> Nullable<Text>,\n        isbn -> Nullable<Text>,/' "$work/tree/src/schema.rs"
grep -q 'isbn -> Nullable<Text>' "$work/tree/src/schema.rs"

echo "== the new migrations pass migrate lint"
"$binary_a" migrate lint --dir "$work/tree/migrations" "$expand" "$contract"

echo "== building the second binary"
# Another package name, so that its build script's output (which names the
# migration files by absolute path) does not replace this tree's in target/;
# the dependencies are shared. The library and binary keep their names.
sed -i '0,/^name = "bookshelf"$/s//name = "bookshelf-rolling"/' "$work/tree/Cargo.toml"
printf '\n[lib]\nname = "bookshelf"\npath = "src/lib.rs"\n\n[[bin]]\nname = "bookshelf"\npath = "src/main.rs"\n' \
  >>"$work/tree/Cargo.toml"
(cd "$work/tree" && CARGO_TARGET_DIR="$root/target" cargo build --release --quiet --bin bookshelf)
cp "$root/target/release/bookshelf" "$work/bookshelf-b"
cp "$work/bookshelf-a" "$root/target/release/bookshelf"

python3 "$here/rolling.py" "$work/bookshelf-a" "$work/bookshelf-b" "$server" "$work" "$contract"
