-- books (author, id), from the migration before, serves the author filter too.
DROP INDEX CONCURRENTLY IF EXISTS books_author_idx;
