//! The engine's diff (`migrate diff`): a matrix of schema changes, each made
//! by editing a copy of the workspace's src/schema.rs (bookshelf's, a
//! real-world project) and generating the migration from its migrations, on
//! SQLite always and on PostgreSQL when TEST_DATABASE_URL is set. Each change is applied to a database holding rows: the rows keep
//! their values, the schema then matches src/schema.rs (no drift), down.sql
//! restores the catalog exactly, and a second diff finds nothing. Every
//! refusal is tested with its message, and nothing is written for it.

use bookshelf_migrate::diff::Options;
use bookshelf_migrate::generate::{self, Request};
use bookshelf_migrate::{catalog, diff, model};
use bookshelf_migrate::{Backend, DbConn};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use bookshelf_test_db::{postgres_url, ProjectCopy, TestDb};

mod constraints;

/// A connection to a test database, as the engine opens one.
fn connect(db: &TestDb) -> DbConn {
    let url = bookshelf_migrate::DatabaseUrl::parse(&db.url(), std::time::Duration::from_secs(3))
        .expect("the test database URL parses");
    bookshelf_migrate::connection::connect(&url, std::time::Duration::from_secs(5))
        .expect("connect to the test database")
}

/// The backends the matrix runs on: SQLite, and PostgreSQL when named.
fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        all.push(Backend::Postgres);
    } else {
        eprintln!("SKIPPED the PostgreSQL half of the diff matrix: TEST_DATABASE_URL is not set");
    }
    all
}

/// A copy of the workspace's own project (bookshelf's migrations and model:
/// a real-world project, named here and nowhere else in the engine) to
/// change, with the engine's requests on it.
struct Project(ProjectCopy);

impl std::ops::Deref for Project {
    type Target = ProjectCopy;

    fn deref(&self) -> &ProjectCopy {
        &self.0
    }
}

impl Project {
    fn new() -> Project {
        Project(ProjectCopy::of(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        ))
    }

    /// The model the migrations should build: src/schema.rs and src/constraints.rs.
    fn model(&self) -> model::Schema {
        bookshelf_migrate::parse_model(&self.schema(), &self.constraints()).unwrap()
    }

    fn request(&self, name: &str, hints: &[&str], backend: Backend) -> Request {
        let mut options = Options::default();
        for hint in hints {
            match hint.split_once(' ') {
                Some(("--rename", h)) => options.rename(h).unwrap(),
                Some(("--default", h)) => options.default_value(h).unwrap(),
                None if *hint == "--allow-data-loss" => options.allow_data_loss = true,
                _ => panic!("unknown hint {hint}"),
            }
        }
        Request {
            dir: self.path().join("migrations"),
            schema: self.schema_path(),
            constraints: self.constraints_path(),
            name: name.to_string(),
            options,
            postgres: postgres_url(),
            backends: vec![backend],
        }
    }

    fn migrations(&self, backend: Backend) -> FileBasedMigrations {
        FileBasedMigrations::from_path(self.path().join("migrations").join(backend.name())).unwrap()
    }

    /// books.code: text with no CHECK, holding '7', NULL and `third`.
    fn with_code_column(&self, conn: &mut DbConn, third: &str) {
        self.migration(
            "2099-01-01-000001_add_code",
            "ALTER TABLE books ADD COLUMN code TEXT;",
            "ALTER TABLE books DROP COLUMN code;",
            (
                LAST_OF_BOOKS,
                "        description -> Nullable<Text>,\n        version -> Integer,\n        code -> Nullable<Text>,\n",
            ),
        );
        conn.run_pending_migrations(self.migrations(catalog::backend_of(conn)))
            .unwrap();
        conn.batch_execute(&format!(
            "UPDATE books SET code = '7' WHERE id = 1; UPDATE books SET code = '{third}' WHERE id = 3;"
        ))
        .unwrap();
    }

    /// The migration folders of a backend, by name.
    fn backend_folders(&self, backend: Backend) -> Vec<String> {
        self.folders(backend.name())
    }
}

/// A database on `backend` with the project's migrations and a few rows:
/// three books (one deleted, so the id counter is ahead of the rows) and
/// two reviews.
fn database(project: &Project, backend: Backend) -> (TestDb, DbConn) {
    let db = match backend {
        Backend::Sqlite => TestDb::sqlite(),
        Backend::Postgres => TestDb::postgres(&postgres_url().unwrap()),
    };
    let mut conn = connect(&db);
    conn.run_pending_migrations(project.migrations(backend))
        .unwrap();
    conn.batch_execute(
        "INSERT INTO books (title, author, price, rating, published, description) VALUES \
           ('Dune', 'Frank Herbert', 9.5, 5, TRUE, 'Spice'), \
           ('Emma', 'Jane Austen', 4.25, 4, FALSE, NULL), \
           ('Solaris', 'Stanislaw Lem', 7, 3, TRUE, '42'), \
           ('Gone', 'Nobody', 1, 1, FALSE, NULL); \
         DELETE FROM books WHERE title = 'Gone'; \
         INSERT INTO reviews (book_id, author, content) VALUES (1, 'Ada', 'A classic.'), (2, 'Bob', '17');",
    )
    .unwrap();
    (db, conn)
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Nullable<Text>)]
    line: Option<String>,
}

