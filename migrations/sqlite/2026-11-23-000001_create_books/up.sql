-- Books, without a description yet: that column comes in the next migration.
CREATE TABLE books (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    author TEXT NOT NULL CHECK (length(author) BETWEEN 1 AND 100),
    price DOUBLE NOT NULL CHECK (price >= 0),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    published BOOLEAN NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX books_author_idx ON books (author);
