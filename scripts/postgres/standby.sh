#!/usr/bin/env bash
# Makes a hot standby of a local PostgreSQL cluster: a new cluster (Debian's
# pg_createcluster) on another port, filled by pg_basebackup -R so that it
# streams the primary's WAL (with a fast checkpoint: a spread one waited
# minutes), started, and waited for until it replays.
# Prints its URL (postgres://postgres@127.0.0.1:PORT; append /DATABASE).
#
#   bash scripts/postgres/standby.sh PRIMARY_CLUSTER STANDBY_CLUSTER STANDBY_PORT
#
# e.g. `standby.sh main replica 5433`. A standby of that name that already
# replays is kept (its replay resumed, if a test paused it); one that does not (a promoted one, a stopped one) is
# dropped and made anew. The primary's pg_hba.conf gets
# `host replication all 127.0.0.1/32 trust` (and a reload) when it lacks it.
# Drop the standby with: pg_dropcluster --stop VERSION STANDBY_CLUSTER
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 PRIMARY_CLUSTER STANDBY_CLUSTER STANDBY_PORT" >&2; exit 2; }
primary=$1 standby=$2 port=$3
version=$(ls /etc/postgresql | sort -n | tail -1)
ctl() { pg_ctlcluster --skip-systemctl-redirect "$version" "$@"; }
primary_port=$(pg_conftool -s "$version" "$primary" show port)
psql_at() { psql -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"; }

if pg_lsclusters -h | awk -v v="$version" -v c="$standby" '$1 == v && $2 == c' | grep -q .; then
  if [[ $(psql_at "$port" 'SELECT pg_is_in_recovery()' 2>/dev/null) == t ]]; then
    # A test that paused its replay and was killed would leave it paused.
    psql_at "$port" 'SELECT pg_wal_replay_resume()' >/dev/null
    echo "postgres://postgres@127.0.0.1:$port"
    exit 0
  fi
  echo "standby.sh: cluster $version/$standby exists but is not a running standby; making it anew" >&2
  pg_dropcluster --stop "$version" "$standby" >&2
fi

hba=/etc/postgresql/$version/$primary/pg_hba.conf
if ! grep -qE '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
  echo 'host replication all 127.0.0.1/32 trust' >>"$hba"
  ctl "$primary" reload >&2
fi

pg_createcluster "$version" "$standby" -p "$port" >/dev/null
data=/var/lib/postgresql/$version/$standby
find "$data" -mindepth 1 -delete
su postgres -c "pg_basebackup -h 127.0.0.1 -p $primary_port -U postgres -D $data -R -X stream -c fast" >&2
cp "$hba" "/etc/postgresql/$version/$standby/pg_hba.conf"
ctl "$standby" start >&2
for _ in $(seq 1 100); do
  [[ $(psql_at "$port" 'SELECT pg_is_in_recovery()' 2>/dev/null) == t ]] && break
  sleep 0.1
done
if [[ $(psql_at "$port" 'SELECT pg_is_in_recovery()' 2>/dev/null) != t ]]; then
  echo "standby.sh: $version/$standby on port $port did not start as a standby; its log: /var/log/postgresql/postgresql-$version-$standby.log" >&2
  exit 1
fi
echo "postgres://postgres@127.0.0.1:$port"
