#!/usr/bin/env bash
# The peer (bench/peer, axum + sqlx) started the way bench/ab.sh starts
# bookshelf, so that ab.sh can load both side by side:
#   bench/ab.sh target/release/bookshelf bench/peer.sh
# It applies bookshelf's migrations to DATABASE_URL first (the peer runs
# none), with BOOKSHELF (default target/release/bookshelf), then runs the
# peer on ROCKET_ADDRESS:ROCKET_PORT with ROCKET_DATABASE_POOL_SIZE (8).
# The argument ab.sh passes (serve) is ignored.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bookshelf=${BOOKSHELF:-$here/../target/release/bookshelf}
peer=${PEER_BINARY:-$here/peer/target/release/bookshelf-peer}
"$bookshelf" migrate up >/dev/null
exec env PEER_ADDR="${ROCKET_ADDRESS:-127.0.0.1}:${ROCKET_PORT:?}" \
    PEER_POOL_SIZE="${ROCKET_DATABASE_POOL_SIZE:-8}" "$peer"