/// The values of one column, in key order, as text (`NULL` for none).
fn values(conn: &mut DbConn, table: &str, column: &str) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT CAST({column} AS TEXT) AS line FROM {table} ORDER BY {}",
        if table == "shelf" {
            "book_id, slot"
        } else {
            "id"
        }
    ))
    .load::<Line>(conn)
    .unwrap_or_else(|e| panic!("read {table}.{column}: {e}"))
    .into_iter()
    .map(|l| l.line.unwrap_or_else(|| "NULL".into()))
    .collect()
}

/// The values of a numeric column, as numbers (SQLite writes 7.0 where
/// PostgreSQL writes 7).
fn numbers(conn: &mut DbConn, table: &str, column: &str) -> Vec<f64> {
    values(conn, table, column)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Every (table, column, values) of the database, for columns of a known type.
fn all_values(conn: &mut DbConn) -> Vec<(String, String, model::SqlType, Vec<String>)> {
    let schema = catalog::read(conn).unwrap();
    let mut out = Vec::new();
    for table in &schema.tables {
        for column in &table.columns {
            let values = values(conn, &table.name, &column.name);
            out.push((
                table.name.clone(),
                column.name.clone(),
                column.sql_type,
                values,
            ));
        }
    }
    out
}

/// Generates the migration for the edits already made, checks the changes it
/// lists, applies it to a database holding rows, and checks: every column
/// kept with its type kept its values, no drift from src/schema.rs,
/// `after_up` (the case's own checks), down restores the catalog exactly,
/// and a second diff finds nothing.
/// Lint rules that mean the SQL itself is wrong or careless, not that the
/// change it makes needs a person's decision.
const MISTAKES: &[&str] = &[
    "syntax-error",
    "refused-by-sqlite",
    "require-lock-timeout",
    "require-statement-timeout",
    "foreign-keys-pragma-in-transaction",
    "ban-concurrent-index-creation-in-transaction",
    "invalid-allow",
];

fn generate_and_apply(
    project: &Project,
    backend: Backend,
    conn: &mut DbConn,
    hints: &[&str],
    expected: &[&str],
    after_up: impl FnOnce(&mut DbConn),
) {
    let before = catalog::snapshot(conn).unwrap();
    let values_before = all_values(conn);
    let outcome = generate::diff(
        &project.request("change", hints, backend),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap_or_else(|e| panic!("{}: diff failed: {e}", backend.name()));
    let listed: Vec<String> = outcome.changes.iter().map(ToString::to_string).collect();
    assert_eq!(listed, expected, "{}", backend.name());
    assert!(!outcome.created.is_empty());
    assert_eq!(outcome.notes, Vec::<String>::new(), "{}", backend.name());
    // Lint may describe what the change is (a rebuild, a drop, a type
    // change) for a person to accept, but never call diff's SQL a mistake.
    let lint = bookshelf_migrate::lint::lint_folders(&outcome.created).unwrap();
    for finding in &lint.findings {
        assert!(
            !MISTAKES.contains(&finding.rule.as_str()),
            "{}: diff wrote what lint calls a mistake: {finding}",
            backend.name()
        );
    }
    // An index, CHECK, default or foreign key on PostgreSQL is written the
    // way that takes no lock a live fleet would notice: lint finds nothing.
    if backend == Backend::Postgres && outcome.changes.iter().all(is_constraint_change) {
        assert_eq!(
            lint.findings,
            [],
            "{}: lint finds something in diff's output",
            backend.name()
        );
    }

    let applied = conn
        .run_pending_migrations(project.migrations(backend))
        .unwrap_or_else(|e| panic!("{}: the new migration does not apply: {e}", backend.name()));
    assert_eq!(applied.len(), outcome.created.len());
    let after = all_values(conn);
    let altered = |table: &str, column: &str| {
        outcome.changes.iter().any(|c| {
            matches!(c, bookshelf_migrate::diff::Change::AlterColumn { table: t, to, .. }
                if t == table && to.name == column)
        })
    };
    for (table, column, sql_type, kept) in &values_before {
        if altered(table, column) {
            continue;
        }
        if let Some((.., new_type, now)) = after.iter().find(|(t, c, ..)| t == table && c == column)
        {
            if new_type == sql_type {
                assert_eq!(
                    now,
                    kept,
                    "{}: {table}.{column} lost values",
                    backend.name()
                );
            }
        }
    }
    let model = project.model();
    let drift = diff::differences(&catalog::read(conn).unwrap(), &model);
    assert!(
        drift.is_empty(),
        "{}: drift after up: {drift:?}",
        backend.name()
    );
    after_up(conn);

    for _ in &outcome.created {
        conn.revert_last_migration(project.migrations(backend))
            .unwrap_or_else(|e| panic!("{}: down.sql fails: {e}", backend.name()));
    }
    assert_eq!(
        catalog::snapshot(conn).unwrap(),
        before,
        "{}: down.sql does not restore the catalog",
        backend.name()
    );
    conn.run_pending_migrations(project.migrations(backend))
        .unwrap();
    let again = generate::check(&project.request("again", &[], backend)).unwrap();
    assert!(
        again.is_empty(),
        "{}: a second diff finds {again:?}",
        backend.name()
    );
}

fn is_constraint_change(change: &diff::Change) -> bool {
    use diff::Change::*;
    matches!(
        change,
        AddIndex { .. }
            | DropIndex { .. }
            | AddCheck { .. }
            | DropCheck { .. }
            | SetDefault { .. }
            | AddForeignKey { .. }
            | DropForeignKey { .. }
    )
}

/// Generates the migration for the edits already made and applies it to
/// `conn`, which must fail (`why`), saying `says` when given; the transaction the failed script left
/// open is closed, as diesel CLI's closing its connection would.
fn generate_and_fail(
    project: &Project,
    backend: Backend,
    conn: &mut DbConn,
    hints: &[&str],
    why: &str,
    says: Option<&str>,
) {
    let before = catalog::snapshot(conn).unwrap();
    generate::diff(
        &project.request("failing", hints, backend),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    let result = conn.run_pending_migrations(project.migrations(backend));
    assert!(result.is_err(), "{}: {why}", backend.name());
    if let Some(message) = says {
        let error = result.unwrap_err().to_string();
        assert!(error.contains(message), "{}: {error}", backend.name());
    }
    match conn {
        DbConn::Sqlite(_) => {
            let _ = conn.batch_execute("ROLLBACK; PRAGMA foreign_keys = ON;");
        }
        // The script's own transaction, which failed.
        DbConn::Postgres(_) => {
            let _ = conn.batch_execute("ROLLBACK");
        }
    }
    assert_eq!(
        catalog::snapshot(conn).unwrap(),
        before,
        "{}: the failed migration changed the schema",
        backend.name()
    );
}

/// One case of the matrix on every backend: `edits` to src/schema.rs, the
/// hints given, the changes expected, and the case's own checks after up.
fn case(
    edits: &[(impl AsRef<str>, impl AsRef<str>)],
    hints: &[&str],
    expected: &[&str],
    after_up: impl Fn(&mut DbConn, Backend),
) {
    case_with(|_| {}, edits, hints, expected, after_up);
}

/// [`case`] with edits to src/constraints.rs too (`constrain`), made after
/// the database holding rows is built.
fn case_with(
    constrain: impl Fn(&Project),
    edits: &[(impl AsRef<str>, impl AsRef<str>)],
    hints: &[&str],
    expected: &[&str],
    after_up: impl Fn(&mut DbConn, Backend),
) {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        for (from, to) in edits {
            project.edit(from.as_ref(), to.as_ref());
        }
        constrain(&project);
        generate_and_apply(&project, backend, &mut conn, hints, expected, |conn| {
            after_up(conn, backend)
        });
    }
}

/// A change that must be refused: the message says why, and nothing is written.
fn refused(edits: &[(&str, &str)], hints: &[&str], message: &str) {
    for backend in backends() {
        let project = Project::new();
        for (from, to) in edits {
            project.edit(from, to);
        }
        let folders = project.backend_folders(backend);
        let error = generate::diff(
            &project.request("refused", hints, backend),
            chrono::Utc::now().naive_utc(),
        )
        .expect_err("the change is refused")
        .to_string();
        assert!(error.contains(message), "{}: {error}", backend.name());
        assert_eq!(
            project.backend_folders(backend),
            folders,
            "nothing is written"
        );
        let check = generate::check(&project.request("refused", hints, backend));
        assert!(
            check.is_err() || !check.unwrap().is_empty(),
            "--check disagrees too"
        );
    }
}

const DESCRIPTION: &str = "        description -> Nullable<Text>,\n";
/// What src/constraints.rs declares about books.description.
const DESCRIPTION_DECLARED: &str = "        max_length(description, 2000);\n";
/// What src/constraints.rs declares about reviews.
const REVIEWS_DECLARED: &str = "    reviews {\n        on_delete(book_id, cascade);\n        check(length(author) in 1..=50);\n        check(length(content) in 1..=200);\n        default(created_at, now);\n        default(version, 1);\n        index(book_id);\n    }\n";
/// books' last two columns: a column added to books goes after them.
const LAST_OF_BOOKS: &str = "        description -> Nullable<Text>,\n        version -> Integer,\n";
const REVIEWS_TABLE: &str = "diesel::table! {\n    reviews (id) {\n        id -> Integer,\n        book_id -> Integer,\n        author -> Text,\n        content -> Text,\n        created_at -> Timestamp,\n        version -> Integer,\n    }\n}\n";
/// The edits of src/schema.rs that add [`TAGS_TABLE`], joined to books.
fn tags_joined_to_books() -> Vec<(String, String)> {
    vec![
        (
            "diesel::joinable!(reviews".into(),
            format!("{TAGS_TABLE}diesel::joinable!(reviews"),
        ),
        (
            "(reviews -> books (book_id));".into(),
            "(reviews -> books (book_id));\ndiesel::joinable!(tags -> books (book_id));".into(),
        ),
        ("(books, reviews,)".into(), "(books, reviews, tags,)".into()),
    ]
}

const TAGS_TABLE: &str = "diesel::table! {\n    tags (id) {\n        id -> Integer,\n        book_id -> Integer,\n        name -> Text,\n    }\n}\n\n";

#[test]
fn no_change_writes_nothing() {
    for backend in backends() {
        let project = Project::new();
        let folders = project.backend_folders(backend);
        let outcome = generate::diff(
            &project.request("nothing", &[], backend),
            chrono::Utc::now().naive_utc(),
        )
        .unwrap();
        assert!(outcome.changes.is_empty() && outcome.created.is_empty());
        assert_eq!(project.backend_folders(backend), folders);
    }
}

#[test]
fn add_a_nullable_column() {
    case(
        &[(
            LAST_OF_BOOKS,
            "        description -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Nullable<Text>,\n",
        )],
        &[],
        &["add column books.isbn Nullable<Text>"],
        |conn, _| assert_eq!(values(conn, "books", "isbn"), ["NULL", "NULL", "NULL"]),
    );
}

#[test]
fn add_a_not_null_column_with_a_value_for_existing_rows() {
    case_with(
        |project| project.constrain("default(version, 1);", "default(version, 1);\n        default(isbn, \"unknown\");"),
        &[(
            LAST_OF_BOOKS,
            "        description -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Text,\n",
        )],
        &[],
        &["add column books.isbn Text default \"unknown\""],
        |conn, _| assert_eq!(values(conn, "books", "isbn"), ["unknown"; 3]),
    );
}

#[test]
fn add_a_not_null_timestamp_column_defaulting_to_now() {
    // SQLite's ADD COLUMN refuses DEFAULT CURRENT_TIMESTAMP: the table is
    // rebuilt, and the rows already there get the time of the migration.
    case_with(
        |project| project.constrain("default(version, 1);", "default(version, 1);\n        default(checked_at, now);"),
        &[(
            LAST_OF_BOOKS,
            "        description -> Nullable<Text>,\n        version -> Integer,\n        checked_at -> Timestamp,\n",
        )],
        &[],
        &["add column books.checked_at Timestamp default now"],
        |conn, _| {
            let stamped = values(conn, "books", "checked_at");
            assert_eq!(stamped.len(), 3, "{stamped:?}");
            assert!(stamped.iter().all(|v| v.starts_with("20")), "{stamped:?}");
        },
    );
}

#[test]
fn add_a_not_null_bool_column_with_a_value() {
    case_with(
        |project| project.constrain("default(version, 1);", "default(version, 1);\n        default(in_print, true);"),
        &[(
            LAST_OF_BOOKS,
            "        description -> Nullable<Text>,\n        version -> Integer,\n        in_print -> Bool,\n",
        )],
        &[],
        &["add column books.in_print Bool default true"],
        |conn, _| assert_eq!(values(conn, "books", "in_print").len(), 3),
    );
}

#[test]
fn a_new_not_null_column_without_a_value_is_refused() {
    refused(
        &[(LAST_OF_BOOKS, "        description -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Text,\n")],
        &[],
        "books.isbn is new and NOT NULL: the rows already in books need a value; declare one in src/constraints.rs (default(isbn, VALUE); in books { … }",
    );
}

#[test]
fn drop_a_column_only_when_data_loss_is_allowed() {
    let edits = [(DESCRIPTION, ""), (DESCRIPTION_DECLARED, "")];
    refused(&edits, &[], "drop column books.description would lose every value of books.description; if that is meant, run again with --allow-data-loss");
    case(
        &edits,
        &["--allow-data-loss"],
        &["drop column books.description"],
        |conn, _| assert_eq!(values(conn, "books", "title"), ["Dune", "Emma", "Solaris"]),
    );
}

#[test]
fn drop_an_indexed_not_null_column() {
    case(
        &[
            ("        author -> Text,\n        price", "        price"),
            ("        check(length(author) in 1..=100);\n", ""),
            ("        index(author, id);\n", ""),
        ],
        &["--allow-data-loss"],
        &["drop column books.author"],
        |conn, _| assert_eq!(values(conn, "books", "price").len(), 3),
    );
}

#[test]
fn rename_a_column_from_a_hint() {
    let edits = [
        (DESCRIPTION, "        summary -> Nullable<Text>,\n"),
        (DESCRIPTION_DECLARED, "        max_length(summary, 2000);\n"),
    ];
    refused(
        &edits,
        &[],
        "if it was renamed, say so (--rename books.description=summary)",
    );
    case(
        &edits,
        &["--rename books.description=summary"],
        &["rename column books.description to summary"],
        |conn, _| assert_eq!(values(conn, "books", "summary"), ["Spice", "NULL", "42"]),
    );
}

#[test]
fn rename_a_table_from_a_hint() {
    let edits = [
        ("    reviews (id) {", "    critiques (id) {"),
        ("joinable!(reviews -> books", "joinable!(critiques -> books"),
        ("(books, reviews,)", "(books, critiques,)"),
        ("    reviews {", "    critiques {"),
    ];
    refused(&edits, &[], "(--rename reviews=critiques)");
    case(
        &edits,
        &["--rename reviews=critiques"],
        &["rename table reviews to critiques"],
        |conn, _| assert_eq!(values(conn, "critiques", "content"), ["A classic.", "17"]),
    );
}

#[test]
fn rename_a_table_and_add_a_column_to_it() {
    case(
        &[
            ("    reviews (id) {", "    critiques (id) {"),
            (
                "        version -> Integer,\n    }\n}\n\ndiesel::joinable",
                "        version -> Integer,\n        stars -> Nullable<Integer>,\n    }\n}\n\ndiesel::joinable",
            ),
            ("joinable!(reviews -> books", "joinable!(critiques -> books"),
            ("(books, reviews,)", "(books, critiques,)"),
            ("    reviews {", "    critiques {"),
        ],
        &["--rename reviews=critiques"],
        &[
            "rename table reviews to critiques",
            "add column critiques.stars Nullable<Integer>",
        ],
        |conn, _| assert_eq!(values(conn, "critiques", "author"), ["Ada", "Bob"]),
    );
}

#[test]
fn create_a_table_joined_to_books() {
    case(
        &tags_joined_to_books(),
        &[],
        &["create table tags (id Integer, book_id Integer, name Text), book_id -> books"],
        |conn, _| {
            // The foreign key holds and cascades, as documented.
            conn.batch_execute("INSERT INTO tags (book_id, name) VALUES (1, 'sf')")
                .unwrap();
            assert!(conn
                .batch_execute("INSERT INTO tags (book_id, name) VALUES (99, 'x')")
                .is_err());
            conn.batch_execute("DELETE FROM books WHERE id = 1")
                .unwrap();
            assert!(values(conn, "tags", "name").is_empty());
        },
    );
}

#[test]
fn create_a_table_whose_foreign_key_restricts() {
    case_with(
        |project| project.declare("tags", "on_delete(book_id, restrict);"),
        &tags_joined_to_books(),
        &[],
        &["create table tags (id Integer, book_id Integer, name Text), book_id -> books on delete restrict"],
        |conn, _| {
            conn.batch_execute("INSERT INTO tags (book_id, name) VALUES (2, 'classic')")
                .unwrap();
            assert!(conn
                .batch_execute("DELETE FROM books WHERE id = 2")
                .is_err());
        },
    );
}

#[test]
fn create_a_table_with_a_composite_key_and_every_type() {
    let table = "diesel::table! {\n    shelf (book_id, slot) {\n        book_id -> Integer,\n        slot -> SmallInt,\n        big -> Nullable<BigInt>,\n        weight -> Nullable<Float>,\n        added -> Nullable<Date>,\n        opens -> Nullable<Time>,\n        scan -> Nullable<Binary>,\n        seen -> Nullable<Timestamp>,\n    }\n}\n\n";
    case(
        &[
            ("diesel::joinable!(reviews", format!("{table}diesel::joinable!(reviews").as_str()),
            ("(books, reviews,)", "(books, reviews, shelf,)"),
        ],
        &[],
        &["create table shelf (book_id Integer, slot SmallInt, big Nullable<BigInt>, weight Nullable<Float>, added Nullable<Date>, opens Nullable<Time>, scan Nullable<Binary>, seen Nullable<Timestamp>)"],
        |conn, _| {
            conn.batch_execute("INSERT INTO shelf (book_id, slot) VALUES (1, 1)").unwrap();
            assert!(conn.batch_execute("INSERT INTO shelf (book_id, slot) VALUES (1, 1)").is_err());
        },
    );
}

#[test]
fn drop_a_table_only_when_data_loss_is_allowed() {
    let edits = [
        (REVIEWS_TABLE, ""),
        ("diesel::joinable!(reviews -> books (book_id));\n", ""),
        ("(books, reviews,)", "(books,)"),
        (REVIEWS_DECLARED, ""),
    ];
    refused(
        &edits,
        &[],
        "drop table reviews would lose every row of reviews",
    );
    case(
        &edits,
        &["--allow-data-loss"],
        &["drop table reviews"],
        |conn, _| {
            assert_eq!(values(conn, "books", "title").len(), 3);
        },
    );
}

#[test]
fn make_a_column_not_null_filling_its_nulls() {
    case(
        &[(DESCRIPTION, "        description -> Text,\n")],
        &["--default books.description='none'"],
        &["alter column books.description: Nullable<Text> -> Text (NULLs become 'none')"],
        |conn, _| {
            assert_eq!(
                values(conn, "books", "description"),
                ["Spice", "none", "42"]
            )
        },
    );
}

#[test]
fn make_a_column_not_null_fails_on_nulls_without_a_value_and_loses_nothing() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        project.edit(DESCRIPTION, "        description -> Text,\n");
        generate_and_fail(
            &project,
            backend,
            &mut conn,
            &[],
            "a NULL cannot become NOT NULL",
            Some(
                "1 row(s) break NOT NULL of books.description: they hold NULL (give them a \
                 value with --default books.description=VALUE); fix or delete them, then \
                 migrate again",
            ),
        );
        assert_eq!(
            values(&mut conn, "books", "description"),
            ["Spice", "NULL", "42"]
        );
        assert_eq!(
            values(&mut conn, "reviews", "content"),
            ["A classic.", "17"]
        );
    }
}

