-- GET /books?sort=price and sort=-price read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
CREATE INDEX books_price_id_idx ON books (price, id);
