//! Every way a request can fail gets the shared JSON error shape, the right
//! status, and nothing of the server's internals.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use rocket::http::{ContentType, Method, Status};
use serde_json::json;

use crate::helpers::{connect, figment, valid_book, TestApp, TestDb};

#[test]
fn malformed_json_returns_400() {
    let app = TestApp::new();
    let trailing = format!("{} trailing", valid_book());
    for body in ["{\"title\": ", "not json", "", &trailing] {
        app.send_raw(Method::Post, "/books", body.as_bytes().to_vec())
            .assert_error(Status::BadRequest);
    }
    assert_eq!(app.get("/books").body["total"], json!(0));
}

#[test]
fn a_body_that_is_not_utf8_returns_400() {
    let app = TestApp::new();
    let body =
        b"{\"title\": \"\xff\xfe\", \"author\": \"x\", \"price\": 1, \"rating\": 1}".to_vec();
    app.send_raw(Method::Post, "/books", body)
        .assert_error(Status::BadRequest);
}

#[test]
fn a_body_over_the_limit_returns_413_and_stores_nothing() {
    let app = TestApp::with_config(|f| f.merge(("limits.json", "1 KiB")));
    let big = json!({"title": "t", "author": "a", "price": 1, "rating": 1,
                     "description": "d".repeat(2000)});
    app.post("/books", &big)
        .assert_error(Status::PayloadTooLarge);
    assert_eq!(app.get("/books").body["total"], json!(0));
}

#[test]
fn the_default_body_limit_is_64_kib() {
    let app = TestApp::new();
    let body = format!("{{\"title\": \"{}\"}}", "x".repeat(65 * 1024));
    app.send_raw(Method::Post, "/books", body.into_bytes())
        .assert_error(Status::PayloadTooLarge);
}

#[test]
fn deeply_nested_json_is_rejected_without_a_crash() {
    let app = TestApp::new();
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let reply = app.send_raw(Method::Post, "/books", body.into_bytes());
    assert!(reply.status.code < 500, "{}", reply.text);
    let nested = format!("{{\"title\": {}1{}}}", "[".repeat(1000), "]".repeat(1000));
    let reply = app.send_raw(Method::Post, "/books", nested.into_bytes());
    assert!(reply.status.code < 500, "{}", reply.text);
    assert_eq!(reply.body["status"], json!(reply.status.code));
}

#[test]
fn an_unknown_route_returns_404_in_the_error_shape() {
    let app = TestApp::new();
    app.get("/authors").assert_error(Status::NotFound);
    app.get("/books/1/chapters").assert_error(Status::NotFound);
}

#[test]
fn a_wrong_method_returns_405_with_allow() {
    let app = TestApp::new();
    let reply = app.send_raw(Method::Put, "/books", b"{}".to_vec());
    reply.assert_error(Status::MethodNotAllowed);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD, POST"));
    let reply = app.send_raw(Method::Post, "/reviews/1", b"{}".to_vec());
    reply.assert_error(Status::MethodNotAllowed);
    assert_eq!(reply.header("Allow"), Some("DELETE, GET, HEAD, PATCH"));
}

#[test]
fn ids_that_are_not_ids_return_422_not_500() {
    let app = TestApp::new();
    for uri in [
        "/books/abc",
        "/books/99999999999",
        "/books/1.5",
        "/reviews/-",
    ] {
        app.get(uri).assert_error(Status::UnprocessableEntity);
    }
    for uri in ["/books/-1", "/books/0", "/reviews/2147483647"] {
        app.get(uri).assert_error(Status::NotFound);
    }
}

#[test]
fn responses_carry_the_security_headers() {
    let app = TestApp::new();
    for reply in [app.get("/books"), app.get("/books/1"), app.get("/health")] {
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(reply.header("X-Frame-Options"), Some("SAMEORIGIN"));
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        assert_eq!(reply.header("Server"), None);
        // Rocket's default Shield sent it; Chromium warns about it (src/lib.rs).
        assert_eq!(reply.header("Permissions-Policy"), None);
    }
    let docs = app.get("/docs/");
    assert_eq!(docs.header("X-Frame-Options"), Some("SAMEORIGIN"));
    assert_eq!(docs.header("Cache-Control"), None);
}

