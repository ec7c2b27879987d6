//! The diff matrix for what src/constraints.rs declares: indexes, unique
//! constraints, CHECKs, lengths, defaults and foreign keys, added, dropped
//! and changed on tables that hold rows, each on SQLite and on PostgreSQL
//! (when TEST_DATABASE_URL is set), through the same `case` as the column
//! changes: values kept, no drift, down restores the catalog exactly, a
//! second diff finds nothing, and on PostgreSQL lint finds nothing in what
//! diff wrote. Then the rows that would break a new constraint: the
//! migration stops before it changes anything and says how many and which.

use super::*;

/// The last index src/constraints.rs declares for books: new declarations
/// for books go after it.
const LAST_BOOKS_INDEX: &str = "        index(created_at, id);\n";

fn declaring(declarations: &str) -> (String, String) {
    (
        LAST_BOOKS_INDEX.to_string(),
        format!("{LAST_BOOKS_INDEX}        {declarations}\n"),
    )
}

/// [`case`] without hints: what src/constraints.rs declares needs none.
fn constraint_case(
    edits: &[(impl AsRef<str>, impl AsRef<str>)],
    expected: &[&str],
    after_up: impl Fn(&mut DbConn, Backend),
) {
    case(edits, &[], expected, after_up);
}

fn insert_book(conn: &mut DbConn, title: &str, author: &str) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "INSERT INTO books (title, author, price, rating, published) \
         VALUES ('{title}', '{author}', 1, 3, FALSE)"
    ))
}

#[test]
fn add_an_index_to_a_table_that_holds_rows() {
    constraint_case(
        &[declaring("index(published);")],
        &["add index books_published_idx (published) on books"],
        |conn, _| insert_book(conn, "New", "Someone").unwrap(),
    );
}

#[test]
fn drop_an_index() {
    constraint_case(
        &[("        index(rating, id);\n", "")],
        &["drop index books_rating_id_idx (rating, id) on books"],
        |_, _| {},
    );
}

#[test]
fn change_an_index_s_columns() {
    constraint_case(
        &[("index(price, id);", "index(price, rating);")],
        &[
            "drop index books_price_id_idx (price, id) on books",
            "add index books_price_rating_idx (price, rating) on books",
        ],
        |_, _| {},
    );
}

#[test]
fn add_a_unique_constraint_over_two_columns() {
    constraint_case(
        &[declaring("unique(title, author);")],
        &["add unique index books_title_author_key (title, author) on books"],
        |conn, _| {
            insert_book(conn, "Dune", "Someone else").unwrap();
            assert!(insert_book(conn, "Dune", "Frank Herbert").is_err());
        },
    );
}

/// A database holding rows, with `unique(title)` declared and migrated.
fn with_unique_title(backend: Backend) -> (Project, TestDb, DbConn) {
    let project = Project::new();
    let (db, mut conn) = database(&project, backend);
    let (from, to) = declaring("unique(title);");
    project.edit(&from, &to);
    generate_and_apply(
        &project,
        backend,
        &mut conn,
        &[],
        &["add unique index books_title_key (title) on books"],
        |_| {},
    );
    (project, db, conn)
}

#[test]
fn drop_a_unique_constraint_in_a_contract_migration() {
    for backend in backends() {
        let (project, _db, mut conn) = with_unique_title(backend);
        project.edit("        unique(title);\n", "");
        generate_and_apply(
            &project,
            backend,
            &mut conn,
            &[],
            &["drop unique index books_title_key (title) on books"],
            |conn| {
                insert_book(conn, "Dune", "Again").unwrap();
                // down.sql makes titles unique again.
                conn.batch_execute("DELETE FROM books WHERE author = 'Again'")
                    .unwrap();
            },
        );
        let newest = project.backend_folders(backend).pop().unwrap();
        let metadata = project
            .dir
            .path()
            .join("migrations")
            .join(backend.name())
            .join(newest)
            .join("metadata.toml");
        let metadata = std::fs::read_to_string(metadata).unwrap_or_default();
        assert!(
            metadata.contains("contract = true"),
            "{}: {metadata}",
            backend.name()
        );
    }
}

#[test]
fn add_a_check_to_a_table_that_holds_rows() {
    constraint_case(
        &[declaring("check(version in 1..);")],
        &["add check books_version_check (version >= 1) on books"],
        |conn, _| assert!(conn.batch_execute("UPDATE books SET version = 0").is_err()),
    );
}

#[test]
fn drop_a_check() {
    constraint_case(
        &[("        check(rating in 1..=5);\n", "")],
        &["drop check books_rating_check (rating BETWEEN 1 AND 5) on books"],
        |conn, _| {
            conn.batch_execute("UPDATE books SET rating = rating + 10")
                .unwrap();
            // down.sql brings the CHECK back: the rows must pass it.
            conn.batch_execute("UPDATE books SET rating = rating - 10")
                .unwrap();
        },
    );
}

