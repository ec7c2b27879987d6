//! bookshelf-peer: the peer service that bench/run.sh measures beside bookshelf
//! (issue 12, "baselines in the same run"). It answers the routes the
//! benchmark loads with the same JSON as bookshelf, written the way axum's and
//! sqlx's documentation shows: a tokio multi-thread runtime, an axum Router
//! with typed extractors, and a sqlx pool of the backend's own driver
//! (PostgreSQL or SQLite, chosen by DATABASE_URL; statements are prepared and
//! cached per connection, sqlx's default). It does not migrate: bookshelf
//! creates the schema first.
//!
//!   GET  /health                   {"status":"ok","database":…}, no database
//!   GET  /books/{id}               the book, or a 404 error
//!   GET  /books?limit=20&offset=0  {"items":[…],"total":N,"offset":0,"limit":20}
//!   POST /books                    201 + Location, or 422 on invalid input
//!
//! Build: cargo build --release --manifest-path bench/peer/Cargo.toml
//!        (binary: bench/peer/target/release/bookshelf-peer)
//! Run:   DATABASE_URL=postgres://…|sqlite:PATH|PATH bookshelf-peer
//! Environment: PEER_ADDR (default 127.0.0.1:8001), PEER_POOL_SIZE (default 8,
//! as bookshelf), PEER_SQLITE_WRITERS (default 1: SQLite writes go through a
//! pool of one connection of their own, as bookshelf's go through its writer
//! thread's connection; 0: through the same pool as reads),
//! PEER_TEST_BEFORE_ACQUIRE (default false, see `connect`).

use std::env;
use std::error::Error;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use chrono::{NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

/// The pools of the backend's native driver (sqlx's `Any` driver is slower).
#[derive(Clone)]
enum Db {
    Postgres(PgPool),
    /// SQLite takes one writer at a time: writes go through `writer`, a pool
    /// of its own (one connection by default) so that they queue in the pool
    /// instead of sleeping in SQLite's busy handler; reads use `pool`.
    Sqlite {
        pool: SqlitePool,
        writer: SqlitePool,
    },
}

/// Evaluates `$body` with `$pool` bound to the pool `$db` reads with; the
/// body is compiled once per backend, each with its own driver's types.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Postgres($pool) => $body,
            Db::Sqlite { pool: $pool, .. } => $body,
        }
    };
}

/// As [`with_pool!`], with the pool `$db` writes with.
macro_rules! with_writer {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Postgres($pool) => $body,
            Db::Sqlite { writer: $pool, .. } => $body,
        }
    };
}

/// The columns a [`Book`] is read from, for SELECT and RETURNING.
macro_rules! book_columns {
    () => {
        "id, title, author, price, rating, published, created_at, updated_at, description"
    };
}

const FIND_SQL: &str = concat!("SELECT ", book_columns!(), " FROM books WHERE id = $1");
const COUNT_SQL: &str = "SELECT count(*) FROM books";
const PAGE_SQL: &str = concat!(
    "SELECT ",
    book_columns!(),
    " FROM books ORDER BY id LIMIT $1 OFFSET $2"
);
const INSERT_SQL: &str = concat!(
    "INSERT INTO books (title, author, price, rating, published, description, created_at, updated_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
    book_columns!()
);

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Book {
    id: i32,
    title: String,
    author: String,
    price: f64,
    rating: i32,
    published: bool,
    #[serde(serialize_with = "utc")]
    created_at: NaiveDateTime,
    #[serde(serialize_with = "utc")]
    updated_at: NaiveDateTime,
    description: Option<String>,
}

/// RFC 3339 in UTC with `Z`, as bookshelf writes timestamps.
fn utc<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBook {
    title: String,
    author: String,
    price: f64,
    /// A number, so that `3.0` is accepted as bookshelf accepts it.
    rating: serde_json::Number,
    #[serde(default)]
    published: bool,
    #[serde(default)]
    description: Option<String>,
}

/// A book that passed [`NewBook::validate`].
struct ValidBook {
    title: String,
    author: String,
    price: f64,
    rating: i32,
    published: bool,
    description: Option<String>,
}

