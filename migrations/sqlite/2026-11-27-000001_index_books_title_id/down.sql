DROP INDEX books_title_id_idx;
