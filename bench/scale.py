#!/usr/bin/env python3
"""Does a list request cost the same at a million books as at ten thousand?
(issue 12, item 5)

Usage: bench/scale.py [BINARY]        (default: target/release/bookshelf)

For each backend, two servers of BINARY run side by side, each on a fresh
database: one with SCALE_SMALL books (default 10,000), one with SCALE_LARGE
(default 1,000,000), inserted with SQL after the server applied its
migrations, then ANALYZEd (PostgreSQL: VACUUM ANALYZE, as autovacuum would
leave a table that grew over time). Each request below is sent to one
server, then the other, alternately, one at a time over a kept-alive
connection: 3 unrecorded rounds, then SCALE_REPEAT (default 15) recorded
ones. The report gives each request's median at both sizes and their ratio;
the target is a ratio of at most 2.

Requests: GET /books/{id} (a book in the middle of the table); the first
page in the default order and in every sort order the API offers; a page in
the middle of the table reached with a cursor (`after`), in id order and in
`-price` order; the deepest offset (10,000); the author filter (each author
has 1 in 1,000 books), alone and with `sort=-price`.

Environment: SCALE_BACKENDS="sqlite postgres", SCALE_SMALL, SCALE_LARGE,
SCALE_REPEAT, SCALE_PG_URL=postgres://postgres@127.0.0.1:5432 (the server the
databases are created on), SCALE_OUT=FILE (the Markdown report; default:
standard output). Needs python3 and, for PostgreSQL, psql.
"""

import base64
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/bookshelf"))
BACKENDS = os.environ.get("SCALE_BACKENDS", "sqlite postgres").split()
SMALL = int(os.environ.get("SCALE_SMALL", "10000"))
LARGE = int(os.environ.get("SCALE_LARGE", "1000000"))
REPEAT = int(os.environ.get("SCALE_REPEAT", "15"))
PG_URL = os.environ.get("SCALE_PG_URL", "postgres://postgres@127.0.0.1:5432")
SORTS = ["id", "-id", "title", "-title", "author", "-author", "price", "-price",
         "rating", "-rating", "created_at", "-created_at"]


