//! `bookshelf migrate`: moving the schema version, on the suite's backend.

use crate::helpers::migrate::{self, Direction, DownTo, Problem, UpTo};
use bookshelf::config::{MigrateMode, Settings};
use bookshelf::db::{self, DatabaseUrl, DbConn};
use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;

use crate::helpers::{backend, TestDb};

const BOOKS: &str = "2026-11-23-000001_create_books";
const DESCRIPTION: &str = "2026-11-23-000002_add_description_to_books";
const REVIEWS: &str = "2026-11-23-000003_create_reviews";
/// The migrations after [`REVIEWS`]: an index for each sort order, the row
/// versions of books and reviews (their ETags), then the price's upper bound.
const LATER: [&str; 8] = [
    "2026-11-27-000001_index_books_title_id",
    "2026-11-27-000002_index_books_author_id",
    "2026-11-27-000003_index_books_price_id",
    "2026-11-27-000004_index_books_rating_id",
    "2026-11-27-000005_index_books_created_at_id",
    "2026-11-27-000006_drop_index_books_author",
    "2026-11-27-223007_add_row_versions",
    "2026-12-02-161550_cap_book_prices",
];

/// `first`, then [`LATER`].
fn then_later(first: &[&'static str]) -> Vec<&'static str> {
    [first, &LATER[..]].concat()
}

fn open(db: &TestDb) -> (DbConn, DatabaseUrl) {
    let settings = Settings {
        database_url: db.url(),
        ..Settings::default()
    };
    db::open_connection(&settings).expect("open the test database")
}

fn applied(conn: &mut DbConn, url: &DatabaseUrl) -> Vec<String> {
    migrate::history(conn, url)
        .unwrap()
        .into_iter()
        .filter(|m| m.applied_at.is_some())
        .map(|m| m.name)
        .collect()
}

#[test]
fn history_lists_every_migration_with_when_it_was_applied() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    let history = migrate::history(&mut conn, &url).unwrap();
    assert_eq!(
        history.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        then_later(&[BOOKS, DESCRIPTION, REVIEWS])
    );
    assert!(history.iter().all(|m| m.applied_at.is_none()));
    assert_eq!(history[0].version, "20261123000001");
    migrate::up(&mut conn, &url, UpTo::Steps(1)).unwrap();
    let history = migrate::history(&mut conn, &url).unwrap();
    assert!(history[0].applied_at.is_some());
    assert!(history[1].applied_at.is_none());
    assert_eq!(
        migrate::pending_names(&mut conn, &url).unwrap(),
        then_later(&[DESCRIPTION, REVIEWS])
    );
}

#[test]
fn up_goes_as_far_as_asked() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    assert_eq!(
        migrate::up(&mut conn, &url, UpTo::Steps(1)).unwrap(),
        [BOOKS]
    );
    assert_eq!(
        migrate::up(&mut conn, &url, UpTo::Version(DESCRIPTION.into())).unwrap(),
        [DESCRIPTION]
    );
    assert_eq!(
        migrate::up(&mut conn, &url, UpTo::Latest).unwrap(),
        then_later(&[REVIEWS])
    );
    assert!(migrate::up(&mut conn, &url, UpTo::Latest)
        .unwrap()
        .is_empty());
    assert_eq!(
        applied(&mut conn, &url),
        then_later(&[BOOKS, DESCRIPTION, REVIEWS])
    );
}

#[test]
fn up_to_an_applied_version_is_refused_and_changes_nothing() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Version(DESCRIPTION.into())).unwrap();
    let error = migrate::up(&mut conn, &url, UpTo::Version(BOOKS.into())).unwrap_err();
    assert!(error.to_string().contains("already applied"), "{error}");
    assert_eq!(applied(&mut conn, &url), [BOOKS, DESCRIPTION]);
}