#[test]
fn health_and_ready_report_the_backend() {
    let app = TestApp::new();
    let backend = crate::helpers::backend().name();
    let health = app.get("/health");
    assert_eq!(health.status, Status::Ok);
    assert_eq!(health.body, json!({"status": "ok", "database": backend}));
    let ready = app.get("/ready");
    assert_eq!(ready.status, Status::Ok);
    assert_eq!(
        ready.body,
        json!({"status": "ready", "database": backend,
               "migrations": {"applied": 11, "pending": 0, "checksums_ok": true}})
    );
}

#[test]
fn ready_returns_503_while_migrations_are_pending() {
    let app = TestApp::with_config(|f| f.merge(("migrate", "off")));
    let reply = app.get("/ready");
    reply.assert_error(Status::ServiceUnavailable);
    assert!(reply.body["message"]
        .as_str()
        .unwrap()
        .contains("migrations are pending"));
    assert_eq!(app.get("/health").status, Status::Ok);
}

/// Holds a lock that keeps writers (and on PostgreSQL readers) of `books`
/// waiting, until dropped.
fn lock_books(db: &TestDb) -> bookshelf::db::DbConn {
    let mut conn = connect(db);
    let sql = match &conn {
        bookshelf::db::DbConn::Sqlite(_) => "BEGIN EXCLUSIVE",
        bookshelf::db::DbConn::Postgres(_) => "BEGIN; LOCK TABLE books IN ACCESS EXCLUSIVE MODE",
    };
    conn.batch_execute(sql).expect("take the lock");
    conn
}

#[test]
fn a_locked_database_returns_503_and_loses_nothing() {
    // The lock timeout is a session's SET on PostgreSQL.
    if crate::helpers::backend() == bookshelf::db::Backend::Postgres
        && crate::helpers::skipped_through_a_pooler(
            "a_locked_database_returns_503_and_loses_nothing",
        )
    {
        return;
    }
    let app = TestApp::with_config(|f| f.merge(("database_lock_timeout", 300)));
    let before = app.create_book(json!({"title": "Before"}));
    let lock = lock_books(&app.db);
    let reply = app.post("/books", &valid_book());
    reply.assert_error(Status::ServiceUnavailable);
    assert_eq!(
        reply.header("Retry-After"),
        Some("1"),
        "a 503 says when to retry"
    );
    drop(lock);
    // Once the lock is gone, writes succeed again and nothing was lost.
    app.create_book(json!({"title": "After"}));
    let all = app.get("/books");
    assert_eq!(all.body["total"], json!(2), "{}", all.text);
    assert_eq!(all.body["items"][0], before);
}

#[test]
fn a_postgresql_statement_past_its_timeout_returns_503_and_frees_the_thread() {
    if crate::helpers::skipped_through_a_pooler(
        "a_postgresql_statement_past_its_timeout_returns_503",
    ) {
        return;
    }
    // A read blocked by a lock held elsewhere: the lock timeout is long (60 s),
    // the statement timeout short (300 ms), so the statement timeout answers.
    if crate::helpers::postgres_or_skip("a_postgresql_statement_past_its_timeout_returns_503")
        .is_none()
    {
        return;
    }
    let app = TestApp::with_config(|f| {
        f.merge(("database_lock_timeout", 60_000))
            .merge(("database_statement_timeout", 300))
            .merge(("database_pool_size", 1))
    });
    let book = app.create_book(json!({"title": "Kept"}));
    let lock = lock_books(&app.db);
    let started = Instant::now();
    let reply = app.get("/books");
    reply.assert_error(Status::ServiceUnavailable);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The only pooled connection was freed: the next request is served once the lock goes.
    drop(lock);
    let reply = app.get(&format!("/books/{}", book["id"]));
    assert_eq!(reply.status, Status::Ok, "{}", reply.text);
    assert_eq!(reply.body, book);
}

