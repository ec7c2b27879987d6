DROP INDEX books_author_title_id_idx;
