DROP INDEX books_author_price_id_idx;
