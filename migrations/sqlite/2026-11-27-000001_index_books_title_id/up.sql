-- GET /books?sort=title and sort=-title read their pages in the order of this index
-- (ties broken by id), whatever the table's size (src/models/page.rs).
CREATE INDEX books_title_id_idx ON books (title, id);