#[test]
fn change_a_check_s_range() {
    constraint_case(
        &[("check(rating in 1..=5);", "check(rating in 0..=10);")],
        &[
            "drop check books_rating_check (rating BETWEEN 1 AND 5) on books",
            "add check books_rating_check (rating BETWEEN 0 AND 10) on books",
        ],
        |conn, _| {
            conn.batch_execute("UPDATE books SET rating = 10 WHERE id = 1")
                .unwrap();
            assert!(conn.batch_execute("UPDATE books SET rating = 11").is_err());
            conn.batch_execute("UPDATE books SET rating = 5 WHERE id = 1")
                .unwrap();
        },
    );
}

#[test]
fn raise_a_maximum_length() {
    constraint_case(
        &[(
            "check(length(title) in 1..=200);",
            "check(length(title) in 1..=250);",
        )],
        &[
            "drop check books_title_check (length(title) BETWEEN 1 AND 200) on books",
            "add check books_title_check (length(title) BETWEEN 1 AND 250) on books",
        ],
        |conn, _| {
            insert_book(conn, &"t".repeat(250), "A").unwrap();
            conn.batch_execute("DELETE FROM books WHERE author = 'A'")
                .unwrap();
        },
    );
}

#[test]
fn drop_a_maximum_length() {
    constraint_case(
        &[(DESCRIPTION_DECLARED, "")],
        &["drop check books_description_check (length(description) <= 2000) on books"],
        |_, _| {},
    );
}

#[test]
fn add_a_column_with_a_maximum_length() {
    constraint_case(
        &[
            (
                LAST_OF_BOOKS.to_string(),
                format!("{LAST_OF_BOOKS}        isbn -> Nullable<Text>,\n"),
            ),
            declaring("max_length(isbn, 13);"),
        ],
        &[
            "add column books.isbn Nullable<Text>",
            "add check books_isbn_check (length(isbn) <= 13) on books",
        ],
        |conn, _| {
            assert!(conn
                .batch_execute("UPDATE books SET isbn = '12345678901234'")
                .is_err())
        },
    );
}

#[test]
fn add_a_default() {
    constraint_case(
        &[declaring("default(description, \"No description yet.\");")],
        &["default of books.description: none -> \"No description yet.\""],
        |conn, _| {
            insert_book(conn, "New", "A").unwrap();
            assert_eq!(
                values(conn, "books", "description").last().unwrap(),
                "No description yet."
            );
        },
    );
}

#[test]
fn drop_a_default() {
    constraint_case(
        &[("        default(published, false);\n", "")],
        &["default of books.published: false -> none"],
        |conn, _| assert!(insert_book(conn, "New", "A").is_ok()),
    );
}

#[test]
fn change_a_default() {
    constraint_case(
        &[("default(version, 1);", "default(version, 7);")],
        &["default of books.version: 1 -> 7"],
        |conn, _| {
            insert_book(conn, "New", "A").unwrap();
            assert_eq!(values(conn, "books", "version").last().unwrap(), "7");
        },
    );
}

/// A table of shelves, made by hand without a foreign key, holding rows
/// that all refer to books there are (and `orphan`, when given).
fn with_shelves(project: &Project, conn: &mut DbConn, orphan: Option<i32>) {
    project.migration(
        "2099-01-01-000001_create_shelves",
        "CREATE TABLE shelves (id INTEGER PRIMARY KEY NOT NULL, book_id INTEGER NOT NULL);",
        "DROP TABLE shelves;",
        (
            "diesel::joinable!(reviews",
            "diesel::table! {\n    shelves (id) {\n        id -> Integer,\n        book_id -> Integer,\n    }\n}\n\ndiesel::joinable!(reviews",
        ),
    );
    project.edit("(books, reviews,)", "(books, reviews, shelves,)");
    conn.run_pending_migrations(project.migrations(catalog::backend_of(conn)))
        .unwrap();
    conn.batch_execute("INSERT INTO shelves (id, book_id) VALUES (1, 1), (2, 1), (3, 3)")
        .unwrap();
    if let Some(book) = orphan {
        conn.batch_execute(&format!(
            "INSERT INTO shelves (id, book_id) VALUES (4, {book})"
        ))
        .unwrap();
    }
}

const SHELVES_JOIN: (&str, &str) = (
    "diesel::joinable!(reviews -> books (book_id));",
    "diesel::joinable!(reviews -> books (book_id));\ndiesel::joinable!(shelves -> books (book_id));",
);