#[rocket::async_test]
async fn an_exhausted_pool_returns_503_after_the_pool_timeout() {
    use rocket::local::asynchronous::Client;
    let db = TestDb::new();
    let config = figment(&db)
        .merge(("database_pool_size", 1))
        .merge(("database_timeout", 1))
        .merge(("database_lock_timeout", 8000));
    let client = std::sync::Arc::new(Client::tracked(bookshelf::rocket(config)).await.unwrap());
    let lock = lock_books(&db);

    // The first request takes the only connection (on SQLite, the writer's)
    // and waits for the lock; the second waits its turn and gives up after
    // the database timeout. Each is a task of its own, as the server runs
    // them: the first may wait on its own worker (database_inline).
    let post = |title: &'static str| {
        let client = std::sync::Arc::clone(&client);
        async move {
            let response = client
                .post("/books")
                .header(ContentType::JSON)
                .body(json!({"title": title, "author": "a", "price": 1, "rating": 1}).to_string())
                .dispatch()
                .await;
            (
                response.status(),
                response.into_string().await.unwrap_or_default(),
            )
        }
    };
    let first = rocket::tokio::spawn(post("first"));
    let second = rocket::tokio::spawn({
        let post = post("second");
        async move {
            rocket::tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let result = post.await;
            (result, started.elapsed())
        }
    });
    rocket::tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(lock);
    let (first_status, _) = first.await.unwrap();
    let ((second_status, second_body), waited) = second.await.unwrap();
    assert_eq!(second_status, Status::ServiceUnavailable, "{second_body}");
    // It was the pool's timeout (1 s), not the lock's (8 s), that answered.
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    let body: serde_json::Value = serde_json::from_str(&second_body).unwrap();
    assert_eq!(body["error"], json!("service_unavailable"));
    // The first request got its connection back once the lock was released.
    assert_eq!(first_status, Status::Created);
    // The request answered 503 was not written later: only the first is stored.
    let list = client.get("/books").dispatch().await;
    let list: serde_json::Value = serde_json::from_str(&list.into_string().await.unwrap()).unwrap();
    assert_eq!(list["total"], json!(1), "{list}");
    assert_eq!(list["items"][0]["title"], json!("first"));
}

/// The pool does not ping before each job; a connection whose server end was
/// terminated fails its one job with a 503 and is dropped when it goes back,
/// so the service recovers by itself, within as many requests as it has
/// pooled connections, never answering 500.
#[test]
fn terminated_postgres_backends_cost_at_most_one_503_per_pooled_connection() {
    let test = "terminated_postgres_backends_cost_at_most_one_503_per_pooled_connection";
    let Some(server) = crate::helpers::postgres_or_skip(test) else {
        return;
    };
    let app = TestApp::new();
    let book = app.create_book(valid_book());
    let path = format!("/books/{}", book["id"]);
    // Warm the pool: several connections in use at once.
    for _ in 0..20 {
        assert_eq!(app.get(&path).status, Status::Ok);
    }
    let name = app.db.url().rsplit('/').next().unwrap().to_string();
    let mut admin = connect_server(&server);
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .unwrap();
    let mut unavailable = 0;
    for _ in 0..30 {
        let status = app.get(&path).status;
        assert!(
            status == Status::Ok || status == Status::ServiceUnavailable,
            "{status}"
        );
        unavailable += usize::from(status == Status::ServiceUnavailable);
    }
    assert!(
        unavailable <= 8,
        "{unavailable} requests failed after the termination"
    );
    for _ in 0..5 {
        assert_eq!(app.get(&path).status, Status::Ok, "not recovered");
    }
}

fn connect_server(url: &str) -> diesel::PgConnection {
    use diesel::Connection;
    diesel::PgConnection::establish(url).unwrap()
}

#[test]
fn every_response_carries_a_request_id_and_a_sensible_client_id_is_kept() {
    let app = TestApp::new();
    let get = |id: Option<&str>, uri: &str| {
        let mut request = app.client.get(uri.to_string());
        if let Some(id) = id {
            request = request.header(rocket::http::Header::new("X-Request-Id", id.to_string()));
        }
        crate::helpers::Reply::from(request.dispatch())
    };
    let missing = get(Some("trace-42.a_b:c"), "/books/4242");
    missing.assert_error(Status::NotFound);
    assert_eq!(missing.header("X-Request-Id"), Some("trace-42.a_b:c"));
    assert_eq!(missing.body["request_id"], json!("trace-42.a_b:c"));

    let ok = get(None, "/health");
    let made = ok.header("X-Request-Id").expect("a made id").to_string();
    assert_eq!(made.len(), 32, "{made}");
    assert_ne!(
        get(None, "/health").header("X-Request-Id"),
        Some(made.as_str())
    );

    for bad in ["", "two words", "<script>", &"x".repeat(129)] {
        let reply = get(Some(bad), "/books/4242");
        let id = reply.header("X-Request-Id").unwrap();
        assert!(
            id != bad && id.len() == 32,
            "{bad:?} was replaced by {id:?}"
        );
        reply.assert_error(Status::NotFound);
    }
}
