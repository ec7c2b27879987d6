//! The migrations: the same versions for both backends, each reversible, and
//! a failed one leaves the database at the previous version.

use std::collections::BTreeSet;
use std::path::Path;

use bookshelf::config::Settings;
use bookshelf::db::Backend;
use bookshelf::schema::{books, reviews};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;

use crate::helpers::{backend, connect, postgres_or_skip, TestDb};

/// How many migrations there are: books, description, reviews, then
/// [`LATER`].
const MIGRATIONS: usize = 3 + LATER;
/// The migrations after create_reviews: they add and drop indexes, add the
/// row versions, and bound the price; none removes a table or a row.
const LATER: usize = 8;

/// The migration versions in a folder, checking each has both scripts.
fn versions(dir: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .map(|entry| {
            let entry = entry.unwrap();
            for script in ["up.sql", "down.sql"] {
                let text = std::fs::read_to_string(entry.path().join(script))
                    .unwrap_or_else(|e| panic!("{:?}/{script}: {e}", entry.file_name()));
                assert!(
                    !text.trim().is_empty(),
                    "{:?}/{script} is empty",
                    entry.file_name()
                );
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn both_backends_have_the_same_migration_versions() {
    let sqlite = versions("migrations/sqlite");
    let postgres = versions("migrations/postgres");
    assert_eq!(sqlite, postgres);
    assert_eq!(sqlite.len(), MIGRATIONS);
}

/// Applies all, steps down one migration at a time checking what each one
/// undid, then applies all again and uses the schema.
fn apply_revert_apply(db: &TestDb, backend: Backend) {
    let mut conn = connect(db);
    assert_eq!(
        conn.run_pending_migrations(bookshelf::migrations::embedded(backend))
            .unwrap()
            .len(),
        MIGRATIONS
    );
    assert!(!conn
        .has_pending_migration(bookshelf::migrations::embedded(backend))
        .unwrap());
    let count_reviews =
        |conn: &mut bookshelf::db::DbConn| reviews::table.count().get_result::<i64>(conn);
    let read_descriptions = |conn: &mut bookshelf::db::DbConn| {
        books::table
            .select(books::description)
            .load::<Option<String>>(conn)
    };
    let count_books =
        |conn: &mut bookshelf::db::DbConn| books::table.count().get_result::<i64>(conn);
    assert_eq!(count_reviews(&mut conn), Ok(0));

    for _ in 0..LATER {
        conn.revert_last_migration(bookshelf::migrations::embedded(backend))
            .unwrap();
        assert_eq!(count_reviews(&mut conn), Ok(0), "reviews stays");
    }
    conn.revert_last_migration(bookshelf::migrations::embedded(backend))
        .unwrap();
    assert!(count_reviews(&mut conn).is_err(), "reviews is dropped");
    assert!(read_descriptions(&mut conn).is_ok());

    conn.revert_last_migration(bookshelf::migrations::embedded(backend))
        .unwrap();
    assert!(
        read_descriptions(&mut conn).is_err(),
        "description is dropped"
    );
    assert_eq!(count_books(&mut conn), Ok(0));

    conn.revert_last_migration(bookshelf::migrations::embedded(backend))
        .unwrap();
    assert!(count_books(&mut conn).is_err(), "books is dropped");
    assert!(conn.applied_migrations().unwrap().is_empty());

    assert_eq!(
        conn.run_pending_migrations(bookshelf::migrations::embedded(backend))
            .unwrap()
            .len(),
        MIGRATIONS
    );
    conn.batch_execute(
        "INSERT INTO books (title, author, price, rating, published, description) \
         VALUES ('t', 'a', 1, 1, TRUE, 'd'); \
         INSERT INTO reviews (book_id, author, content) SELECT id, 'r', 'c' FROM books;",
    )
    .unwrap();
    assert_eq!(count_reviews(&mut conn), Ok(1));
}

#[test]
fn sqlite_migrations_apply_revert_and_apply_again() {
    apply_revert_apply(&TestDb::sqlite(), Backend::Sqlite);
}

#[test]
fn postgres_migrations_apply_revert_and_apply_again() {
    if let Some(server) = postgres_or_skip("postgres_migrations_apply_revert_and_apply_again") {
        apply_revert_apply(&TestDb::postgres(&server), Backend::Postgres);
    }
}

#[test]
fn database_constraints_hold_without_the_api() {
    let db = TestDb::new();
    let mut conn = connect(&db);
    conn.run_pending_migrations(bookshelf::migrations::embedded(backend()))
        .unwrap();
    for bad in [
        "INSERT INTO books (title, author, price, rating) VALUES ('t', 'a', -1, 3)",
        "INSERT INTO books (title, author, price, rating) VALUES ('t', 'a', 1, 6)",
        "INSERT INTO books (title, author, price, rating) VALUES ('', 'a', 1, 3)",
        "INSERT INTO books (title, author, price, rating) VALUES (NULL, 'a', 1, 3)",
        "INSERT INTO reviews (book_id, author, content) VALUES (12345, 'a', 'c')",
    ] {
        assert!(conn.batch_execute(bad).is_err(), "accepted: {bad}");
    }
}

#[test]
fn a_failed_migration_stops_startup_naming_it_and_keeps_the_previous_version() {
    let db = TestDb::new();
    {
        let mut conn = connect(&db);
        conn.run_pending_migrations(bookshelf::migrations::embedded(backend()))
            .unwrap();
        for _ in 0..=LATER {
            conn.revert_last_migration(bookshelf::migrations::embedded(backend()))
                .unwrap();
        }
        // create_reviews creates `reviews`, then this index name: taking
        // the name makes it fail halfway.
        conn.batch_execute("CREATE INDEX reviews_book_id_idx ON books (author)")
            .unwrap();
    }
    let settings = Settings {
        database_url: db.url(),
        ..Settings::default()
    };
    let error = match bookshelf::prepare_database(&settings, Default::default()) {
        Ok(_) => panic!("start-up succeeded over a failing migration"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("2026-11-23-000003_create_reviews"),
        "{error}"
    );
    assert!(
        error.contains("reviews_book_id_idx"),
        "the database's reason: {error}"
    );

    let mut conn = connect(&db);
    assert_eq!(conn.applied_migrations().unwrap().len(), 2);
    assert!(
        reviews::table.count().get_result::<i64>(&mut conn).is_err(),
        "the failed migration's table was rolled back"
    );
}

#[test]
fn startup_applies_only_pending_migrations() {
    let db = TestDb::new();
    {
        let mut conn = connect(&db);
        conn.run_pending_migrations(bookshelf::migrations::embedded(backend()))
            .unwrap();
        conn.revert_last_migration(bookshelf::migrations::embedded(backend()))
            .unwrap();
        conn.batch_execute(
            "INSERT INTO books (title, author, price, rating) VALUES ('kept', 'a', 1, 3)",
        )
        .unwrap();
    }
    let settings = Settings {
        database_url: db.url(),
        ..Settings::default()
    };
    assert!(bookshelf::prepare_database(&settings, Default::default()).is_ok());
    let mut conn = connect(&db);
    assert_eq!(conn.applied_migrations().unwrap().len(), MIGRATIONS);
    let titles: Vec<String> = books::table.select(books::title).load(&mut conn).unwrap();
    assert_eq!(titles, ["kept"]);
}

#[test]
fn concurrent_startups_on_an_empty_database_all_succeed() {
    for round in 0..5 {
        let db = TestDb::new();
        let settings = Settings {
            database_url: db.url(),
            ..Settings::default()
        };
        let barrier = std::sync::Barrier::new(4);
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        bookshelf::prepare_database(&settings, Default::default())
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            starts.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(
            results.iter().all(Result::is_ok),
            "round {round}: {results:?}"
        );
        let mut conn = connect(&db);
        assert_eq!(
            conn.applied_migrations().unwrap().len(),
            MIGRATIONS,
            "round {round}"
        );
    }
}

/// For each migration in turn: the schema after up then down is the schema
/// before up, and up after down gives the same schema as the first up.
fn each_migration_reverts_exactly(db: &TestDb, backend: Backend) {
    let mut conn = connect(db);
    let source = || bookshelf::migrations::embedded(backend);
    // diesel's own table first, so it is not part of the first difference.
    conn.applied_migrations().unwrap();
    let count = bookshelf::migrations::scripts(backend).len();
    for step in 0..count {
        let name = &bookshelf::migrations::scripts(backend)[step].name;
        let before = bookshelf_migrate::catalog::snapshot(&mut conn).unwrap();
        conn.run_next_migration(source()).unwrap();
        let after_up = bookshelf_migrate::catalog::snapshot(&mut conn).unwrap();
        assert_ne!(before, after_up, "{name} changed nothing");
        conn.revert_last_migration(source()).unwrap();
        let after_down = bookshelf_migrate::catalog::snapshot(&mut conn).unwrap();
        assert_eq!(before, after_down, "{name}: down.sql does not undo up.sql");
        conn.run_next_migration(source()).unwrap();
        assert_eq!(
            after_up,
            bookshelf_migrate::catalog::snapshot(&mut conn).unwrap(),
            "{name}: up after down differs from the first up"
        );
    }
}

#[test]
fn each_sqlite_migration_reverts_exactly() {
    each_migration_reverts_exactly(&TestDb::sqlite(), Backend::Sqlite);
}

#[test]
fn each_postgres_migration_reverts_exactly() {
    if let Some(server) = postgres_or_skip("each_postgres_migration_reverts_exactly") {
        each_migration_reverts_exactly(&TestDb::postgres(&server), Backend::Postgres);
    }
}
