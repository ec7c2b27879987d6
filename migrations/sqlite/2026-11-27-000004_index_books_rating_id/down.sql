DROP INDEX books_rating_id_idx;