#[test]
fn make_a_column_nullable() {
    case(
        &[(
            "        price -> Double,",
            "        price -> Nullable<Double>,",
        )],
        &[],
        &["alter column books.price: Double -> Nullable<Double>"],
        |conn, _| {
            // The rebuilt parent kept its children (no cascade on SQLite's DROP TABLE).
            assert_eq!(values(conn, "reviews", "author"), ["Ada", "Bob"]);
            conn.batch_execute("UPDATE books SET price = NULL WHERE id = 1; UPDATE books SET price = 9.5 WHERE id = 1")
                .unwrap();
        },
    );
}

#[test]
fn widen_integer_to_bigint_keeping_values() {
    case(
        &[("        rating -> Integer,", "        rating -> BigInt,")],
        &[],
        &["alter column books.rating: Integer -> BigInt"],
        |conn, _| assert_eq!(values(conn, "books", "rating"), ["5", "4", "3"]),
    );
}

#[test]
fn widen_integer_to_double_keeping_values() {
    case(
        &[("        rating -> Integer,", "        rating -> Double,")],
        &[],
        &["alter column books.rating: Integer -> Double"],
        |conn, _| assert_eq!(numbers(conn, "books", "rating"), [5.0, 4.0, 3.0]),
    );
}

#[test]
fn narrow_double_to_float_only_when_data_loss_is_allowed() {
    let edits = [("        price -> Double,", "        price -> Float,")];
    refused(
        &edits,
        &[],
        "alter column books.price: Double -> Float would lose values of books.price",
    );
    case(
        &edits,
        &["--allow-data-loss"],
        &["alter column books.price: Double -> Float"],
        |conn, _| assert_eq!(numbers(conn, "books", "price"), [9.5, 4.25, 7.0]),
    );
}

