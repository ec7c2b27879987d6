-- 2026-11-27-223007_add_row_versions (sqlite): written by `bookshelf migrate diff` from src/schema.rs.
--   add column books.version Integer (existing rows: 1)
--   add column reviews.version Integer (existing rows: 1)
ALTER TABLE books ADD COLUMN version INTEGER DEFAULT 1 NOT NULL;
ALTER TABLE reviews ADD COLUMN version INTEGER DEFAULT 1 NOT NULL;
