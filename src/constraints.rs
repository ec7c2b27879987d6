//! What src/schema.rs cannot say about the tables: CHECKs, lengths,
//! defaults, indexes and what a foreign key does on delete. Edit it like
//! src/schema.rs, then run `bookshelf migrate diff NAME`: it writes the
//! migrations for both backends. It is compiled in too, so the API's 422s
//! and /openapi.json take their limits from the same declarations
//! (src/models/fields.rs), and `bookshelf migrate verify` compares the live
//! database with it. The syntax is in crates/bookshelf_migrate/src/constraints.rs.

bookshelf_migrate::constraints! {
    books {
        check(length(title) in 1..=200);
        check(length(author) in 1..=100);
        check(price in 0.0..=1_000_000.0);
        check(rating in 1..=5);
        max_length(description, 2000);
        default(published, false);
        default(created_at, now);
        default(updated_at, now);
        default(version, 1);
        // One index per sort order of GET /books, ties broken by id.
        index(title, id);
        index(author, id);
        index(price, id);
        index(rating, id);
        index(created_at, id);
    }
    reviews {
        on_delete(book_id, cascade);
        check(length(author) in 1..=50);
        check(length(content) in 1..=200);
        default(created_at, now);
        default(version, 1);
        index(book_id);
    }
}
