ALTER TABLE books ADD COLUMN description TEXT CHECK (length(description) <= 2000);