#[test]
fn text_to_integer_with_an_explicit_cast() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        project.with_code_column(&mut conn, "42");
        project.edit(
            "        code -> Nullable<Text>,",
            "        code -> Nullable<Integer>,",
        );
        generate_and_apply(
            &project,
            backend,
            &mut conn,
            &["--allow-data-loss"],
            &["alter column books.code: Nullable<Text> -> Nullable<Integer>"],
            |conn| assert_eq!(values(conn, "books", "code"), ["7", "NULL", "42"]),
        );
    }
}

#[test]
fn text_to_integer_stops_on_a_value_that_does_not_convert_and_loses_nothing() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        project.with_code_column(&mut conn, "x12");
        project.edit(
            "        code -> Nullable<Text>,",
            "        code -> Nullable<Integer>,",
        );
        let hints = ["--allow-data-loss"];
        generate_and_fail(
            &project,
            backend,
            &mut conn,
            &hints,
            "'x12' is not an integer",
            Some(match backend {
                Backend::Sqlite => {
                    "1 row(s) break the change of books.code to Integer: their values do not \
                     convert unchanged; fix or delete them, then migrate again"
                }
                Backend::Postgres => "invalid input syntax for type integer: \"x12\"",
            }),
        );
        assert_eq!(values(&mut conn, "books", "code"), ["7", "NULL", "x12"]);
    }
}

