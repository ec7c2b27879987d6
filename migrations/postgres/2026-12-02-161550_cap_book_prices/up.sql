-- 2026-12-02-161550_cap_book_prices (postgres): written by `bookshelf migrate diff` from the model (src/schema.rs, src/constraints.rs).
--   drop check books_price_check (price >= 0) on books
--   add check books_price_check (price BETWEEN 0 AND 1000000) on books
-- A constraint is added NOT VALID in one transaction (a moment's lock) and validated
-- in the next (a scan that blocks neither reads nor writes), so this migration runs
-- outside diesel's transaction (metadata.toml) in transactions of its own.
BEGIN;
-- Give up rather than make every other query wait behind this migration's locks;
-- raise statement_timeout for a long backfill.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
ALTER TABLE books DROP CONSTRAINT books_price_check;
-- Stop here, before anything changes, if rows break what comes next.
DO $bookshelf$ DECLARE n bigint; BEGIN
    SELECT (SELECT count(*) FROM books WHERE NOT (price BETWEEN 0 AND 1000000)) INTO n;
    IF n > 0 THEN
        RAISE EXCEPTION '% row(s) break %; fix or delete them, then migrate again', n, 'check books_price_check (price BETWEEN 0 AND 1000000) on books';
    END IF;
END $bookshelf$;
ALTER TABLE books DROP CONSTRAINT IF EXISTS books_price_check;
ALTER TABLE books ADD CONSTRAINT books_price_check CHECK (price BETWEEN 0 AND 1000000) NOT VALID;
COMMIT;
BEGIN;
-- Give up rather than make every other query wait behind this migration's locks;
-- raise statement_timeout for a long backfill.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
ALTER TABLE books VALIDATE CONSTRAINT books_price_check;
COMMIT;