#[derive(Debug, Serialize)]
struct FieldError {
    field: &'static str,
    message: String,
}

/// Blank as bookshelf counts it: Unicode white space, U+FEFF, U+001C..U+001F.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// bookshelf's text rule: at most `max` characters, no NUL, and when
/// `required` at least one character that is not blank.
fn check_text(value: &str, required: bool, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if required && !(1..=max).contains(&length) {
        return Err(format!("must be 1 to {max} characters"));
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if required && value.chars().all(is_blank) {
        return Err("must not be blank".into());
    }
    Ok(())
}

impl NewBook {
    fn validate(self) -> Result<ValidBook, ApiError> {
        let mut errors = Vec::new();
        let mut check = |field, result: Result<(), String>| {
            if let Err(message) = result {
                errors.push(FieldError { field, message });
            }
        };
        check("title", check_text(&self.title, true, 200));
        check("author", check_text(&self.author, true, 100));
        if let Some(description) = &self.description {
            check("description", check_text(description, false, 2000));
        }
        if !(self.price.is_finite() && (0.0..=1_000_000.0).contains(&self.price)) {
            check("price", Err("must be a number from 0 to 1000000".into()));
        }
        let whole = match (self.rating.as_i64(), self.rating.as_f64()) {
            (Some(i), _) => Some(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() <= i64::MAX as f64 => Some(f as i64),
            _ => None,
        };
        let rating = match whole {
            Some(r @ 1..=5) => r as i32,
            _ => {
                check("rating", Err("must be a whole number from 1 to 5".into()));
                0
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        Ok(ValidBook {
            title: self.title,
            author: self.author,
            price: self.price,
            rating,
            published: self.published,
            description: self.description,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    20
}

#[derive(Serialize)]
struct Page {
    items: Vec<Book>,
    total: i64,
    offset: i64,
    limit: i64,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

/// An error answered with bookshelf's error body.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    fields: Vec<FieldError>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: u16,
    error: &'static str,
    message: &'a str,
    fields: &'a [FieldError],
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn invalid(fields: Vec<FieldError>) -> ApiError {
        ApiError {
            fields,
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The request has invalid values.",
            )
        }
    }

    fn field(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(vec![FieldError {
            field,
            message: message.into(),
        }])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self.status.as_u16() {
            400 => "bad_request",
            404 => "not_found",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            503 => "service_unavailable",
            _ => "internal_error",
        };
        let body = ErrorBody {
            status: self.status.as_u16(),
            error,
            message: &self.message,
            fields: &self.fields,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        eprintln!("bookshelf-peer: database error: {error}");
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable or busy; try again shortly.",
                )
            }
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An internal error occurred.",
            ),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            // The body is JSON of the wrong shape (wrong type, unknown or missing field).
            JsonRejection::JsonDataError(e) => ApiError::field("body", e.body_text()),
            other => ApiError::new(other.status(), other.body_text()),
        }
    }
}

async fn health(State(db): State<Db>) -> Json<Health> {
    let database = match db {
        Db::Postgres(_) => "postgres",
        Db::Sqlite { .. } => "sqlite",
    };
    Json(Health {
        status: "ok",
        database,
    })
}

async fn get_book(
    State(db): State<Db>,
    id: Result<Path<i32>, PathRejection>,
) -> Result<Json<Book>, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "There is nothing at this path.",
        ));
    };
    let book: Option<Book> = with_pool!(&db, pool => {
        sqlx::query_as(FIND_SQL).bind(id).fetch_optional(pool).await?
    });
    book.map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no book with id {id}")))
}

async fn list_books(
    State(db): State<Db>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    if query.offset < 0 {
        return Err(ApiError::field("offset", "must be 0 or more"));
    }
    if !(1..=100).contains(&query.limit) {
        return Err(ApiError::field("limit", "must be from 1 to 100"));
    }
    // Both statements on one connection, as bookshelf runs them.
    let (total, items) = with_pool!(&db, pool => {
        let mut conn = pool.acquire().await?;
        let total: i64 = sqlx::query_scalar(COUNT_SQL)
            .fetch_one(&mut *conn)
            .await?;
        let items: Vec<Book> = sqlx::query_as(PAGE_SQL)
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(&mut *conn)
            .await?;
        (total, items)
    });
    Ok(Json(Page {
        items,
        total,
        offset: query.offset,
        limit: query.limit,
    }))
}

