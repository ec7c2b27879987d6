-- GET /books?sort=title and sort=-title read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
-- CONCURRENTLY: replicas keep writing while it is built (hence metadata.toml).
-- lint: allow require-lock-timeout: CONCURRENTLY blocks neither reads nor writes, and Diesel CLI sends a file whole, so this file holds the one statement
-- lint: allow require-statement-timeout: building the index on a large table takes as long as it takes, without blocking anyone
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_id_idx ON books (title, id);
