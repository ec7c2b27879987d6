-- GET /books?author=...&sort=price (and -price) reads its page in the order of this index:
-- without it, a database scans the price order for the author's books (at a million books,
-- PostgreSQL read 29,600 rows for one page).
-- CONCURRENTLY: replicas keep writing while it is built (hence metadata.toml).
-- lint: allow require-lock-timeout: CONCURRENTLY blocks neither reads nor writes, and Diesel CLI sends a file whole, so this file holds the one statement
-- lint: allow require-statement-timeout: building the index on a large table takes as long as it takes, without blocking anyone
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_author_price_id_idx ON books (author, price, id);