#[test]
fn down_goes_as_far_as_asked_and_refuses_what_it_cannot_do() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    assert_eq!(
        migrate::down(&mut conn, &url, DownTo::Steps(LATER.len() + 1)).unwrap(),
        LATER
            .iter()
            .rev()
            .chain([&REVIEWS])
            .copied()
            .collect::<Vec<_>>()
    );
    let error = migrate::down(&mut conn, &url, DownTo::Steps(3)).unwrap_err();
    assert!(error.to_string().contains("2 applied"), "{error}");
    let error = migrate::down(&mut conn, &url, DownTo::Version(REVIEWS.into())).unwrap_err();
    assert!(error.to_string().contains("not applied"), "{error}");
    assert_eq!(applied(&mut conn, &url), [BOOKS, DESCRIPTION]);
    assert_eq!(
        migrate::down(&mut conn, &url, DownTo::Version(BOOKS.into())).unwrap(),
        [DESCRIPTION]
    );
    assert_eq!(
        migrate::down(&mut conn, &url, DownTo::All).unwrap(),
        [BOOKS]
    );
    assert!(applied(&mut conn, &url).is_empty());
    assert!(migrate::down(&mut conn, &url, DownTo::All)
        .unwrap()
        .is_empty());
}

#[test]
fn versions_resolve_by_name_version_prefix_or_label() {
    let backend = backend();
    for query in [
        REVIEWS,
        "2026-11-23-000003",
        "20261123000003",
        "2026112300000",
        "create_reviews",
    ] {
        let found = migrate::resolve(backend, query);
        if query == "2026112300000" {
            let error = found.unwrap_err().to_string();
            assert!(error.contains("several"), "{error}");
        } else {
            assert_eq!(found.unwrap(), REVIEWS, "{query}");
        }
    }
    assert!(migrate::resolve(backend, "2026-11-23-000002").is_ok());
    let error = migrate::resolve(backend, "drop_everything")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no migration matches") && error.contains(BOOKS),
        "{error}"
    );
    assert!(migrate::resolve(backend, "").is_err());
}

#[test]
fn sql_prints_the_scripts_in_order_without_a_database() {
    let backend = backend();
    let up = migrate::sql(backend, Direction::Up, None);
    let books = up.find("CREATE TABLE books").unwrap();
    let description = up.find("ADD COLUMN description").unwrap();
    let reviews = up.find("CREATE TABLE reviews").unwrap();
    assert!(books < description && description < reviews, "{up}");
    let partial = migrate::sql(backend, Direction::Up, Some(BOOKS));
    assert!(partial.contains("CREATE TABLE books") && !partial.contains("ADD COLUMN description"));
    let down = migrate::sql(backend, Direction::Down, Some(BOOKS));
    let reviews = down.find("DROP TABLE reviews").unwrap();
    let description = down.find("DROP COLUMN description").unwrap();
    assert!(reviews < description, "{down}");
    // Down to create_books: it stays (a rebuild of books drops and renames its copy).
    assert!(!down.contains(&format!("-- revert {BOOKS}")), "{down}");
    assert!(down.contains(&format!("-- revert {DESCRIPTION}")), "{down}");
}

#[test]
fn new_creates_one_version_in_every_backend_folder() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["sqlite", "postgres"] {
        std::fs::create_dir(dir.path().join(backend)).unwrap();
    }
    let now = chrono::NaiveDate::from_ymd_opt(2027, 1, 2)
        .unwrap()
        .and_hms_opt(3, 4, 5)
        .unwrap();
    let created = migrate::new(dir.path(), "add_isbn", now).unwrap();
    assert_eq!(created.len(), 2);
    for backend in ["sqlite", "postgres"] {
        let folder = dir.path().join(backend).join("2027-01-02-030405_add_isbn");
        assert!(folder.join("up.sql").is_file(), "{}", folder.display());
        assert!(folder.join("down.sql").is_file(), "{}", folder.display());
    }
    assert!(migrate::new(dir.path(), "Add ISBN!", now).is_err());
    assert!(migrate::new(&dir.path().join("nowhere"), "ok", now).is_err());
    // Made in the same second (or with a clock behind the newest version):
    // the next version still comes after it.
    let created = migrate::new(dir.path(), "add_tags", now).unwrap();
    assert!(
        created[0].ends_with("2027-01-02-030406_add_tags"),
        "{created:?}"
    );
}

