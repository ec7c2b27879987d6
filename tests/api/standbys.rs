//! Reads on a real hot standby (a streaming replica of TEST_DATABASE_URL's
//! server, made by scripts/postgres/standby.sh): which target serves them,
//! read-your-writes by `Bookshelf-Lsn`, and standbys that are down or lag.
//! They need `TEST_REPLICA_URL` (the standby's server URL, such as
//! postgres://postgres@127.0.0.1:5433/postgres) and `TEST_DATABASE_URL`, and
//! say they were skipped without them. `.ci/run` sets both.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use rocket::http::{Header, Status};
use serde_json::{json, Value};

use crate::helpers::{figment, TestApp, TestDb};

/// Held by each test that uses the standby: two of them pause its replay,
/// which the others must not see.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The primary's server, the standby's, and the right to use them until the
/// guard is dropped; or `None` (said) without them.
fn servers_or_skip(test: &str) -> Option<(String, String, std::sync::MutexGuard<'static, ()>)> {
    let get = |name| std::env::var(name).ok().filter(|u| !u.is_empty());
    match (get("TEST_DATABASE_URL"), get("TEST_REPLICA_URL")) {
        (Some(primary), Some(standby)) => {
            let alone = ONE_AT_A_TIME
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Some((primary, standby, alone))
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: TEST_REPLICA_URL and TEST_DATABASE_URL are not both set (see README: Tests)"
            );
            None
        }
    }
}

/// `db`'s database on the standby's server.
fn on_standby(db: &TestDb, standby_server: &str) -> String {
    let url = db.url();
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let server = standby_server.split('?').next().unwrap();
    let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
    format!("{server}/{name}")
}

/// The application on a fresh database of the primary, reading from `standbys`
/// (URLs, given `db`), with `max_lag` seconds of lag allowed.
fn app_with_standbys(
    primary: &str,
    standbys: impl FnOnce(&TestDb) -> Vec<String>,
    max_lag: f64,
) -> TestApp {
    let db = TestDb::postgres(primary);
    let urls = standbys(&db);
    let rocket = bookshelf::rocket(
        figment(&db)
            .merge(("database_replica_urls", urls))
            .merge(("replica_max_lag", max_lag)),
    );
    let client = rocket::local::blocking::Client::tracked(rocket).expect("the application starts");
    TestApp { client, db }
}

