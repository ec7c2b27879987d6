DROP INDEX books_created_at_id_idx;