#[test]
fn startup_modes_auto_check_and_off() {
    let db = TestDb::new();
    let with = |migrate| Settings {
        database_url: db.url(),
        migrate,
        ..Settings::default()
    };
    assert!(bookshelf::prepare_database(&with(MigrateMode::Off), Default::default()).is_ok());
    let error = match bookshelf::prepare_database(&with(MigrateMode::Check), Default::default()) {
        Ok(_) => panic!("check started with pending migrations"),
        Err(error) => error.to_string(),
    };
    for name in then_later(&[BOOKS, DESCRIPTION, REVIEWS]) {
        assert!(error.contains(name), "{error}");
    }
    assert!(bookshelf::prepare_database(&with(MigrateMode::Auto), Default::default()).is_ok());
    assert!(bookshelf::prepare_database(&with(MigrateMode::Check), Default::default()).is_ok());
    let (mut conn, url) = open(&db);
    assert_eq!(applied(&mut conn, &url).len(), 3 + LATER.len());
}

#[test]
fn checksums_are_recorded_on_up_and_dropped_on_down() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    let verification = migrate::verify(&mut conn, &url).unwrap();
    assert!(
        verification.problems.is_empty(),
        "{:?}",
        verification.problems
    );
    assert!(
        verification.unrecorded.is_empty(),
        "{:?}",
        verification.unrecorded
    );
    migrate::down(&mut conn, &url, DownTo::Steps(1)).unwrap();
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    let summary = migrate::summary(&mut conn, &url).unwrap();
    assert_eq!(
        (summary.applied, summary.pending, summary.checksums_ok),
        (3 + LATER.len(), 0, true)
    );
}

#[test]
fn a_migration_changed_after_it_was_applied_stops_startup_until_accepted() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    // As if create_books' up.sql had been edited since it was applied.
    conn.batch_execute(&format!(
        "UPDATE bookshelf_migrations SET checksum = 'before' WHERE name = '{BOOKS}'"
    ))
    .unwrap();
    let verification = migrate::verify(&mut conn, &url).unwrap();
    let compiled = bookshelf::migrations::scripts(backend())
        .iter()
        .find(|m| m.name == BOOKS)
        .unwrap();
    assert_eq!(
        verification.problems,
        [Problem::Changed {
            name: BOOKS.into(),
            expected: "before".into(),
            found: migrate::checksum(&compiled.up),
        }]
    );
    assert!(!migrate::summary(&mut conn, &url).unwrap().checksums_ok);
    let settings = Settings {
        database_url: db.url(),
        ..Settings::default()
    };
    let error = match bookshelf::prepare_database(&settings, Default::default()) {
        Ok(_) => panic!("started with a changed migration"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(BOOKS) && error.contains("expected before"),
        "{error}"
    );

    migrate::accept(&mut conn, &url, BOOKS).unwrap();
    assert!(migrate::verify(&mut conn, &url)
        .unwrap()
        .problems
        .is_empty());
    assert!(bookshelf::prepare_database(&settings, Default::default()).is_ok());
    assert!(migrate::accept(&mut conn, &url, BOOKS).is_ok());
    migrate::down(&mut conn, &url, DownTo::All).unwrap();
    assert!(
        migrate::accept(&mut conn, &url, BOOKS).is_err(),
        "not applied"
    );
}

#[test]
fn migrations_applied_by_diesel_cli_have_no_checksum_and_are_allowed() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    conn.run_pending_migrations(bookshelf::migrations::embedded(backend()))
        .unwrap();
    let verification = migrate::verify(&mut conn, &url).unwrap();
    assert!(verification.problems.is_empty());
    assert_eq!(
        verification.unrecorded,
        then_later(&[BOOKS, DESCRIPTION, REVIEWS])
    );
    let settings = Settings {
        database_url: db.url(),
        ..Settings::default()
    };
    assert!(bookshelf::prepare_database(&settings, Default::default()).is_ok());
}

#[test]
fn lint_allow_comments_do_not_change_a_checksum_and_other_comments_do() {
    let plain = "CREATE INDEX books_title_idx ON books (title);\n";
    let allowed = "-- lint: allow require-lock-timeout: an empty table\n\
                   CREATE INDEX books_title_idx ON books (title);\n";
    assert_eq!(migrate::checksum(plain), migrate::checksum(allowed));
    let commented = "-- an index\nCREATE INDEX books_title_idx ON books (title);\n";
    assert_ne!(migrate::checksum(plain), migrate::checksum(commented));
}