#[test]
fn several_changes_to_one_table_in_one_migration() {
    case(
        &[
            (
                "        price -> Double,",
                "        price -> Nullable<Double>,",
            ),
            ("        rating -> Integer,", "        rating -> BigInt,"),
            (
                LAST_OF_BOOKS,
                "        summary -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Nullable<Text>,\n",
            ),
            (DESCRIPTION_DECLARED, "        max_length(summary, 2000);\n"),
        ],
        &["--rename books.description=summary"],
        &[
            "rename column books.description to summary",
            "add column books.isbn Nullable<Text>",
            "alter column books.price: Double -> Nullable<Double>",
            "alter column books.rating: Integer -> BigInt",
        ],
        |conn, _| {
            assert_eq!(values(conn, "books", "summary"), ["Spice", "NULL", "42"]);
            assert_eq!(values(conn, "books", "rating"), ["5", "4", "3"]);
        },
    );
}

#[test]
fn every_column_change_of_a_sqlite_table_is_one_rebuild() {
    let project = Project::new();
    let (_db, mut conn) = database(&project, Backend::Sqlite);
    project.edit(
        "        price -> Double,",
        "        price -> Nullable<Double>,",
    );
    project.edit("        rating -> Integer,", "        rating -> BigInt,");
    project.edit(DESCRIPTION, "");
    project.edit(DESCRIPTION_DECLARED, "");
    generate_and_apply(
        &project,
        Backend::Sqlite,
        &mut conn,
        &["--allow-data-loss"],
        &[
            "alter column books.price: Double -> Nullable<Double>",
            "alter column books.rating: Integer -> BigInt",
            "drop column books.description",
        ],
        |conn| assert_eq!(values(conn, "books", "rating"), ["5", "4", "3"]),
    );
    let folder = project.backend_folders(Backend::Sqlite).pop().unwrap();
    let dir = project.path().join("migrations/sqlite").join(folder);
    for script in ["up.sql", "down.sql"] {
        let text = std::fs::read_to_string(dir.join(script)).unwrap();
        assert_eq!(
            text.matches("-- Rebuild books").count(),
            1,
            "{script}:\n{text}"
        );
    }
    let metadata = std::fs::read_to_string(dir.join("metadata.toml")).unwrap();
    assert!(metadata.contains("run_in_transaction = false"));
}

