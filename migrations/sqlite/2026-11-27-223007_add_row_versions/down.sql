-- 2026-11-27-223007_add_row_versions (sqlite): written by `bookshelf migrate diff` from src/schema.rs.
--   add column books.version Integer (existing rows: 1)
--   add column reviews.version Integer (existing rows: 1)
-- Undoes up.sql, newest change first.
ALTER TABLE reviews DROP COLUMN version;
ALTER TABLE books DROP COLUMN version;
