-- books (author, id), from the migration before, serves the author filter too.
DROP INDEX books_author_idx;
