-- pgbench script of bench/run.sh: the statement bookshelf issues for
-- GET /books/{id}, with a random id among the seeded books.
-- Run: pgbench -n -M prepared -c 8 -j 2 -T 10 -D max_id=10000 -f select.sql URL
\set id random(1, :max_id)
SELECT id, title, author, price, rating, published, created_at, updated_at, description FROM books WHERE id = :id;
