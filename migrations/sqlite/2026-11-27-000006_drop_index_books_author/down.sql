CREATE INDEX books_author_idx ON books (author);
