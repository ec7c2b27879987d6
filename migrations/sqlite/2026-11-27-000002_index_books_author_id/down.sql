DROP INDEX books_author_id_idx;
