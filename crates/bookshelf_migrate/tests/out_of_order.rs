//! A migration merged late from another branch: its version is older than
//! the newest one the database has applied. `up` refuses it, naming both,
//! history marks it, and `up` with `out_of_order` applies it.

use std::path::Path;
use std::time::Duration;

use bookshelf_migrate::{Backend, DatabaseUrl, Error, UpOptions, UpTo};
use bookshelf_test_db::{postgres_or_skip, TestDb};
use diesel_migrations::FileBasedMigrations;

fn migration(root: &Path, backend: Backend, name: &str, up: &str, down: &str) {
    let folder = root.join(backend.name()).join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("up.sql"), up).unwrap();
    std::fs::write(folder.join("down.sql"), down).unwrap();
}

const FIRST: &str = "2025-01-01-000000_create_shelves";
const LATE: &str = "2025-01-02-000000_add_label";
const NEWEST: &str = "2025-01-03-000000_add_location";

#[test]
fn a_migration_older_than_the_newest_applied_is_refused_marked_and_applied_on_request() {
    let server = postgres_or_skip("the PostgreSQL half of the out-of-order test");
    let mut backends = vec![Backend::Sqlite];
    if server.is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let dir = tempfile::tempdir().unwrap();
        let create = match backend {
            Backend::Sqlite => "CREATE TABLE shelves (id INTEGER PRIMARY KEY NOT NULL);",
            Backend::Postgres => "CREATE TABLE shelves (id INTEGER PRIMARY KEY);",
        };
        migration(dir.path(), backend, FIRST, create, "DROP TABLE shelves;");
        migration(
            dir.path(),
            backend,
            NEWEST,
            "ALTER TABLE shelves ADD COLUMN location TEXT;",
            "ALTER TABLE shelves DROP COLUMN location;",
        );
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres(server.as_deref().unwrap()),
        };
        let url = DatabaseUrl::parse(&db.url(), Duration::from_secs(3)).unwrap();
        let mut conn = bookshelf_migrate::open(&url, Duration::from_secs(3)).unwrap();
        let source = FileBasedMigrations::from_path(dir.path().join(backend.name())).unwrap();
        assert_eq!(
            bookshelf_migrate::up(&mut conn, &url, &source, UpTo::Latest).unwrap(),
            [FIRST, NEWEST]
        );

        // The other branch's migration arrives with an older version.
        migration(
            dir.path(),
            backend,
            LATE,
            "ALTER TABLE shelves ADD COLUMN label TEXT;",
            "ALTER TABLE shelves DROP COLUMN label;",
        );
        let history = bookshelf_migrate::history(&mut conn, &url, &source).unwrap();
        let marked: Vec<&str> = history
            .iter()
            .filter(|m| m.out_of_order)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(marked, [LATE], "{}", backend.name());

        let refused = bookshelf_migrate::up(&mut conn, &url, &source, UpTo::Latest).unwrap_err();
        assert!(
            matches!(&refused, Error::OutOfOrder { older, newest } if older == &[LATE] && newest == NEWEST),
            "{}: {refused:?}",
            backend.name()
        );
        let message = refused.to_string();
        assert!(
            message.starts_with(&format!(
                "pending migration {LATE} is older than {NEWEST}, which is already applied"
            )) && message.contains("bookshelf migrate up --out-of-order"),
            "{message}"
        );
        // Nothing ran: the column the late migration adds is not there.
        let columns = bookshelf_migrate::catalog::read(&mut conn).unwrap();
        let shelves = columns.table("shelves").unwrap();
        assert!(shelves.column("label").is_none(), "{}", backend.name());
        // A step count or a target does not get past the check either.
        assert!(matches!(
            bookshelf_migrate::up(&mut conn, &url, &source, UpTo::Steps(1)),
            Err(Error::OutOfOrder { .. })
        ));

        let options = UpOptions {
            out_of_order: true,
            ..UpOptions::default()
        };
        let applied =
            bookshelf_migrate::up_with_options(&mut conn, &url, &source, UpTo::Latest, options)
                .unwrap();
        assert_eq!(applied, [LATE], "{}", backend.name());
        let history = bookshelf_migrate::history(&mut conn, &url, &source).unwrap();
        assert!(history
            .iter()
            .all(|m| m.applied_at.is_some() && !m.out_of_order));
        let verification = bookshelf_migrate::verify(&mut conn, &url, &source).unwrap();
        assert!(verification.problems.is_empty(), "{verification:?}");
    }
}