#[test]
fn add_a_foreign_key_to_a_table_that_holds_rows() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        with_shelves(&project, &mut conn, None);
        project.edit(SHELVES_JOIN.0, SHELVES_JOIN.1);
        project.declare("shelves", "on_delete(book_id, restrict);");
        generate_and_apply(
            &project,
            backend,
            &mut conn,
            &[],
            &["add foreign key shelves.book_id -> books on delete restrict"],
            |conn| {
                assert!(conn
                    .batch_execute("INSERT INTO shelves (id, book_id) VALUES (9, 99)")
                    .is_err());
                assert!(conn
                    .batch_execute("DELETE FROM books WHERE id = 3")
                    .is_err());
            },
        );
    }
}

#[test]
fn drop_a_foreign_key_in_a_contract_migration() {
    constraint_case(
        &[
            ("diesel::joinable!(reviews -> books (book_id));\n", ""),
            ("        on_delete(book_id, cascade);\n", ""),
        ],
        &["drop foreign key reviews.book_id -> books on delete cascade"],
        |conn, _| {
            conn.batch_execute(
                "INSERT INTO reviews (book_id, author, content) VALUES (99, 'A', 'Orphan')",
            )
            .unwrap();
            conn.batch_execute("DELETE FROM reviews WHERE book_id = 99")
                .unwrap();
        },
    );
}

#[test]
fn change_what_a_foreign_key_does_on_delete() {
    constraint_case(
        &[(
            "on_delete(book_id, cascade);",
            "on_delete(book_id, restrict);",
        )],
        &[
            "drop foreign key reviews.book_id -> books on delete cascade",
            "add foreign key reviews.book_id -> books on delete restrict",
        ],
        |conn, _| {
            assert!(conn
                .batch_execute("DELETE FROM books WHERE id = 1")
                .is_err());
            assert_eq!(values(conn, "reviews", "author"), ["Ada", "Bob"]);
        },
    );
}

#[test]
fn create_a_table_with_a_check_a_default_a_unique_constraint_and_an_index() {
    case_with(
        |project| {
            project.declare(
                "tags",
                "check(length(name) in 1..=30); default(name, \"untitled\"); \
                 unique(book_id, name); index(name); on_delete(book_id, cascade);",
            )
        },
        &tags_joined_to_books(),
        &[],
        &[
            "create table tags (id Integer, book_id Integer, name Text), book_id -> books, \
           name default \"untitled\", check tags_name_check (length(name) BETWEEN 1 AND 30), \
           unique index tags_book_id_name_key (book_id, name), index tags_name_idx (name)",
        ],
        |conn, _| {
            conn.batch_execute("INSERT INTO tags (book_id) VALUES (1)")
                .unwrap();
            assert_eq!(values(conn, "tags", "name"), ["untitled"]);
            assert!(conn
                .batch_execute("INSERT INTO tags (book_id, name) VALUES (1, 'untitled')")
                .is_err());
            assert!(conn
                .batch_execute("INSERT INTO tags (book_id, name) VALUES (2, '')")
                .is_err());
        },
    );
}

/// Generates the migration for the edits made, applies it with bookshelf's
/// own runner to the database `db` holding rows that break it, and checks
/// that it stopped before it changed anything, saying `message` (which
/// holds the count of rows). With Diesel CLI installed, `diesel migration
/// run` stops too, exits 1 and says the same.
fn stops_before_anything_changes(
    project: &Project,
    backend: Backend,
    db: &TestDb,
    conn: &mut DbConn,
    message: &str,
) {
    let before = catalog::snapshot(conn).unwrap();
    let outcome = generate::diff(
        &project.request("breaks", &[], backend),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap_or_else(|e| panic!("{}: diff failed: {e}", backend.name()));
    assert!(!outcome.created.is_empty());
    let url = bookshelf_migrate::DatabaseUrl::parse(&db.url(), std::time::Duration::from_secs(3))
        .unwrap();
    let error = bookshelf_migrate::up(
        conn,
        &url,
        &project.migrations(backend),
        bookshelf_migrate::UpTo::Latest,
    )
    .expect_err("the migration stops")
    .to_string();
    assert!(error.contains(message), "{}: {error}", backend.name());
    assert_eq!(
        catalog::snapshot(conn).unwrap(),
        before,
        "{}: the failed migration changed the schema",
        backend.name()
    );
    if diesel_cli() {
        let mut command = std::process::Command::new("diesel");
        command
            .args(["migration", "run", "--migration-dir"])
            .arg(project.path().join("migrations").join(backend.name()))
            .env("DATABASE_URL", db.url())
            .current_dir(project.path());
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            backend.name()
        );
        assert!(stderr.contains(message), "{}: {stderr}", backend.name());
        assert_eq!(catalog::snapshot(conn).unwrap(), before);
    }
}

