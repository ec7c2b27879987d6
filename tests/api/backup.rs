//! `bookshelf backup`: an online copy of a SQLite database taken while the
//! service writes, and a restore from it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rocket::http::{ContentType, Status};
use serde_json::{json, Value};

use crate::helpers::{async_client, TestDb};

fn run_backup(database_url: &str, path: &std::path::Path) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", database_url)
        .arg("backup")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn stored_ids(path: &str) -> Vec<i32> {
    let mut conn = SqliteConnection::establish(path).unwrap();
    bookshelf::schema::books::table
        .select(bookshelf::schema::books::id)
        .load(&mut conn)
        .unwrap()
}

/// Waits until `done`, for a minute at most.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[rocket::async_test]
async fn a_backup_under_load_holds_every_write_acknowledged_before_it_and_restores() {
    let db = TestDb::sqlite();
    let client = async_client(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let stop = AtomicBool::new(false);
    let acknowledged: Mutex<Vec<(Instant, i32)>> = Mutex::new(Vec::new());
    let load = async {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let response = client
                .post("/books")
                .header(ContentType::JSON)
                .body(json!({"title": format!("Book {n}"), "author": "Load", "price": 1, "rating": 3}).to_string())
                .dispatch()
                .await;
            assert_eq!(response.status(), Status::Created);
            let book: Value = response.into_json().await.unwrap();
            let id = book["id"].as_i64().unwrap() as i32;
            acknowledged.lock().unwrap().push((Instant::now(), id));
        }
    };
    // The backup starts once the load has written, and the load stops once
    // a write has been acknowledged after the backup started and the backup
    // is done: counts, not a time window, which a slow disk (each POST is an
    // fsync) can leave with hardly a write in it (as CI once did).
    let acknowledged_after = |since: Option<Instant>, count: usize| {
        let acknowledged = acknowledged.lock().unwrap();
        acknowledged
            .iter()
            .filter(|(at, _)| since.is_none_or(|since| *at > since))
            .count()
            >= count
    };
    let backup = async {
        wait_for("20 writes before the backup", || {
            acknowledged_after(None, 20)
        })
        .await;
        let started = Instant::now();
        let (url, path) = (db.url(), copy.clone());
        let outcome = rocket::tokio::task::spawn_blocking(move || run_backup(&url, &path))
            .await
            .unwrap();
        wait_for("a write after the backup started", || {
            acknowledged_after(Some(started), 1)
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        (started, outcome)
    };
    let ((), (started, (ok, said))) = rocket::tokio::join!(load, backup);
    assert!(ok, "{said}");
    assert!(said.contains("integrity_check ok"), "{said}");
    let acknowledged = acknowledged.into_inner().unwrap();
    let before: Vec<i32> = acknowledged
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, id)| *id)
        .collect();
    assert!(before.len() >= 20, "{} before", before.len());
    let copy_path = copy.to_str().unwrap();
    bookshelf::backup::check(copy_path).unwrap();
    let in_copy = stored_ids(copy_path);
    let missing: Vec<&i32> = before.iter().filter(|id| !in_copy.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );

    // A second backup to the same path is refused and leaves the copy alone.
    let (ok, said) = run_backup(&db.url(), &copy);
    assert!(!ok && said.contains("never overwrites"), "{said}");

    // Restore: stop, copy back (without the old -wal and -shm), start.
    drop(client);
    let live = db.url();
    std::fs::copy(&copy, &live).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{live}{suffix}"));
    }
    let client = async_client(&db).await;
    for id in &before {
        let response = client.get(format!("/books/{id}")).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "book {id} after the restore");
    }
    let page: Value = client
        .get("/books?limit=1")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(page["total"], json!(in_copy.len()));
}

#[test]
fn a_backup_of_postgresql_points_to_pg_dump() {
    let (ok, said) = run_backup(
        "postgres://nobody@127.0.0.1:1/none",
        std::path::Path::new("/tmp/never-written.db"),
    );
    assert!(!ok, "{said}");
    assert!(said.contains("back it up with pg_dump"), "{said}");
    assert!(!std::path::Path::new("/tmp/never-written.db").exists());
}
