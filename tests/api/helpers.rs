//! The test harness: every test gets its own application on its own fresh
//! database. The suite runs on SQLite by default, and on PostgreSQL when
//! `TEST_DATABASE_URL` names a server (each test then creates a database of
//! its own there, and drops it afterwards).

use std::time::Duration;

use bookshelf::db::Backend;
pub use bookshelf_test_db::{postgres_or_skip, postgres_url, ProjectCopy, TestDb};

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::local::blocking::{Client, LocalResponse};
use serde_json::{json, Value};

/// Whether this run goes through a transaction pooler (TEST_DATABASE_URL is
/// TEST_PGBOUNCER_URL, as in `.ci/run`'s pooler run). A test of what lives in
/// a PostgreSQL session (prepared statements, a session's SET) says it was
/// skipped there: transaction pooling keeps no session, by design.
pub fn skipped_through_a_pooler(test: &str) -> bool {
    let pooler = std::env::var("TEST_PGBOUNCER_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let through = pooler.is_some() && pooler == std::env::var("TEST_DATABASE_URL").ok();
    if through {
        eprintln!(
            "SKIPPED {test}: it tests session state, which a transaction pooler does not keep"
        );
    }
    through
}

/// The backend this run of the suite uses.
pub fn backend() -> Backend {
    match postgres_url() {
        Some(_) => Backend::Postgres,
        None => Backend::Sqlite,
    }
}

/// The configuration a test application starts from: the repository's own
/// (Rocket.toml), on `db`, quiet.
pub fn figment(db: &TestDb) -> Figment {
    bookshelf::config::figment()
        .merge(("database_url", db.url()))
        .merge(("log_level", "off"))
}

/// The application on `db` with an async client, for tests whose requests
/// run at the same time.
pub async fn async_client(db: &TestDb) -> rocket::local::asynchronous::Client {
    rocket::local::asynchronous::Client::tracked(bookshelf::rocket(figment(db)))
        .await
        .expect("the application starts")
}

/// An application on a fresh database, and a client for it.
pub struct TestApp {
    // Declared before `db`: the server's pool closes before the database is dropped.
    pub client: Client,
    pub db: TestDb,
}

impl TestApp {
    /// The application with the repository's configuration.
    pub fn new() -> TestApp {
        TestApp::with_config(|figment| figment)
    }

    /// The application with its configuration changed by `configure`.
    pub fn with_config(configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        TestApp::on(TestDb::new(), configure)
    }

    /// The application on `db`, which a test prepared, configured by `configure`.
    pub fn on(db: TestDb, configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        let rocket = bookshelf::rocket(configure(figment(&db)));
        let client = Client::tracked(rocket).expect("the application starts");
        TestApp { client, db }
    }

    pub fn get(&self, uri: &str) -> Reply {
        Reply::from(self.client.get(uri.to_string()).dispatch())
    }

    pub fn delete(&self, uri: &str) -> Reply {
        Reply::from(self.client.delete(uri.to_string()).dispatch())
    }

    pub fn post(&self, uri: &str, body: &Value) -> Reply {
        self.send_raw(
            rocket::http::Method::Post,
            uri,
            body.to_string().into_bytes(),
        )
    }

    pub fn put(&self, uri: &str, body: &Value) -> Reply {
        self.send_raw(
            rocket::http::Method::Put,
            uri,
            body.to_string().into_bytes(),
        )
    }

    pub fn patch(&self, uri: &str, body: &Value) -> Reply {
        self.send_raw(
            rocket::http::Method::Patch,
            uri,
            body.to_string().into_bytes(),
        )
    }

    /// Sends `body` as it is, JSON or not.
    pub fn send_raw(&self, method: rocket::http::Method, uri: &str, body: Vec<u8>) -> Reply {
        Reply::from(
            self.client
                .req(method, uri.to_string())
                .header(ContentType::JSON)
                .body(body)
                .dispatch(),
        )
    }

    /// Creates a book from `valid_book()` with `fields` changed, and returns it.
    pub fn create_book(&self, fields: Value) -> Value {
        let reply = self.post("/books", &book_with(fields));
        assert_eq!(reply.status, Status::Created, "{}", reply.body);
        reply.body
    }

    /// Creates a review of book `book_id`, and returns it.
    pub fn create_review(&self, book_id: i64, author: &str, content: &str) -> Value {
        let reply = self.post(
            &format!("/books/{book_id}/reviews"),
            &json!({"author": author, "content": content}),
        );
        assert_eq!(reply.status, Status::Created, "{}", reply.body);
        reply.body
    }
}

/// Opens a connection of bookshelf's own kind to a test database, as
/// bookshelf's own are by default (no statement cache: the suite may run
/// through a transaction pooler).
pub fn connect(db: &TestDb) -> bookshelf::db::DbConn {
    let url = bookshelf::db::DatabaseUrl::parse(&db.url(), Duration::from_secs(3))
        .expect("the test database URL parses")
        .with_statement_cache(false);
    bookshelf::db::connect(&url, Duration::from_secs(5)).expect("connect to the test database")
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// A book body that passes validation.
pub fn valid_book() -> Value {
    json!({
        "title": "Dune",
        "author": "Frank Herbert",
        "price": 9.99,
        "rating": 5,
        "published": true,
        "description": "Spice and sand."
    })
}

/// `valid_book()` with `fields` set (a `null` in `fields` removes that key).
pub fn book_with(fields: Value) -> Value {
    let mut book = valid_book();
    for (key, value) in fields.as_object().expect("fields is an object") {
        if value.is_null() {
            book.as_object_mut().unwrap().remove(key);
        } else {
            book[key] = value.clone();
        }
    }
    book
}

/// A response, read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts that this is an error of `status` in the shared JSON shape, and
    /// that it leaks nothing of the server's internals.
    pub fn assert_error(&self, status: Status) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.body["status"], json!(status.code), "{}", self.text);
        assert!(self.body["error"].is_string(), "{}", self.text);
        assert!(self.body["message"].is_string(), "{}", self.text);
        assert!(self.body["fields"].is_array(), "{}", self.text);
        assert_eq!(
            self.body["request_id"].as_str(),
            Some(self.header("X-Request-Id").expect("an X-Request-Id header")),
            "the body names the request's id: {}",
            self.text
        );
        assert_eq!(self.body.as_object().unwrap().len(), 5, "{}", self.text);
        let lower = self.text.to_lowercase();
        for internal in [
            "sql", "diesel", "postgres", "/tmp", "panic", "r2d2", "select ",
        ] {
            assert!(
                !lower.contains(internal),
                "error leaks {internal:?}: {}",
                self.text
            );
        }
        assert_eq!(
            self.header("Content-Type"),
            Some("application/json"),
            "errors are JSON"
        );
    }

    /// Asserts a 422 that names `field` among the offending fields.
    pub fn assert_invalid_field(&self, field: &str) {
        self.assert_error(Status::UnprocessableEntity);
        let fields: Vec<&str> = self.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "expected {field:?} among {fields:?}: {}",
            self.text
        );
    }
}