/// `/ready`'s replicas, once each has left `unknown` (or after 10 s).
fn replicas_once_probed(app: &TestApp) -> Vec<Value> {
    let since = Instant::now();
    loop {
        let ready = app.get("/ready");
        let replicas = ready.body["replicas"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let probed = replicas.iter().all(|r| r["state"] != "unknown");
        if (probed && !replicas.is_empty()) || since.elapsed() > Duration::from_secs(10) {
            return replicas;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `/ready` says the standby is in `state` (or 10 s).
fn wait_for_state(app: &TestApp, state: &str) -> Vec<Value> {
    let since = Instant::now();
    loop {
        let replicas = replicas_once_probed(app);
        if replicas[0]["state"] == state || since.elapsed() > Duration::from_secs(10) {
            return replicas;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A counter of `/metrics`, summed over the series whose labels hold `labels`.
fn counted(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let metrics = app.get("/metrics").text;
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn book(title: &str) -> Value {
    json!({"title": title, "author": "A", "price": 2.5, "rating": 4, "published": true})
}

#[test]
fn reads_go_to_the_standby_and_writes_to_the_primary() {
    let test = "reads_go_to_the_standby_and_writes_to_the_primary";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    let app = app_with_standbys(&primary, |db| vec![on_standby(db, &standby)], 5.0);
    let replicas = wait_for_state(&app, "streaming");
    assert_eq!(replicas[0]["state"], "streaming", "{replicas:?}");
    assert!(
        replicas[0]["lag_seconds"].as_f64().unwrap() <= 5.0,
        "{replicas:?}"
    );
    assert!(
        replicas[0]["url"].as_str().unwrap().contains(":"),
        "{replicas:?}"
    );

    let created = app.post("/books", &book("on the primary"));
    assert_eq!(created.status, Status::Created, "{}", created.body);
    let lsn = created
        .header("Bookshelf-Lsn")
        .expect("a write gives its WAL position");
    assert!(lsn.contains('/'), "{lsn}");
    let id = created.body["id"].as_i64().unwrap();

    // Reads with the token: the standby serves them once it has replayed it.
    for _ in 0..20 {
        let read = app
            .client
            .get(format!("/books/{id}"))
            .header(Header::new("Bookshelf-Lsn", lsn.to_string()))
            .dispatch();
        assert_eq!(read.status(), Status::Ok);
        let listed = app.get("/books?limit=5");
        assert_eq!(listed.status, Status::Ok);
    }
    let standby_url = replicas[0]["url"].as_str().unwrap().to_string();
    let on_standby = counted(
        &app,
        "bookshelf_replica_reads_total",
        &[&format!("target=\"{standby_url}\"")],
    );
    assert!(
        on_standby >= 20.0,
        "the standby served {on_standby} of 40 reads"
    );
}

#[test]
fn a_read_sent_with_the_writes_position_sees_the_write() {
    let test = "a_read_sent_with_the_writes_position_sees_the_write";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    let app = app_with_standbys(&primary, |db| vec![on_standby(db, &standby)], 5.0);
    wait_for_state(&app, "streaming");
    for i in 0..30 {
        let created = app.post("/books", &book(&format!("book {i}")));
        assert_eq!(created.status, Status::Created);
        let id = created.body["id"].as_i64().unwrap();
        let changed = app
            .client
            .patch(format!("/books/{id}"))
            .header(rocket::http::ContentType::JSON)
            .body(json!({"title": format!("changed {i}")}).to_string())
            .dispatch();
        assert_eq!(changed.status(), Status::Ok);
        let lsn = changed
            .headers()
            .get_one("Bookshelf-Lsn")
            .unwrap()
            .to_string();
        let read = app
            .client
            .get(format!("/books/{id}"))
            .header(Header::new("Bookshelf-Lsn", lsn.clone()))
            .dispatch();
        assert_eq!(read.status(), Status::Ok, "read {i} after {lsn}");
        let read: Value = read.into_json().unwrap();
        assert_eq!(
            read["title"],
            format!("changed {i}"),
            "read {i} after {lsn}"
        );
        let listed = app
            .client
            .get("/books?sort=-id&limit=1")
            .header(Header::new("Bookshelf-Lsn", lsn.clone()))
            .dispatch();
        let listed: Value = listed.into_json().unwrap();
        assert_eq!(listed["items"][0]["title"], format!("changed {i}"));
    }
    let bad = app
        .client
        .get("/books/1")
        .header(Header::new("Bookshelf-Lsn", "yesterday"))
        .dispatch();
    assert_eq!(bad.status(), Status::BadRequest);
    let body: Value = bad.into_json().unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Bookshelf-Lsn"),
        "{body}"
    );
}

#[test]
fn two_hundred_posts_each_read_back_with_its_position_find_their_book() {
    let test = "two_hundred_posts_each_read_back_with_its_position_find_their_book";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    let app = app_with_standbys(&primary, |db| vec![on_standby(db, &standby)], 5.0);
    let replicas = wait_for_state(&app, "streaming");
    let standby_url = replicas[0]["url"].as_str().unwrap().to_string();
    for i in 0..200 {
        let title = format!("pair {i}");
        let created = app.post("/books", &book(&title));
        assert_eq!(created.status, Status::Created, "POST {i}");
        let id = created.body["id"].as_i64().unwrap();
        let lsn = created.header("Bookshelf-Lsn").unwrap().to_string();
        let read = app
            .client
            .get(format!("/books/{id}"))
            .header(Header::new("Bookshelf-Lsn", lsn.clone()))
            .dispatch();
        assert_eq!(read.status(), Status::Ok, "GET {i} (book {id}) after {lsn}");
        let read: Value = read.into_json().unwrap();
        assert_eq!(read["title"], title, "GET {i} after {lsn}");
    }
    let on_standby = counted(
        &app,
        "bookshelf_replica_reads_total",
        &[&format!("target=\"{standby_url}\"")],
    );
    let on_primary = counted(
        &app,
        "bookshelf_replica_reads_total",
        &["target=\"primary\""],
    );
    assert_eq!(on_standby + on_primary, 200.0, "every GET was counted once");
    eprintln!("{test}: the standby served {on_standby} of the 200 GETs, the primary {on_primary}");
}

#[test]
fn a_standby_that_is_down_is_skipped_and_reads_go_on() {
    let test = "a_standby_that_is_down_is_skipped_and_reads_go_on";
    let Some((primary, _, _one)) = servers_or_skip(test) else {
        return;
    };
    // Nothing listens on port 1.
    let app = app_with_standbys(
        &primary,
        |_| vec!["postgres://postgres@127.0.0.1:1/none".to_string()],
        5.0,
    );
    let replicas = wait_for_state(&app, "down");
    assert_eq!(replicas[0]["state"], "down", "{replicas:?}");
    assert_eq!(
        app.get("/ready").status,
        Status::Ok,
        "a standby down leaves the service ready"
    );
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    for _ in 0..5 {
        assert_eq!(app.get(&format!("/books/{id}")).status, Status::Ok);
        assert_eq!(app.get("/books").status, Status::Ok);
    }
    assert!(
        counted(
            &app,
            "bookshelf_replica_skipped_total",
            &["reason=\"down\""]
        ) >= 10.0
    );
    assert!(
        counted(
            &app,
            "bookshelf_replica_reads_total",
            &["target=\"primary\""]
        ) >= 10.0
    );
}

/// A standby whose replay is paused; resumed when the test ends, however it ends.
struct Paused(diesel::PgConnection);

impl Paused {
    fn replay_of(standby: &str) -> Paused {
        let mut conn = diesel::PgConnection::establish(standby).unwrap();
        conn.batch_execute("SELECT pg_wal_replay_pause()").unwrap();
        Paused(conn)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("SELECT pg_wal_replay_resume()");
    }
}

#[test]
fn a_lagging_standby_is_skipped_until_it_catches_up() {
    let test = "a_lagging_standby_is_skipped_until_it_catches_up";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    let app = app_with_standbys(&primary, |db| vec![on_standby(db, &standby)], 0.3);
    wait_for_state(&app, "streaming");
    let paused = Paused::replay_of(&standby);
    let created = app.post("/books", &book("while the standby waits"));
    assert_eq!(created.status, Status::Created);
    let id = created.body["id"].as_i64().unwrap();
    let replicas = wait_for_state(&app, "lagging");
    assert_eq!(replicas[0]["state"], "lagging", "{replicas:?}");
    assert!(
        replicas[0]["lag_seconds"].as_f64().unwrap() > 0.3,
        "{replicas:?}"
    );
    // Without a token too, reads skip it: the primary has the book.
    let read = app.get(&format!("/books/{id}"));
    assert_eq!(read.status, Status::Ok);
    assert!(
        counted(
            &app,
            "bookshelf_replica_skipped_total",
            &["reason=\"lagging\""]
        ) >= 1.0
    );
    let lag = counted(&app, "bookshelf_replica_lag_milliseconds", &[]);
    assert!(lag > 300.0, "lag measured: {lag} ms");
    drop(paused);
    let replicas = wait_for_state(&app, "streaming");
    assert_eq!(replicas[0]["state"], "streaming", "caught up: {replicas:?}");
}

#[test]
fn migrate_status_reports_each_standby() {
    let test = "migrate_status_reports_each_standby";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    let db = TestDb::postgres(&primary);
    // The new database reaches the standby a moment later.
    let since = Instant::now();
    while diesel::PgConnection::establish(&on_standby(&db, &standby)).is_err() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the database never reached the standby"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let urls = format!(
        "{},postgres://postgres@127.0.0.1:1/none",
        on_standby(&db, &standby)
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", db.url())
        .env("DATABASE_REPLICA_URLS", &urls)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("standbys: 2"), "{text}");
    assert!(
        text.contains("[streaming]") && text.contains(", lag "),
        "{text}"
    );
    assert!(
        text.contains("[down] postgres://postgres@127.0.0.1:1/none"),
        "{text}"
    );
}

#[test]
fn a_read_with_the_writes_position_sees_what_a_paused_standby_lacks() {
    let test = "a_read_with_the_writes_position_sees_what_a_paused_standby_lacks";
    let Some((primary, standby, _one)) = servers_or_skip(test) else {
        return;
    };
    // A minute of lag allowed: the paused standby stays in use.
    let app = app_with_standbys(&primary, |db| vec![on_standby(db, &standby)], 60.0);
    wait_for_state(&app, "streaming");
    let paused = Paused::replay_of(&standby);
    let created = app.post("/books", &book("not on the standby yet"));
    assert_eq!(created.status, Status::Created);
    let id = created.body["id"].as_i64().unwrap();
    let lsn = created.header("Bookshelf-Lsn").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(600));
    let replicas = replicas_once_probed(&app);
    assert_eq!(replicas[0]["state"], "streaming", "{replicas:?}");
    // Without the token the standby answers, and has not the book: this is
    // what the token is for.
    assert_eq!(app.get(&format!("/books/{id}")).status, Status::NotFound);
    for _ in 0..5 {
        let read = app
            .client
            .get(format!("/books/{id}"))
            .header(Header::new("Bookshelf-Lsn", lsn.clone()))
            .dispatch();
        assert_eq!(
            read.status(),
            Status::Ok,
            "with {lsn}, the read goes to the primary"
        );
    }
    assert!(
        counted(
            &app,
            "bookshelf_replica_skipped_total",
            &["reason=\"behind\""]
        ) >= 5.0
    );
    drop(paused);
    // Once the standby replays again, it serves the token's reads itself.
    wait_for_state(&app, "streaming");
    let before = counted(
        &app,
        "bookshelf_replica_skipped_total",
        &["reason=\"behind\""],
    );
    std::thread::sleep(Duration::from_millis(600));
    let read = app
        .client
        .get(format!("/books/{id}"))
        .header(Header::new("Bookshelf-Lsn", lsn.clone()))
        .dispatch();
    assert_eq!(read.status(), Status::Ok);
    let after = counted(
        &app,
        "bookshelf_replica_skipped_total",
        &["reason=\"behind\""],
    );
    assert_eq!(
        before, after,
        "a standby that has replayed the position serves the read"
    );
}

#[test]
fn standbys_for_a_sqlite_database_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", dir.path().join("books.db"))
        .env(
            "DATABASE_REPLICA_URLS",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .env("ROCKET_PORT", "0")
        .arg("serve")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("database_replica_urls names standbys"),
        "{text}"
    );
}
