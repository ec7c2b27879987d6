#!/usr/bin/env bash
# No lost writes: TOTAL (5,000) POST /books with unique titles from CONNS (64)
# concurrent keep-alive connections, on SQLite and then on PostgreSQL. Pass:
# the number of 201 answers equals the rows added (counted in the database
# and by GET /books?limit=1 "total"), every acknowledged id is a row, the
# titles are all distinct, zero 5xx, and no request left without an answer.
#
#   bash scripts/reliability/no-lost-writes.sh BINARY [BACKEND]
# BACKEND: sqlite, postgres or both (the default). Environment: TOTAL, CONNS.
CHECK=no-lost-writes LIMIT=${LIMIT:-180}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TOTAL=${TOTAL:-5000}
CONNS=${CONNS:-64}
backends=${2:-both}
[[ $backends == both ]] && backends="sqlite postgres"

# How many books the API lists, following each page's `next` cursor (the
# page total is exact only up to 1,000); a book listed twice counts as -1.
api_total() {
  python3 - "$BASE" <<'PY'
import json, sys, urllib.request
ids, after = set(), None
while True:
    url = sys.argv[1] + "/books?limit=100" + (f"&after={after}" if after else "")
    page = json.load(urllib.request.urlopen(url, timeout=10))
    for book in page["items"]:
        if book["id"] in ids:
            print(-1)
            sys.exit()
        ids.add(book["id"])
    after = page["next"]
    if after is None:
        break
print(len(ids))
PY
}

for backend in $backends; do
  echo "-- $backend: $TOTAL POST /books at $CONNS connections"
  if [[ $backend == postgres ]]; then
    if ! pg_available; then fail "PostgreSQL is not reachable on 127.0.0.1:5432"; continue; fi
    pg_create_db; url=$PG_URL
  else
    url=$WORK/no-lost-writes.db
  fi
  log=$WORK/server-$backend.log
  start_server "$log" "$url"
  if ! secs=$(wait_ready 60); then
    fail "$backend: the server did not become ready"; tail -20 "$log"; continue
  fi
  info "ready in ${secs}s"
  before=$(python3 "$REL_PY" count --db "$url")
  acked=$WORK/acked-$backend.txt
  summary=$(python3 "$REL_PY" load --base "$BASE" --conns "$CONNS" --total "$TOTAL" \
    --prefix "nlw-$backend-$$" --acked "$acked" --timeout 60)
  info "load: $summary"
  after=$(python3 "$REL_PY" count --db "$url")
  total=$(api_total)
  read -r n201 n5xx nother nconn < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
st = s["statuses"]
n201 = st.get("201", 0)
n5xx = sum(n for k, n in st.items() if int(k) >= 500)
print(n201, n5xx, sum(st.values()) - n201 - n5xx, s["conn_errors"])' "$summary")
  added=$((after - before))
  info "201 answers: $n201; rows before $before, after $after (added $added); listed by the API $total"
  [[ $n201 -eq $added ]] && pass "$backend: 201 answers ($n201) == rows added ($added)" ||
    fail "$backend: 201 answers ($n201) != rows added ($added)"
  [[ $total -eq $after ]] && pass "$backend: GET /books, page by page, lists $total books == rows in the database" ||
    fail "$backend: GET /books, page by page, lists $total books != rows in the database ($after)"
  [[ $n5xx -eq 0 ]] && pass "$backend: zero 5xx" || fail "$backend: $n5xx answers were 5xx"
  [[ $nconn -eq 0 ]] && pass "$backend: every request was answered (no connection errors)" ||
    fail "$backend: $nconn requests got no answer (their outcome is unknown)"
  [[ $n201 -eq $TOTAL ]] && pass "$backend: all $TOTAL POSTs were 201" ||
    fail "$backend: only $n201 of $TOTAL POSTs were 201 ($nother other 4xx/2xx)"
  py_checks python3 "$REL_PY" db-has-ids --db "$url" --acked "$acked" --label "$backend"
  if [[ $backend == postgres ]]; then
    distinct=$("${PSQL[@]}" -d "${url##*/}" -tAc \
      "SELECT count(DISTINCT title) FROM books WHERE title LIKE 'nlw-%'")
  else
    distinct=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
      "SELECT count(DISTINCT title) FROM books WHERE title LIKE ?", ("nlw-%",)).fetchone()[0])' "$url")
  fi
  [[ $distinct -eq $added ]] && pass "$backend: $distinct distinct titles == rows added (no duplicates)" ||
    fail "$backend: $distinct distinct titles for $added rows added"
  if log_has_panic "$log"; then fail "$backend: the server log shows a panic"; fi
  stop_server
done
finish