impl From<LocalResponse<'_>> for Reply {
    fn from(response: LocalResponse<'_>) -> Reply {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let text = response.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            headers,
        }
    }
}

/// The engine's migration commands with bookshelf's compiled migrations, as
/// `bookshelf migrate` calls them.
pub mod migrate {
    use bookshelf::db::{Backend, DatabaseUrl, DbConn};
    pub use bookshelf_migrate::{
        checksum, new, Direction, DownTo, Error, MigrationState, Problem, Summary, UpTo,
        Verification,
    };

    fn source(url: &DatabaseUrl) -> &'static bookshelf_migrate::Compiled {
        bookshelf::migrations::of(url.backend())
    }

    pub fn history(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Vec<MigrationState>, Error> {
        bookshelf_migrate::history(conn, url, source(url))
    }

    pub fn pending_names(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Vec<String>, Error> {
        bookshelf_migrate::pending_names(conn, url, source(url))
    }

    pub fn up(conn: &mut DbConn, url: &DatabaseUrl, to: UpTo) -> Result<Vec<String>, Error> {
        bookshelf_migrate::up(conn, url, source(url), to)
    }

    pub fn down(conn: &mut DbConn, url: &DatabaseUrl, to: DownTo) -> Result<Vec<String>, Error> {
        bookshelf_migrate::down(conn, url, source(url), to)
    }

    pub fn verify(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Verification, Error> {
        bookshelf_migrate::verify(conn, url, source(url))
    }

    pub fn summary(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Summary, Error> {
        bookshelf_migrate::summary(conn, url, source(url))
    }

    pub fn accept(conn: &mut DbConn, url: &DatabaseUrl, name: &str) -> Result<(), Error> {
        bookshelf_migrate::accept(conn, url, source(url), name)
    }

    pub fn schema_drift(
        conn: &mut DbConn,
        url: &DatabaseUrl,
    ) -> Result<Option<Vec<String>>, Error> {
        let model = bookshelf::migrations::built_model()?;
        bookshelf_migrate::schema_drift(conn, url, source(url), &model)
    }

    pub fn resolve(backend: Backend, query: &str) -> Result<String, Error> {
        bookshelf_migrate::resolve(bookshelf::migrations::of(backend), query)
    }

    pub fn sql(backend: Backend, direction: Direction, to: Option<&str>) -> String {
        bookshelf_migrate::sql(bookshelf::migrations::of(backend), backend, direction, to)
    }
}

/// Runs the bookshelf binary on `database_url`; returns its exit code and
/// everything it printed (stdout, then stderr).
pub fn bookshelf(database_url: &str, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", database_url)
        .env("ROCKET_CLI_COLORS", "false")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}
