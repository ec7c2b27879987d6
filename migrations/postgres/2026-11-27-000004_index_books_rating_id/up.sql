-- GET /books?sort=rating and sort=-rating read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
-- CONCURRENTLY: replicas keep writing while it is built (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_rating_id_idx ON books (rating, id);
