-- 2026-11-27-223007_add_row_versions (postgres): written by `bookshelf migrate diff` from src/schema.rs.
--   add column books.version Integer (existing rows: 1)
--   add column reviews.version Integer (existing rows: 1)
-- Give up rather than make every other query wait behind this migration's locks;
-- raise statement_timeout for a long backfill.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
ALTER TABLE books ADD COLUMN version INTEGER DEFAULT 1 NOT NULL;
ALTER TABLE reviews ADD COLUMN version INTEGER DEFAULT 1 NOT NULL;
