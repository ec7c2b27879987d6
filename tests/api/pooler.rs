//! Through PgBouncer in `pool_mode = transaction`, as an operator puts it in
//! front of PostgreSQL: migrators racing, and the API under concurrent
//! requests, with the shipped settings (`database_statement_cache = auto`,
//! which tells the pooler apart and keeps no statement). They need
//! `TEST_PGBOUNCER_URL` (a server URL through the pooler, such as
//! postgres://postgres@127.0.0.1:6432/postgres; scripts/pgbouncer/start.sh
//! starts one) and say they were skipped without it. `.ci/run` sets it.

use std::process::Command;

use diesel_migrations::MigrationHarness;
use rocket::http::{ContentType, Status};
use serde_json::json;

use crate::helpers::{bookshelf, figment, TestDb};

/// A connection through the pooler: without diesel's statement cache, as
/// bookshelf's own are by default.
fn connect(db: &TestDb) -> bookshelf::db::DbConn {
    let timeout = std::time::Duration::from_secs(5);
    let url = bookshelf::db::DatabaseUrl::parse(&db.url(), timeout)
        .unwrap()
        .with_statement_cache(false);
    bookshelf::db::connect(&url, timeout).expect("connect through the pooler")
}

fn pooler_or_skip(test: &str) -> Option<String> {
    let url = std::env::var("TEST_PGBOUNCER_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED {test}: TEST_PGBOUNCER_URL is not set (see README: Tests)");
    }
    url
}

#[test]
fn six_migrators_racing_through_a_transaction_pooler_apply_each_migration_once() {
    let test = "six_migrators_racing_through_a_transaction_pooler_apply_each_migration_once";
    let Some(pooler) = pooler_or_skip(test) else {
        return;
    };
    let migrations = bookshelf::migrations::scripts(bookshelf::db::Backend::Postgres).len();
    for round in 0..3 {
        let db = TestDb::postgres(&pooler);
        let ups = race(&db, &["migrate", "up"]);
        let applied: usize = ups.iter().map(|o| o.matches("applied ").count()).sum();
        assert_eq!(
            applied, migrations,
            "round {round}: each migration is applied by exactly one migrator: {ups:?}"
        );
        assert_eq!(connect(&db).applied_migrations().unwrap().len(), migrations);
        let (code, verified) = bookshelf(&db.url(), &["migrate", "verify"]);
        assert_eq!(code, 0, "round {round}: {verified}");
        let downs = race(&db, &["migrate", "down", "--all"]);
        let reverted: usize = downs.iter().map(|o| o.matches("reverted ").count()).sum();
        assert_eq!(
            reverted, migrations,
            "round {round}: each migration is reverted by exactly one migrator: {downs:?}"
        );
        assert!(connect(&db).applied_migrations().unwrap().is_empty());
    }
}

/// Six bookshelf processes started together on `db` with `args`; each must
/// succeed. Returns what each printed.
fn race(db: &TestDb, args: &[&str]) -> Vec<String> {
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_bookshelf"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("DATABASE_URL", db.url())
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a migrator")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "`bookshelf {}`: {text}",
                args.join(" ")
            );
            text
        })
        .collect()
}

#[rocket::async_test]
async fn the_api_serves_concurrent_requests_through_a_transaction_pooler() {
    let test = "the_api_serves_concurrent_requests_through_a_transaction_pooler";
    let Some(pooler) = pooler_or_skip(test) else {
        return;
    };
    let db = TestDb::postgres(&pooler);
    let client = rocket::local::asynchronous::Client::tracked(bookshelf::rocket(figment(&db)))
        .await
        .expect("the application starts through the pooler");
    let mut ids = Vec::new();
    for i in 0..20 {
        let response = client
            .post("/books")
            .header(ContentType::JSON)
            .body(
                json!({"title": format!("T{i}"), "author": "A", "price": 1.0, "rating": 3})
                    .to_string(),
            )
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Created);
        let book: serde_json::Value = response.into_json().await.unwrap();
        ids.push(book["id"].as_i64().unwrap());
    }
    let gets = (0..400).map(|i| {
        let client = &client;
        let id = ids[i % ids.len()];
        async move {
            let path = if i % 4 == 0 {
                "/books?limit=5".to_string()
            } else {
                format!("/books/{id}")
            };
            client.get(path).dispatch().await.status()
        }
    });
    let statuses = rocket::futures::future::join_all(gets).await;
    let failed: Vec<_> = statuses.iter().filter(|s| **s != Status::Ok).collect();
    assert!(
        failed.is_empty(),
        "{} of 400 failed: {failed:?}",
        failed.len()
    );
}

#[test]
fn auto_tells_the_pooler_from_a_direct_connection_and_keeps_no_statement_through_it() {
    let test = "auto_tells_the_pooler_from_a_direct_connection_and_keeps_no_statement_through_it";
    let Some(pooler) = pooler_or_skip(test) else {
        return;
    };
    use bookshelf_migrate::pooler::{probe, Path};
    let timeout = std::time::Duration::from_secs(5);
    let through = bookshelf::db::DatabaseUrl::parse(&pooler, timeout).unwrap();
    assert!(
        matches!(probe(&through), Ok(Path::Pooler { .. })),
        "{:?}",
        probe(&through)
    );
    // The server itself, when the suite has its URL (not the pooler's).
    if let Some(direct) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty() && *u != pooler)
    {
        let direct = bookshelf::db::DatabaseUrl::parse(&direct, timeout).unwrap();
        assert_eq!(probe(&direct), Ok(Path::Direct));
    }
    // Served through the pooler with the default (`auto`), the API works:
    // the_api_serves_concurrent_requests_through_a_transaction_pooler.
}