async fn create_book(
    State(db): State<Db>,
    body: Result<Json<NewBook>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body?;
    let new = new.validate()?;
    let now = Utc::now().naive_utc().trunc_subsecs(6);
    let book: Book = with_writer!(&db, pool => {
        sqlx::query_as(INSERT_SQL)
            .bind(&new.title)
            .bind(&new.author)
            .bind(new.price)
            .bind(new.rating)
            .bind(new.published)
            .bind(&new.description)
            .bind(now)
            .bind(now)
            .fetch_one(pool)
            .await?
    });
    let location = format!("/books/{}", book.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(book),
    )
        .into_response())
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "There is nothing at this path.")
}

/// Opens the pools DATABASE_URL names: `postgres://…`/`postgresql://…`, or
/// a SQLite file as `sqlite://PATH`, `sqlite:PATH` or a plain path. On
/// SQLite, `writers` connections of their own take the writes (bookshelf
/// too writes through one connection of its own, beside its pool); 0 sends
/// writes through the same pool as reads.
async fn connect(
    url: &str,
    size: u32,
    writers: u32,
    test_before_acquire: bool,
) -> Result<Db, sqlx::Error> {
    // sqlx pings a connection on every checkout by default; bookshelf does not
    // (it checks connections when they go back to the pool), so neither does
    // the peer unless PEER_TEST_BEFORE_ACQUIRE=true asks for sqlx's default.
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = PoolOptions::new()
            .max_connections(size)
            .test_before_acquire(test_before_acquire)
            .connect(url)
            .await?;
        return Ok(Db::Postgres(pool));
    }
    let options = match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(_) => SqliteConnectOptions::from_str(url)?,
        None => SqliteConnectOptions::new().filename(url),
    };
    // bookshelf's settings: WAL, foreign keys on, busy timeout 5 s, and every
    // commit synced (synchronous = FULL).
    let options = options
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .synchronous(SqliteSynchronous::Full);
    let pool = PoolOptions::new()
        .max_connections(size)
        .test_before_acquire(test_before_acquire)
        .connect_with(options.clone())
        .await?;
    let writer = match writers {
        0 => pool.clone(),
        n => {
            PoolOptions::new()
                .max_connections(n)
                .test_before_acquire(test_before_acquire)
                .connect_with(options)
                .await?
        }
    };
    Ok(Db::Sqlite { pool, writer })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn env_or(name: &str, default: &str) -> String {
    env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let size: u32 = env_or("PEER_POOL_SIZE", "8")
        .parse()
        .map_err(|_| "PEER_POOL_SIZE must be a whole number")?;
    let test_before_acquire: bool = env_or("PEER_TEST_BEFORE_ACQUIRE", "false")
        .parse()
        .map_err(|_| "PEER_TEST_BEFORE_ACQUIRE must be true or false")?;
    let writers: u32 = env_or("PEER_SQLITE_WRITERS", "1")
        .parse()
        .map_err(|_| "PEER_SQLITE_WRITERS must be a whole number")?;
    let addr = env_or("PEER_ADDR", "127.0.0.1:8001");

    let db = connect(&url, size, writers, test_before_acquire)
        .await
        .map_err(|e| format!("cannot open {url}: {e}"))?;
    let app = Router::new()
        .route("/health", get(health))
        .route("/books", get(list_books).post(create_book))
        .route("/books/{id}", get(get_book))
        .fallback(fallback)
        .with_state(db.clone());

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let writer_note = match &db {
        Db::Sqlite { .. } if writers > 0 => format!(" (+ {writers} for SQLite writes)"),
        _ => String::new(),
    };
    eprintln!("bookshelf-peer: listening on http://{addr}, pool of {size}{writer_note}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    if let Db::Sqlite { writer, .. } = &db {
        writer.close().await;
    }
    with_pool!(db, pool => pool.close().await);
    Ok(())
}
