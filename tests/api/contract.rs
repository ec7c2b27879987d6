//! Expand/contract: contract migrations wait for `migrate up --contract`,
//! which waits for every replica of an older binary to be gone; serving
//! processes record themselves in `bookshelf_replicas`.

use std::path::Path;
use std::time::Duration;

use bookshelf::db::DatabaseUrl;
use bookshelf_migrate::replicas::{self, bookshelf_replicas};
use bookshelf_migrate::{up, up_contract, UpTo};
use diesel::prelude::*;
use diesel_migrations::FileBasedMigrations;

use crate::helpers::{connect, TestApp, TestDb};

const BASE: &str = "2026-01-01-000001_create_t";
const EXPAND: &str = "2026-01-01-000002_add_new_col";
const CONTRACT: &str = "2026-01-01-000003_drop_old_col";

fn write(dir: &Path, name: &str, up: &str, down: &str, metadata: Option<&str>) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("up.sql"), up).unwrap();
    std::fs::write(folder.join("down.sql"), down).unwrap();
    if let Some(metadata) = metadata {
        std::fs::write(folder.join("metadata.toml"), metadata).unwrap();
    }
}

/// A table, a column added (expand), and the old column dropped (contract).
fn migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    write(
        path,
        BASE,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, old_col TEXT);",
        "DROP TABLE t;",
        None,
    );
    write(
        path,
        EXPAND,
        "ALTER TABLE t ADD COLUMN new_col TEXT;",
        "ALTER TABLE t DROP COLUMN new_col;",
        None,
    );
    write(
        path,
        CONTRACT,
        "ALTER TABLE t DROP COLUMN old_col;",
        "ALTER TABLE t ADD COLUMN old_col TEXT;",
        Some("run_in_transaction = true\ncontract = true\n"),
    );
    dir
}

fn columns(conn: &mut bookshelf::db::DbConn) -> Vec<String> {
    let live = bookshelf_migrate::catalog::read(conn).unwrap();
    let mut names: Vec<String> = live
        .tables
        .iter()
        .filter(|t| t.name == "t")
        .flat_map(|t| t.columns.iter().map(|c| c.name.clone()))
        .collect();
    names.sort();
    names
}

#[test]
fn contract_migrations_wait_for_up_contract_and_for_replicas_of_older_binaries() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(&db.url(), Duration::from_secs(3)).unwrap();
    let mut conn = connect(&db);
    let dir = migrations();
    let source = FileBasedMigrations::from_path(dir.path()).unwrap();

    // `up` (and so `serve --migrate=auto`) applies the expand migrations only.
    assert_eq!(
        up(&mut conn, &url, &source, UpTo::Latest).unwrap(),
        vec![BASE.to_string(), EXPAND.to_string()]
    );
    assert_eq!(columns(&mut conn), vec!["id", "new_col", "old_col"]);
    let refused = up(&mut conn, &url, &source, UpTo::Version(CONTRACT.into())).unwrap_err();
    assert!(
        refused.to_string().contains("is a contract migration"),
        "{refused}"
    );

    // A replica of the previous binary (it knows EXPAND at most) is alive.
    let old = replicas::register(&mut conn, EXPAND).unwrap();
    replicas::register(&mut conn, CONTRACT).unwrap();
    let refused = up_contract(&mut conn, &url, &source, UpTo::Latest).unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains(&format!("refusing to apply contract migration {CONTRACT}"))
            && message.contains("1 replica(s)")
            && message.contains(&old),
        "{message}"
    );
    assert_eq!(columns(&mut conn), vec!["id", "new_col", "old_col"]);

    // Not heard from for a minute: not alive, no longer in the way.
    let minute_ago = bookshelf::models::now() - chrono::Duration::seconds(60);
    diesel::update(bookshelf_replicas::table.find(&old))
        .set(bookshelf_replicas::heartbeat_at.eq(minute_ago))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        up_contract(&mut conn, &url, &source, UpTo::Latest).unwrap(),
        vec![CONTRACT.to_string()]
    );
    assert_eq!(columns(&mut conn), vec!["id", "new_col"]);
}

#[test]
fn a_serving_process_records_its_newest_migration_and_leaves_at_shutdown() {
    let app = TestApp::new();
    let mut conn = connect(&app.db);
    let listed = replicas::list(&mut conn).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let newest = &*bookshelf::migrations::scripts(bookshelf::db::Backend::Sqlite)
        .last()
        .unwrap()
        .name;
    assert_eq!(listed[0].newest_migration, newest);
    assert_eq!(listed[0].pid, std::process::id() as i32);
    assert!(listed[0].is_alive(bookshelf::models::now()));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", app.db.url())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(status.contains("replicas: 1"), "{status}");
    assert!(
        status.contains(&format!("[alive] {}", listed[0].id)) && status.contains(newest),
        "{status}"
    );

    let TestApp { client, db } = app;
    drop(client);
    let mut conn = connect(&db);
    assert_eq!(replicas::list(&mut conn).unwrap(), vec![]);
}