#[test]
fn the_issue_example_isbn_and_tags() {
    let mut edits = vec![(
        LAST_OF_BOOKS.to_string(),
        format!("{LAST_OF_BOOKS}        isbn -> Nullable<Text>,\n"),
    )];
    edits.extend(tags_joined_to_books());
    case(
        &edits,
        &[],
        &[
            "create table tags (id Integer, book_id Integer, name Text), book_id -> books",
            "add column books.isbn Nullable<Text>",
        ],
        |conn, _| assert_eq!(values(conn, "books", "title"), ["Dune", "Emma", "Solaris"]),
    );
}

#[test]
fn a_type_change_that_a_declared_length_forbids_is_refused_with_its_line() {
    refused(
        &[(DESCRIPTION, "        description -> Nullable<Integer>,\n")],
        &["--allow-data-loss"],
        "src/constraints.rs: line 15, column 9: books: length(description): description is not Text",
    );
}

#[test]
fn a_type_change_drops_the_check_that_went_with_the_old_type_first() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        // Only values that convert: the cast is not what this case tests.
        conn.batch_execute("UPDATE books SET description = NULL WHERE description = 'Spice'")
            .unwrap();
        project.edit(DESCRIPTION, "        description -> Nullable<Integer>,\n");
        project.edit(DESCRIPTION_DECLARED, "");
        generate_and_apply(
            &project,
            backend,
            &mut conn,
            &["--allow-data-loss"],
            &[
                "drop check books_description_check (length(description) <= 2000) on books",
                "alter column books.description: Nullable<Text> -> Nullable<Integer>",
            ],
            |conn| assert_eq!(values(conn, "books", "description"), ["NULL", "NULL", "42"]),
        );
    }
}

