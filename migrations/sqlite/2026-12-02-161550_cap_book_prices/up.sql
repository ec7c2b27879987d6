-- 2026-12-02-161550_cap_book_prices (sqlite): written by `bookshelf migrate diff` from the model (src/schema.rs, src/constraints.rs).
--   drop check books_price_check (price >= 0) on books
--   add check books_price_check (price BETWEEN 0 AND 1000000) on books
-- SQLite rebuilds a table to change a column. Foreign keys are off while it does
-- (dropping the old table must not delete or check its children's rows), so
-- this migration runs outside diesel's transaction (metadata.toml) in its own.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
-- Stop here, before anything changes, if rows break what comes next.
CREATE TEMP TABLE _bookshelf_rebuild_guard (n INTEGER);
CREATE TEMP TRIGGER _bookshelf_rebuild_guard_stop BEFORE INSERT ON _bookshelf_rebuild_guard WHEN NEW.n > 0 BEGIN
    SELECT RAISE(ABORT, NEW.n || ' row(s) break ' || 'check books_price_check (price BETWEEN 0 AND 1000000) on books' || '; fix or delete them, then migrate again');
END;
INSERT INTO _bookshelf_rebuild_guard (n) SELECT count(*) FROM books WHERE NOT (price BETWEEN 0 AND 1000000);
DROP TABLE _bookshelf_rebuild_guard;
-- Rebuild books: new table, copy, drop, rename.
CREATE TABLE _bookshelf_rebuild (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    author TEXT NOT NULL CHECK (length(author) BETWEEN 1 AND 100),
    price DOUBLE NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    published BOOLEAN NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
, description TEXT CHECK (length(description) <= 2000), version INTEGER DEFAULT 1 NOT NULL,
    CONSTRAINT books_price_check CHECK (price BETWEEN 0 AND 1000000));
INSERT INTO _bookshelf_rebuild (id, title, author, price, rating, published, created_at, updated_at, description, version) SELECT id, title, author, price, rating, published, created_at, updated_at, description, version FROM books;
DELETE FROM sqlite_sequence WHERE name = '_bookshelf_rebuild';
INSERT INTO sqlite_sequence (name, seq) SELECT '_bookshelf_rebuild', seq FROM sqlite_sequence WHERE name = 'books';
-- lint: allow table-rebuild: books is copied once, under SQLite's write lock; at bookshelf's sizes (thousands of rows) that takes milliseconds
DROP TABLE books;
ALTER TABLE _bookshelf_rebuild RENAME TO books;
CREATE INDEX books_title_id_idx ON books (title, id);
CREATE INDEX books_author_id_idx ON books (author, id);
CREATE INDEX books_price_id_idx ON books (price, id);
CREATE INDEX books_rating_id_idx ON books (rating, id);
CREATE INDEX books_created_at_id_idx ON books (created_at, id);
-- Stop here unless every foreign key still holds (PRAGMA foreign_key_check):
CREATE TEMP TABLE _bookshelf_rebuild_check (failures INTEGER CHECK (failures = 0));
INSERT INTO _bookshelf_rebuild_check SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE _bookshelf_rebuild_check;
COMMIT;
PRAGMA foreign_keys = ON;
