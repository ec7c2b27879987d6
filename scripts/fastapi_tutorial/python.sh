#!/usr/bin/env bash
# Runs app_db.py (a database as the tutorials' FastAPI app leaves it) in a
# virtualenv holding requirements.txt, made under target/ the first time (a
# lock keeps parallel tests from making it twice).
#
#   bash scripts/fastapi_tutorial/python.sh create_all|alembic URL
#
# Exits 3 when the virtualenv cannot be made (no python3, no package
# registry), so that a test can tell that from a failure of app_db.py.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${FASTAPI_TUTORIAL_VENV:-$root/target/fastapi-tutorial-venv}
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  if ! { python3 -m venv "$venv" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"; } >&2; then
    echo "cannot make the virtualenv $venv with $here/requirements.txt (python3 -m venv, then pip install)" >&2
    rm -rf "$venv"
    exit 3
  fi
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
flock -u 9
exec "$venv/bin/python" "$here/app_db.py" "$@"