#[test]
fn a_column_added_in_the_middle_of_schema_rs_gets_a_note_on_the_order() {
    let project = Project::new();
    project.edit(
        "        title -> Text,\n",
        "        title -> Text,\n        isbn -> Nullable<Text>,\n",
    );
    let outcome = generate::diff(
        &project.request("isbn", &[], Backend::Sqlite),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    assert_eq!(
        outcome.notes,
        [
            "the columns of books are in this order in the database: id, title, author, price, \
          rating, published, created_at, updated_at, description, version, isbn; diesel print-schema \
          lists them so, so put them in that order in src/schema.rs"
        ]
    );
}

#[test]
fn a_primary_key_change_is_refused() {
    refused(
        &[("    books (id) {", "    books (title) {")],
        &[],
        "books: the primary key changes from (id) to (title)",
    );
}

#[test]
fn a_foreign_key_removed_from_schema_rs_while_its_on_delete_is_declared_is_refused() {
    refused(
        &[("diesel::joinable!(reviews -> books (book_id));\n", "")],
        &[],
        "src/constraints.rs: line 28, column 9: reviews: on_delete(book_id, …): src/schema.rs has no joinable!(reviews -> … (book_id))",
    );
}

#[test]
fn an_unknown_type_is_refused_with_its_line() {
    refused(
        &[("        price -> Double,", "        price -> Money,")],
        &[],
        "schema.rs: line 8, column 18: type Money is not one migrate diff knows",
    );
}

#[test]
fn the_sqlite_rebuild_keeps_what_schema_rs_does_not_describe() {
    // CHECKs, defaults, an index, a foreign key to books, AUTOINCREMENT and a
    // trigger: after changing one column's type, the catalog is the same
    // except that column (and the table's SQL only in that column's type).
    let project = Project::new();
    let trigger = project
        .dir
        .path()
        .join("migrations/sqlite/2099-01-01-000000_touch_books");
    std::fs::create_dir_all(&trigger).unwrap();
    std::fs::write(
        trigger.join("up.sql"),
        "CREATE TRIGGER books_touch AFTER UPDATE OF title ON books \
         BEGIN UPDATE books SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;",
    )
    .unwrap();
    std::fs::write(trigger.join("down.sql"), "DROP TRIGGER books_touch;").unwrap();
    let (_db, mut conn) = database(&project, Backend::Sqlite);
    let before = catalog::snapshot(&mut conn).unwrap();
    project.edit("        rating -> Integer,", "        rating -> BigInt,");
    generate::diff(
        &project.request("wider", &[], Backend::Sqlite),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    conn.run_pending_migrations(project.migrations(Backend::Sqlite))
        .unwrap();
    let after = catalog::snapshot(&mut conn).unwrap();
    let expected: Vec<String> = before
        .iter()
        .map(|line| {
            if line.starts_with("column books.rating ") {
                line.replace(" INTEGER ", " BIGINT ")
            } else if line.starts_with("table books on books: ") {
                line.replace("rating INTEGER NOT NULL", "rating BIGINT NOT NULL")
            } else {
                line.clone()
            }
        })
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(after, expected);
    assert!(after
        .iter()
        .any(|l| l.starts_with("trigger books_touch on books")));
    // AUTOINCREMENT kept its counter: the deleted book's id is not reused.
    conn.batch_execute(
        "INSERT INTO books (title, author, price, rating, published) VALUES ('New', 'A', 1, 1, FALSE)",
    )
    .unwrap();
    assert_eq!(values(&mut conn, "books", "id"), ["1", "2", "3", "5"]);
    assert_eq!(values(&mut conn, "reviews", "book_id"), ["1", "2"]);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .count
}

#[test]
fn bookshelf_runs_a_migration_outside_a_transaction_when_its_metadata_says_so() {
    use bookshelf_migrate::{down, up, DownTo, UpTo};
    for backend in backends() {
        let project = Project::new();
        let (db, mut conn) = database(&project, backend);
        let url =
            bookshelf_migrate::DatabaseUrl::parse(&db.url(), std::time::Duration::from_secs(3))
                .unwrap();
        let before = catalog::snapshot(&mut conn).unwrap();
        let name = match backend {
            // A generated rebuild of books, the parent of reviews.
            Backend::Sqlite => {
                project.edit(
                    "        price -> Double,",
                    "        price -> Nullable<Double>,",
                );
                let outcome = generate::diff(
                    &project.request("nullable_price", &[], backend),
                    chrono::Utc::now().naive_utc(),
                )
                .unwrap();
                outcome.created[0]
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            }
            // CREATE INDEX CONCURRENTLY fails inside a transaction.
            Backend::Postgres => {
                // After every migration of the repository's, so that it is the one `down` reverts.
                let name = "2100-01-01-000001_index_titles";
                let dir = project.path().join("migrations/postgres").join(name);
                std::fs::create_dir_all(&dir).unwrap();
                // With the timeouts `migrate lint` asks for: several
                // statements, which PostgreSQL would run as one implicit
                // transaction if they were sent together.
                let timeouts = "SET lock_timeout = '2s';\nSET statement_timeout = '1min';\n";
                std::fs::write(
                    dir.join("up.sql"),
                    format!(
                        "{timeouts}CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);"
                    ),
                )
                .unwrap();
                std::fs::write(
                    dir.join("down.sql"),
                    format!("{timeouts}DROP INDEX CONCURRENTLY IF EXISTS books_title_idx;"),
                )
                .unwrap();
                std::fs::write(dir.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
                let lint = bookshelf_migrate::lint::lint_folders(&[dir]).unwrap();
                assert_eq!(lint.findings, vec![], "the migration passes lint");
                name.to_string()
            }
        };
        let source = project.migrations(backend);
        let lock_timeout = |conn: &mut DbConn| -> String {
            let setting =
                diesel::dsl::sql::<diesel::sql_types::Text>("current_setting('lock_timeout')");
            diesel::select(setting).get_result(conn).unwrap_or_default()
        };
        let timeout_before = lock_timeout(&mut conn);
        let applied = up(&mut conn, &url, &source, UpTo::Latest).unwrap();
        assert_eq!(applied, std::slice::from_ref(&name), "{}", backend.name());
        // The script's own SET does not outlast it on the migrating connection.
        assert_eq!(lock_timeout(&mut conn), timeout_before);
        assert_eq!(
            count(&mut conn, "SELECT count(*) AS count FROM reviews"),
            2,
            "{}: children kept",
            backend.name()
        );
        assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM books"), 3);
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS count FROM bookshelf_migrations WHERE name = '{name}'"
                )
            ),
            1,
            "{}: recorded",
            backend.name()
        );
        if backend == Backend::Sqlite {
            assert_eq!(
                count(
                    &mut conn,
                    "SELECT foreign_keys AS count FROM pragma_foreign_keys"
                ),
                1,
                "foreign keys are back on"
            );
        }
        assert_eq!(
            up(&mut conn, &url, &source, UpTo::Latest).unwrap(),
            Vec::<String>::new()
        );
        let reverted = down(&mut conn, &url, &source, DownTo::Steps(1)).unwrap();
        assert_eq!(reverted, std::slice::from_ref(&name), "{}", backend.name());
        assert_eq!(
            catalog::snapshot(&mut conn).unwrap(),
            before,
            "{}",
            backend.name()
        );
        assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM reviews"), 2);
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS count FROM bookshelf_migrations WHERE name = '{name}'"
                )
            ),
            0
        );
        // Between transactional ones, in order, with a step count across them.
        assert_eq!(
            down(&mut conn, &url, &source, DownTo::Steps(2))
                .unwrap()
                .len(),
            2
        );
        let applied = up(&mut conn, &url, &source, UpTo::Steps(3)).unwrap();
        assert_eq!(applied.len(), 3, "{}: {applied:?}", backend.name());
        assert_eq!(applied[2], name);
    }
}
