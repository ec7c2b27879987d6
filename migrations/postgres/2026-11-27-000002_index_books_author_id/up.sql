-- GET /books?sort=author and sort=-author read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
-- It also serves the author filter, so 2026-11-27-000006 drops books (author).
-- CONCURRENTLY: replicas keep writing while it is built (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_author_id_idx ON books (author, id);