def log(message):
    print(f"scale: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """BINARY serving one database, started in an empty directory."""

    def __init__(self, work, name, database_url):
        self.port = free_port()
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        env = {"PATH": os.environ["PATH"], "HOME": self.dir, "LANG": "C.UTF-8",
               "DATABASE_URL": database_url, "ROCKET_ADDRESS": "127.0.0.1",
               "ROCKET_PORT": str(self.port), "ROCKET_LOG_LEVEL": "critical",
               "ROCKET_CLI_COLORS": "false", "ROCKET_CONFIG": os.path.join(self.dir, "none.toml")}
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.process = subprocess.Popen([BINARY, "serve"], cwd=self.dir, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while True:
            try:
                if self.request("/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                sys.exit(f"scale: the server for {name} did not start; see {self.log.name}")
            time.sleep(0.1)
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    def timed(self, path):
        """Milliseconds from sending the request to the end of the body."""
        start = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            sys.exit(f"scale: GET {path} answered {response.status}: {body[:300]!r}")
        return elapsed

    def stop(self):
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def seed_sqlite(path, books):
    db = sqlite3.connect(path, timeout=30)
    db.executescript(f"""
        BEGIN IMMEDIATE;
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {books})
        INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
        SELECT printf('%08x', (n * 2654435761) % 4294967296), 'Author ' || (n % 1000),
               ((n * 7919) % 100000) / 100.0, 1 + (n * 31) % 5, n % 2,
               strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || n || ' seconds'),
               strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || n || ' seconds'),
               'The description of book ' || n || '.'
        FROM s;
        COMMIT;
        ANALYZE;
    """)
    db.close()


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def seed_postgres(url, books):
    psql(url, f"""
        INSERT INTO books (title, author, price, rating, published, created_at, updated_at, description)
        SELECT lpad(to_hex((n::bigint * 2654435761) % 4294967296), 8, '0'), 'Author ' || (n % 1000),
               ((n::bigint * 7919) % 100000) / 100.0, 1 + (n * 31) % 5, n % 2 = 1,
               timestamp '2026-01-01' + n * interval '1 second',
               timestamp '2026-01-01' + n * interval '1 second',
               'The description of book ' || n || '.'
        FROM generate_series(1, {books}) AS n""")
    psql(url, "VACUUM ANALYZE books")


def cursor(sort, key, book_id):
    text = json.dumps({"s": sort, "k": key, "id": book_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def middle_price_row(server, books):
    """The book in the middle of the `-price` order, read through the API:
    GET /books/{id} gives the price of the middle book by id; the cursor
    starts at that price, which is as deep in the price order as any."""
    status, body = server.request(f"/books/{books // 2}")
    assert status == 200, body
    return json.loads(body)["price"]


def requests_for(server, books):
    middle = books // 2
    price = middle_price_row(server, books)
    author = urllib.parse.quote("Author 123")
    requests = [(f"GET /books/{{id}} (id {middle:,})", f"/books/{middle}"),
                ("first page, default order", "/books?limit=20")]
    requests += [(f"first page, sort={s}", f"/books?limit=20&sort={s}") for s in SORTS]
    requests += [
        ("middle page by cursor, sort=id", f"/books?limit=20&after={cursor('id', None, middle)}"),
        ("middle page by cursor, sort=-price",
         f"/books?limit=20&sort=-price&after={cursor('-price', price, middle)}"),
        ("deepest offset (10,000)", "/books?limit=20&offset=10000"),
        ("author filter", f"/books?limit=20&author={author}"),
        ("author filter, sort=-price", f"/books?limit=20&author={author}&sort=-price"),
    ]
    return requests


def measure(small, large):
    """[(label, small median, large median)], alternating the two servers."""
    rows = []
    small_requests = requests_for(small, SMALL)
    large_requests = requests_for(large, LARGE)
    for (label, small_path), (_, large_path) in zip(small_requests, large_requests):
        times = {"small": [], "large": []}
        for round_ in range(3 + REPEAT):
            for size, server, path in (("small", small, small_path), ("large", large, large_path)):
                elapsed = server.timed(path)
                if round_ >= 3:
                    times[size].append(elapsed)
        rows.append((label, statistics.median(times["small"]), statistics.median(times["large"])))
        log(f"  {label}: {rows[-1][1]:.2f} ms / {rows[-1][2]:.2f} ms")
    return rows


def run_backend(work, backend):
    servers, drop = [], []
    try:
        for name, books in (("small", SMALL), ("large", LARGE)):
            if backend == "sqlite":
                path = os.path.join(work, f"{backend}-{name}.db")
                server = Server(work, f"{backend}-{name}", path)
                seed = lambda: seed_sqlite(path, books)  # noqa: E731
            else:
                database = f"bookshelf_scale_{os.getpid()}_{name}"
                psql(f"{PG_URL}/postgres", f"CREATE DATABASE {database}")
                drop.append(database)
                url = f"{PG_URL}/{database}"
                server = Server(work, f"{backend}-{name}", url)
                seed = lambda: seed_postgres(url, books)  # noqa: E731
            servers.append(server)
            started = time.time()
            seed()
            log(f"{backend}: {books:,} books inserted in {time.time() - started:.0f} s")
        return measure(*servers)
    finally:
        for server in servers:
            server.stop()
        for database in drop:
            psql(f"{PG_URL}/postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main():
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"scale: no executable binary at {BINARY} (build it with: cargo build --release)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bookshelf-scale-") as work:
        for backend in BACKENDS:
            log(f"{backend}: {SMALL:,} and {LARGE:,} books")
            results[backend] = run_backend(work, backend)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = [f"Medians of {REPEAT} single requests, the two sizes alternated, release binary "
             f"`{BINARY}` (HEAD {commit}), `{os.path.basename(sys.argv[0])}` run on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; target: at "
             f"{LARGE:,} books at most 2x the median at {SMALL:,}.", ""]
    for backend, rows in results.items():
        met = sum(1 for _, small, large in rows if large <= 2 * small)
        lines += [f"**{backend}**: {met} of {len(rows)} requests within 2x.", "",
                  f"| request | {SMALL:,} books, ms | {LARGE:,} books, ms | ratio | within 2x |",
                  "|---|---:|---:|---:|---|"]
        for label, small, large in rows:
            verdict = "yes" if large <= 2 * small else "**no**"
            lines.append(f"| {label} | {small:.2f} | {large:.2f} | {large / small:.2f} | {verdict} |")
        lines.append("")
    report = "\n".join(lines)
    out = os.environ.get("SCALE_OUT")
    if out:
        with open(out, "w") as f:
            f.write(report + "\n")
        log(f"report written to {out}")
    print(report)
    return 0 if all(large <= 2 * small for rows in results.values() for _, small, large in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
