//! `bookshelf migrate lint` and the INVALID-index report as a user meets
//! them: the repository's own migrations pass, and the binary's exit codes and
//! messages. The rules themselves are tested in the engine's suite
//! (crates/bookshelf_migrate/tests/lint.rs).

use std::path::Path;
use std::process::Command;

use bookshelf_migrate::lint::lint_dir;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::helpers::{bookshelf, postgres_or_skip, TestDb};

#[test]
fn the_repository_migrations_pass_lint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let report = lint_dir(&dir, &[]).unwrap();
    assert_eq!(report.findings, vec![], "run `bookshelf migrate lint`");
    assert_eq!(report.files, 22, "11 migrations on each backend");
    assert!(report.allowed.iter().all(|(_, reason)| reason.len() > 10));
}

#[test]
fn migrate_lint_through_the_binary_exits_1_and_names_file_line_and_rule() {
    let bin = env!("CARGO_BIN_EXE_bookshelf");
    let clean = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["migrate", "lint"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&clean.stdout);
    assert!(
        clean.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(out.contains("0 finding(s)"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    for (name, up) in [
        (
            "2026-01-01-000001_base",
            "CREATE TABLE books (id INTEGER PRIMARY KEY, author TEXT NOT NULL);\n\
             CREATE INDEX books_author_idx ON books (author);\n",
        ),
        (
            "2026-01-01-000002_change",
            "SET lock_timeout = '2s';\nSET statement_timeout = '5s';\nDROP INDEX books_author_idx;\n",
        ),
    ] {
        let folder = dir.path().join("postgres").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("up.sql"), up).unwrap();
        std::fs::write(folder.join("down.sql"), "SELECT 1;\n").unwrap();
    }
    let bad = Command::new(bin)
        .args(["migrate", "lint", "--dir"])
        .arg(dir.path())
        .arg("change")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&bad.stdout);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("2026-01-01-000002_change/up.sql:3: require-concurrent-index-deletion:"),
        "{out}"
    );
    assert!(
        out.contains("instead:") && out.contains("lock: ACCESS EXCLUSIVE"),
        "{out}"
    );
    assert!(err.contains("1 finding(s)"), "{err}");

    let unknown = Command::new(bin)
        .args(["migrate", "lint", "--dir"])
        .arg(dir.path())
        .arg("2099")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no migration under"));
}

#[test]
fn an_index_a_failed_concurrent_build_left_invalid_is_reported_by_status_and_verify() {
    let test = "an_index_a_failed_concurrent_build_left_invalid_is_reported_by_status_and_verify";
    let Some(server) = postgres_or_skip(test) else {
        return;
    };
    let db = TestDb::postgres(&server);
    let url = db.url();
    let (code, out) = bookshelf(&url, &["migrate", "up"]);
    assert_eq!(code, 0, "{out}");
    let mut conn = PgConnection::establish(&url).unwrap();
    conn.batch_execute(
        "INSERT INTO books (title, author, price, rating) VALUES ('Dune', 'A', 1, 5), ('Dune', 'B', 2, 4)",
    )
    .unwrap();
    // Two books share a title: the unique index cannot be built, and
    // PostgreSQL leaves it behind, INVALID.
    let failed =
        conn.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY books_title_key ON books (title)");
    assert!(failed.is_err());

    let (code, out) = bookshelf(&url, &["migrate", "status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("WARNING: index books_title_key on books is INVALID")
            && out.contains("DROP INDEX CONCURRENTLY books_title_key;"),
        "{out}"
    );
    let (code, out) = bookshelf(&url, &["migrate", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL: index books_title_key on books is INVALID"),
        "{out}"
    );

    conn.batch_execute("DROP INDEX CONCURRENTLY books_title_key")
        .unwrap();
    let (code, out) = bookshelf(&url, &["migrate", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("INVALID"), "{out}");
}