#[test]
fn line_endings_do_not_change_a_checksum() {
    assert_eq!(
        migrate::checksum("CREATE TABLE a (id INT);\r\nDROP TABLE b;\r\n"),
        migrate::checksum("CREATE TABLE a (id INT);\nDROP TABLE b;\n")
    );
    assert_ne!(
        migrate::checksum("CREATE TABLE a (id INT);\n"),
        migrate::checksum("CREATE TABLE a (id BIGINT);\n")
    );
}

/// Each object src/constraints.rs declares, changed by hand on a database
/// `migrate up` built: verify names it in one line, and only it.
#[test]
fn verify_reports_each_index_check_default_and_foreign_key_that_drifted() {
    let sqlite = matches!(crate::helpers::backend(), bookshelf::db::Backend::Sqlite);
    let cases: [(&str, &str); 4] = [
        (
            "DROP INDEX books_author_id_idx",
            "index books_author_id_idx (author, id) on books is in src/constraints.rs but not in the database",
        ),
        (
            "CREATE UNIQUE INDEX books_title_key ON books (title)",
            "unique index books_title_key (title) on books is in the database but not in src/constraints.rs",
        ),
        (
            if sqlite {
                // SQLite changes a CHECK or default only by a rebuild; a
                // table made again without them stands for one.
                "PRAGMA foreign_keys = OFF; CREATE TABLE r2 (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
                 book_id INTEGER NOT NULL REFERENCES books (id) ON DELETE RESTRICT, author TEXT NOT NULL \
                 CHECK (length(author) BETWEEN 1 AND 50), content TEXT NOT NULL CHECK (length(content) \
                 BETWEEN 1 AND 200), created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, version \
                 INTEGER DEFAULT 1 NOT NULL); DROP TABLE reviews; ALTER TABLE r2 RENAME TO reviews; \
                 CREATE INDEX reviews_book_id_idx ON reviews (book_id); PRAGMA foreign_keys = ON;"
            } else {
                "ALTER TABLE reviews DROP CONSTRAINT reviews_book_id_fkey, ADD CONSTRAINT reviews_book_id_fkey \
                 FOREIGN KEY (book_id) REFERENCES books (id) ON DELETE RESTRICT"
            },
            "foreign key reviews.book_id is book_id -> books on delete restrict in the database, \
             book_id -> books on delete cascade in the model",
        ),
        (
            if sqlite {
                "PRAGMA foreign_keys = OFF; CREATE TABLE r2 (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
                 book_id INTEGER NOT NULL REFERENCES books (id) ON DELETE CASCADE, author TEXT NOT NULL, \
                 content TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 200), created_at TIMESTAMP \
                 NOT NULL, version INTEGER DEFAULT 1 NOT NULL); DROP TABLE reviews; ALTER TABLE r2 \
                 RENAME TO reviews; CREATE INDEX reviews_book_id_idx ON reviews (book_id); \
                 PRAGMA foreign_keys = ON;"
            } else {
                "ALTER TABLE reviews DROP CONSTRAINT reviews_author_check, \
                 ALTER COLUMN created_at DROP DEFAULT"
            },
            "check reviews_author_check (length(author) BETWEEN 1 AND 50) on reviews is in \
             src/constraints.rs but not in the database\nreviews.created_at has default none in the \
             database, now in src/constraints.rs",
        ),
    ];
    for (change, expected) in cases {
        let db = TestDb::new();
        let (mut conn, url) = open(&db);
        migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
        assert_eq!(
            migrate::schema_drift(&mut conn, &url).unwrap(),
            Some(vec![])
        );
        conn.batch_execute(change).unwrap();
        let drifted = migrate::schema_drift(&mut conn, &url).unwrap().unwrap();
        assert_eq!(drifted.join("\n"), expected, "after {change}");
    }
}

