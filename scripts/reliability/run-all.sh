#!/usr/bin/env bash
# Runs every reliability check against one bookshelf binary, one after the
# other, and fails if any fails. Each check prints what it checked and ends
# with "CHECK: N passed, N failed"; this ends with
# "reliability: N passed, N failed", counting checks.
#
#   bash scripts/reliability/run-all.sh BINARY [CHECK...]
# CHECK names a subset (e.g. `crash pool`). By default the six checks of
# issue 5 run, with shutdown-locked.sh (a SIGTERM while writers wait on a
# lock) and migrators.sh (six migrators racing, directly and through
# PgBouncer in transaction mode); `all` adds pg-outage.sh (a PostgreSQL outage through a proxy; its 2 s
# recovery target has a thin margin on a loaded machine), failover.sh (a
# primary crashed and its standby promoted) and standby-down.sh (a standby
# stopped under reads); the last two need root and Debian's pg_createcluster. Needs
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust) for the PostgreSQL
# parts; each check creates and drops its own database. A release binary is
# best for the load-heavy checks. ROCKET_CONFIG (default: the repository's
# Rocket.toml) is passed on. About 1.5-2 minutes in all on 2 cores.
set -uo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 BINARY [CHECK...]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=$1
shift
checks=("$@")
[[ ${#checks[@]} -gt 0 ]] || checks=(hostile pool pg-backends shutdown shutdown-locked crash no-lost-writes migrators)
[[ ${checks[*]} != all ]] ||
  checks=(hostile pool pg-backends pg-outage shutdown shutdown-locked crash no-lost-writes migrators failover standby-down)

passed=0
failed=0
results=()
for check in "${checks[@]}"; do
  script=$here/$check.sh
  if [[ ! -f $script ]]; then
    echo "no such check: $check" >&2
    failed=$((failed + 1))
    results+=("$check: missing")
    continue
  fi
  start=$(date +%s)
  status=0
  bash "$script" "$binary" || status=$?
  took=$(($(date +%s) - start))
  if [[ $status -eq 0 ]]; then
    passed=$((passed + 1))
    results+=("PASS  $check (${took}s)")
  else
    failed=$((failed + 1))
    results+=("FAIL  $check (exit $status, ${took}s)")
  fi
  echo
done
echo "== summary"
printf '  %s\n' "${results[@]}"
echo "reliability: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
