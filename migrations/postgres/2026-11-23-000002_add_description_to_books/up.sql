-- lint: allow require-lock-timeout: only an empty database runs this migration (a new install applies it before any replica serves; every existing database has it)
-- lint: allow require-statement-timeout: only an empty database runs this migration (a new install applies it before any replica serves; every existing database has it)
ALTER TABLE books ADD COLUMN description TEXT CHECK (length(description) <= 2000);
