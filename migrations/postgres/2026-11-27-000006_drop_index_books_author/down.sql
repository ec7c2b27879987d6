CREATE INDEX CONCURRENTLY IF NOT EXISTS books_author_idx ON books (author);