fn diesel_cli() -> bool {
    std::process::Command::new("diesel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_unique_constraint_over_duplicate_rows_stops_saying_how_many() {
    for backend in backends() {
        let project = Project::new();
        let (db, mut conn) = database(&project, backend);
        insert_book(&mut conn, "Dune", "Frank Herbert").unwrap();
        let (from, to) = declaring("unique(title, author);");
        project.edit(&from, &to);
        stops_before_anything_changes(
            &project,
            backend,
            &db,
            &mut conn,
            "2 row(s) break unique index books_title_author_key (title, author) on books: they \
             share their values with another row; fix or delete them, then migrate again",
        );
    }
}

#[test]
fn a_check_over_rows_that_break_it_stops_saying_how_many() {
    for backend in backends() {
        let project = Project::new();
        let (db, mut conn) = database(&project, backend);
        project.edit("check(rating in 1..=5);", "check(rating in 4..=5);");
        stops_before_anything_changes(
            &project,
            backend,
            &db,
            &mut conn,
            "1 row(s) break check books_rating_check (rating BETWEEN 4 AND 5) on books; fix or \
             delete them, then migrate again",
        );
    }
}

#[test]
fn a_foreign_key_over_orphan_rows_stops_saying_how_many() {
    for backend in backends() {
        let project = Project::new();
        let (db, mut conn) = database(&project, backend);
        with_shelves(&project, &mut conn, Some(4));
        project.edit(SHELVES_JOIN.0, SHELVES_JOIN.1);
        stops_before_anything_changes(
            &project,
            backend,
            &db,
            &mut conn,
            "1 row(s) break foreign key shelves.book_id -> books: they refer to no row of books; \
             fix or delete them, then migrate again",
        );
    }
}

#[test]
fn reverting_the_last_of_a_unique_constraint_s_migrations_keeps_its_index() {
    for backend in backends() {
        let project = Project::new();
        let (_db, mut conn) = database(&project, backend);
        let (from, to) = declaring("unique(title);");
        project.edit(&from, &to);
        let outcome = generate::diff(
            &project.request("unique_title", &[], backend),
            chrono::Utc::now().naive_utc(),
        )
        .unwrap();
        assert_eq!(outcome.created.len(), 3, "check, index, constraint");
        conn.run_pending_migrations(project.migrations(backend))
            .unwrap();
        conn.revert_last_migration(project.migrations(backend))
            .unwrap();
        // Two of the three still applied: the unique index still holds.
        let schema = catalog::read(&mut conn).unwrap();
        let books = schema.table("books").unwrap();
        assert!(
            books
                .indexes
                .iter()
                .any(|i| i.name == "books_title_key" && i.unique),
            "{}: {:?}",
            backend.name(),
            books.indexes
        );
        assert!(insert_book(&mut conn, "Dune", "Again").is_err());
    }
}

#[test]
fn drop_an_index_and_add_a_check_in_one_diff() {
    constraint_case(
        &[
            ("        index(rating, id);\n", ""),
            (
                LAST_BOOKS_INDEX,
                "        index(created_at, id);\n        check(version in 1..);\n",
            ),
        ],
        &[
            "drop index books_rating_id_idx (rating, id) on books",
            "add check books_version_check (version >= 1) on books",
        ],
        |_, _| {},
    );
}

#[test]
fn change_a_unique_constraint_s_columns() {
    for backend in backends() {
        let (project, _db, mut conn) = with_unique_title(backend);
        project.edit("unique(title);", "unique(title, author);");
        generate_and_apply(
            &project,
            backend,
            &mut conn,
            &[],
            &[
                "drop unique index books_title_key (title) on books",
                "add unique index books_title_author_key (title, author) on books",
            ],
            |conn| {
                insert_book(conn, "Dune", "Someone else").unwrap();
                assert!(insert_book(conn, "Dune", "Frank Herbert").is_err());
                conn.batch_execute("DELETE FROM books WHERE author = 'Someone else'")
                    .unwrap();
            },
        );
    }
}

#[test]
fn sqlite_writes_a_new_column_s_check_into_its_add_column_without_a_rebuild() {
    let project = Project::new();
    project.edit(
        LAST_OF_BOOKS,
        &format!("{LAST_OF_BOOKS}        isbn -> Nullable<Text>,\n"),
    );
    let (from, to) = declaring("max_length(isbn, 13);");
    project.edit(&from, &to);
    let outcome = generate::diff(
        &project.request("isbn", &[], Backend::Sqlite),
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    let up = std::fs::read_to_string(outcome.created[0].join("up.sql")).unwrap();
    assert!(
        up.contains(
            "ALTER TABLE books ADD COLUMN isbn TEXT CONSTRAINT books_isbn_check CHECK (length(isbn) <= 13);"
        ),
        "{up}"
    );
    assert!(!up.contains("Rebuild"), "{up}");
}
