#!/usr/bin/env bash
# Starts Debian's PgBouncer in front of a PostgreSQL server, in
# `pool_mode = transaction` (or $POOL_MODE), listening on 127.0.0.1:$PORT
# (a free port by default), and prints the server URL through it
# (postgres://USER@127.0.0.1:PORT; append /DATABASE).
#
#   bash scripts/pgbouncer/start.sh POSTGRES_URL [DIR]
#
# POSTGRES_URL names the server (trust auth, as on the CI machine); DIR
# (a new temporary one by default) holds the config, the log and the pid
# file: stop it with `kill $(cat DIR/pgbouncer.pid)`. Installs pgbouncer
# with apt-get when it is missing.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 POSTGRES_URL [DIR]" >&2; exit 2; }
server=$1
dir=${2:-$(mktemp -d)}
port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mode=${POOL_MODE:-transaction}
if ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >&2
fi
read -r host pg_port user < <(python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(p.hostname or "127.0.0.1", p.port or 5432, p.username or "postgres")' "$server")
mkdir -p "$dir"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $mode
max_client_conn = 400
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
printf '"%s" ""\n' "$user" >"$dir/userlist.txt"
# PgBouncer refuses to run as root.
chown -R postgres "$dir" 2>/dev/null || true
if [[ $(id -u) -eq 0 ]]; then
  su postgres -s /bin/sh -c "/usr/sbin/pgbouncer -d '$dir/pgbouncer.ini'"
else
  /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
fi
for _ in $(seq 50); do
  if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    echo "postgres://$user@127.0.0.1:$port"
    exit 0
  fi
  sleep 0.1
done
echo "pgbouncer did not listen on 127.0.0.1:$port; see $dir/pgbouncer.log" >&2
exit 1
