-- lint: allow require-lock-timeout: CONCURRENTLY blocks neither reads nor writes, and Diesel CLI sends a file whole, so this file holds the one statement
-- lint: allow require-statement-timeout: dropping an index takes no time once its lock is granted
DROP INDEX CONCURRENTLY IF EXISTS books_author_created_at_id_idx;
