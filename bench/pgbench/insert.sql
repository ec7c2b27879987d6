-- pgbench script of bench/run.sh: the row bookshelf inserts for POST /books
-- (one INSERT ... RETURNING every column, eight parameters in prepared mode;
-- the title is unique per client and transaction). bookshelf writes it as
-- INSERT ... SELECT $1, ... so that diesel caches it (src/models/book.rs).
-- Run: pgbench -n -M prepared -c 8 -j 2 -T 10 -D tag=run1 -D ts='2026-01-01 00:00:00.000001' -f insert.sql URL
\set n random(1, 1000000000)
\set price random(0, 99) + 0.5
\set rating random(1, 5)
\set published random(0, 1)
INSERT INTO books (title, author, price, rating, published, description, created_at, updated_at) VALUES ('pgbench ' || :tag || ' c' || :client_id || ' n' || :n, 'Bench Author ' || :rating, :price, :rating, :published::boolean, 'Written by the benchmark.', :ts, :ts) RETURNING id, title, author, price, rating, published, created_at, updated_at, description;
