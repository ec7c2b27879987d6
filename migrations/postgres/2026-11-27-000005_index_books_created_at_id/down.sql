DROP INDEX CONCURRENTLY IF EXISTS books_created_at_id_idx;