#[test]
fn verify_compares_the_live_schema_with_schema_rs() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Steps(2)).unwrap();
    let partial = migrate::schema_drift(&mut conn, &url).unwrap();
    assert!(
        partial.is_none(),
        "not compared while migrations are pending"
    );

    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    let clean = migrate::schema_drift(&mut conn, &url).unwrap();
    assert!(clean.is_some());
    assert!(clean.as_ref().unwrap().is_empty(), "{clean:?}");

    conn.batch_execute("ALTER TABLE books ADD COLUMN isbn TEXT")
        .unwrap();
    let drifted = migrate::schema_drift(&mut conn, &url).unwrap().unwrap();
    assert_eq!(
        drifted,
        ["books.isbn is in the database but not in src/schema.rs"]
    );
    if let DbConn::Postgres(_) = conn {
        conn.batch_execute("ALTER TABLE reviews ALTER COLUMN content DROP NOT NULL")
            .unwrap();
        let drifted = migrate::schema_drift(&mut conn, &url).unwrap().unwrap();
        assert!(
            drifted.contains(
                &"reviews.content is nullable in the database, NOT NULL in src/schema.rs"
                    .to_string()
            ),
            "{:?}",
            drifted
        );
    }
}

#[test]
fn a_failed_read_of_the_migration_records_is_reported_as_such_not_as_the_lock() {
    // bookshelf_migrations exists but cannot be read as bookshelf's table.
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    conn.batch_execute(
        "DROP TABLE bookshelf_migrations; CREATE TABLE bookshelf_migrations (x INTEGER)",
    )
    .unwrap();
    let error = migrate::verify(&mut conn, &url).unwrap_err().to_string();
    assert!(
        error.starts_with("cannot read migration state of "),
        "{error}"
    );
    assert!(!error.contains("lock"), "{error}");
    // Writing a record under the lock fails as a record, not as the lock.
    let error = migrate::down(&mut conn, &url, DownTo::Steps(1))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("cannot update the migration records (bookshelf_migrations)"),
        "{error}"
    );
}

#[test]
fn a_write_lock_held_elsewhere_is_reported_as_the_migration_transaction() {
    // SQLite: another connection holds the write lock, so BEGIN IMMEDIATE
    // gives up after the lock timeout.
    if backend() != db::Backend::Sqlite {
        return;
    }
    let db = TestDb::sqlite();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Steps(1)).unwrap();
    let mut holder = crate::helpers::connect(&db);
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();
    let short = DatabaseUrl::parse(&db.url(), std::time::Duration::from_secs(1)).unwrap();
    let mut waiting = db::connect(&short, std::time::Duration::from_millis(200)).unwrap();
    let error = migrate::up(&mut waiting, &url, UpTo::Latest)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("cannot begin or commit the migration transaction (another process may hold the database's write lock)"),
        "{error}"
    );
    holder.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn start_up_and_migrate_up_refuse_a_migration_older_than_the_newest_applied() {
    let db = TestDb::new();
    let (mut conn, url) = open(&db);
    migrate::up(&mut conn, &url, UpTo::Latest).unwrap();
    // As if DESCRIPTION had come from a branch merged after every later
    // migration was applied: pending, with an older version.
    let version = DESCRIPTION.split('_').next().unwrap().replace('-', "");
    conn.batch_execute(&format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{version}'; \
         DELETE FROM bookshelf_migrations WHERE version = '{version}'"
    ))
    .unwrap();
    let newest = LATER[LATER.len() - 1];
    let expected =
        format!("pending migration {DESCRIPTION} is older than {newest}, which is already applied");

    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
            .env("DATABASE_URL", db.url())
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = run(&["migrate", "up"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {expected}"))
            && stderr.contains("`bookshelf migrate up --out-of-order`"),
        "{stderr}"
    );
    let (code, stdout, _) = run(&["migrate", "status"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains(&format!(
            "[pending]                     {DESCRIPTION} (out of order"
        )),
        "{stdout}"
    );
    let settings = Settings {
        database_url: db.url(),
        migrate: MigrateMode::Auto,
        ..Settings::default()
    };
    let error = match bookshelf::prepare_database(&settings, Default::default()) {
        Ok(_) => panic!("start-up applied a migration out of order"),
        Err(e) => e.to_string(),
    };
    assert!(error.starts_with(&expected), "{error}");
    // Nothing ran: the migration is still pending.
    assert!(!applied(&mut conn, &url).contains(&DESCRIPTION.to_string()));
}
