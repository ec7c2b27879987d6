-- GET /books?sort=created_at and sort=-created_at read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
-- CONCURRENTLY: replicas keep writing while it is built (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_created_at_id_idx ON books (created_at, id);
