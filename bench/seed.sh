# Sourced by bench/ab.sh and bench/instructions.sh: a database per server
# on a PostgreSQL server, and the 10,000 books each is seeded with.

pg_url() { # the URL of database $2 on the server of URL $1
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$1" "$2"
}

# The INSERT of the seeded books: $1 the `published` expression (a boolean on
# PostgreSQL, an integer on SQLite), $2 the rows numbered n to select from.
seed_sql() {
    cat <<SQL
INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
SELECT 'Seed book ' || n, 'Author ' || (n % 500), (n % 100) + 0.99, (n % 5) + 1, $1,
       '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'The description of seed book ' || n || '.'
FROM $2;
SQL
}
