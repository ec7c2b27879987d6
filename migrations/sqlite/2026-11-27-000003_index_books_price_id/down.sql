DROP INDEX books_price_id_idx;
