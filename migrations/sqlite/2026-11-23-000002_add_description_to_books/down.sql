ALTER TABLE books DROP COLUMN description;
