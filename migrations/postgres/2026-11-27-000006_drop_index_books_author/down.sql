-- lint: allow require-lock-timeout: CONCURRENTLY blocks neither reads nor writes, and Diesel CLI sends a file whole, so this file holds the one statement
-- lint: allow require-statement-timeout: building the index on a large table takes as long as it takes, without blocking anyone
CREATE INDEX CONCURRENTLY IF NOT EXISTS books_author_idx ON books (author);
