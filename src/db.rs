//! The only module that knows which database backends exist: parsing the URL,
//! opening connections (with SQLite's PRAGMAs), the r2d2 pool, the embedded
//! migrations, and running Diesel off Rocket's async workers.

use std::fmt;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use log::{info, warn};

use crate::config::Settings;

mod batch;
mod error;
mod threads;

pub use batch::{Batches, Work};
pub use error::DbError;

pub use threads::WriteTrouble;

/// Migrations for SQLite, compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Migrations for PostgreSQL, compiled into the binary (same versions as SQLite).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend type of [`DbConn`], for boxed queries.
pub type DbBackend = <DbConn as diesel::Connection>::Backend;

/// The connection pool shared by all requests.
pub type Pool = r2d2::Pool<Manager>;

/// The database backends bookshelf supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The lowercase name used in logs and in `/ready`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// This backend's embedded migrations.
    pub fn migrations(self) -> EmbeddedMigrations {
        match self {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }
}

/// Why a database could not be opened, migrated or pooled at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot connect to database {url}: {source}")]
    Connect {
        url: String,
        source: ConnectionError,
    },
    #[error("cannot prepare database {url}: {source}")]
    Prepare {
        url: String,
        source: diesel::result::Error,
    },
    #[error("cannot read migration state of {url}: {source}")]
    MigrationState {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "migration {name} failed on {url}: {source}; the database stays at the previous version"
    )]
    Migration {
        name: String,
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot update the migration records (bookshelf_migrations): {source}")]
    Bookkeeping { source: diesel::result::Error },
    #[error("cannot read the database's schema: {source}")]
    Catalog {
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot take the migration lock (another bookshelf may be migrating): {source}")]
    MigrationLock { source: diesel::result::Error },
    #[error("cannot begin or commit the migration transaction (another process may hold the database's write lock): {source}")]
    MigrationTransaction { source: diesel::result::Error },
    #[error("pending migrations: {}; apply them with `bookshelf migrate up` (or serve --migrate=auto)", names.join(", "))]
    Pending { names: Vec<String> },
    #[error("{0}")]
    Target(String),
    #[error("migration {name} could not be reverted on {url}: {source}; the database stays at the version before it")]
    Revert {
        name: String,
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot build connection pool for {url}: {source}")]
    Pool { url: String, source: r2d2::Error },
    #[error("cannot start the database threads: {0}")]
    Threads(std::io::Error),
}

/// A parsed `DATABASE_URL`: the backend it names and what to connect to.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: a file name for SQLite, a libpq URL for PostgreSQL.
    target: String,
    /// The URL as written, with any password replaced, for logs and errors.
    masked: String,
}

impl DatabaseUrl {
    /// Parses a database URL: `postgres://…` or `postgresql://…` is PostgreSQL;
    /// `sqlite://path`, `sqlite:path` or a plain path (including `file:` URIs
    /// and `:memory:`) is SQLite. Other schemes are refused.
    pub fn parse(url: &str, connect_timeout: Duration) -> Result<DatabaseUrl, StartupError> {
        let invalid = |reason: &str| StartupError::InvalidUrl {
            url: mask(url),
            reason: reason.to_string(),
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut parsed =
                url::Url::parse(url).map_err(|e| invalid(&format!("not a valid URL ({e})")))?;
            // libpq waits for the OS's TCP timeout (minutes) by default; bound it.
            if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") {
                parsed.query_pairs_mut().append_pair(
                    "connect_timeout",
                    &connect_timeout.as_secs().max(1).to_string(),
                );
            }
            return Ok(DatabaseUrl {
                backend: Backend::Postgres,
                target: parsed.to_string(),
                masked: mask(url),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(invalid("it names no SQLite file"));
        }
        if path.contains("://") {
            return Err(invalid(
                "unsupported scheme: use a SQLite file path, sqlite://PATH or postgres://…",
            ));
        }
        Ok(DatabaseUrl {
            backend: Backend::Sqlite,
            target: path.to_string(),
            masked: url.to_string(),
        })
    }

    /// The backend this URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether this is an in-memory SQLite database (one per connection).
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Sqlite
            && (self.target == ":memory:" || self.target.contains("mode=memory"))
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with its password masked: safe for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

/// Replaces the password of a URL with `***`, for logs and error messages.
pub fn mask(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Opens one connection of the right backend. A statement waits at most
/// `lock_timeout` for a lock, then fails (a 503, not a hang). SQLite
/// connections also enforce foreign keys (bundled SQLite does by default;
/// this keeps it so with any build) and sync every commit (`synchronous =
/// FULL`); the writer thread's connection follows `database_synchronous`.
pub fn connect(url: &DatabaseUrl, lock_timeout: Duration) -> ConnectionResult<DbConn> {
    let ms = lock_timeout.as_millis();
    match url.backend {
        Backend::Postgres => {
            let mut conn = PgConnection::establish(&url.target)?;
            conn.batch_execute(&format!("SET lock_timeout = {ms}"))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Postgres(conn))
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(&url.target)?;
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {ms}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

/// An r2d2 connection manager that opens connections of one known backend
/// (diesel's own manager would try every backend in turn and hide the error).
#[derive(Clone)]
pub struct Manager {
    url: DatabaseUrl,
    lock_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for request queries (not for
    /// migrations, which open their own connections).
    statement_timeout: Duration,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        let mut conn =
            connect(&self.url, self.lock_timeout).map_err(diesel::r2d2::Error::ConnectionError)?;
        if let DbConn::Postgres(pg) = &mut conn {
            // Each request statement is prepared once per connection (diesel's
            // statement cache). PostgreSQL's default would still plan it anew
            // at each execution whenever its generic plan looks costlier than
            // a plan for the values bound, as with a bound LIMIT (pgbench,
            // the list page's statement: 5,000 tps planned each time, 7,700
            // planned once). The plans do not depend on the values: every
            // list walks an index in its sort order (bench/scale.py checks
            // them at a million rows).
            let ms = self.statement_timeout.as_millis();
            pg.batch_execute(&format!(
                "SET statement_timeout = {ms}; SET plan_cache_mode = force_generic_plan"
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    /// Checked when a connection goes back to the pool, not when it is taken
    /// (the pool does not ping before every job: on PostgreSQL that was a
    /// round trip per request). A connection whose job failed as
    /// [`DbError::Unavailable`] is pinged then, and dropped if the server is
    /// gone, so a terminated backend costs one failed request, not one per
    /// later checkout: diesel's PostgreSQL `is_broken` only sees a broken
    /// transaction.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking()
            || conn.is_broken()
            || (JOB_UNAVAILABLE.replace(false) && conn.ping().is_err())
    }
}

thread_local! {
    /// Set on a database thread when its job failed as unavailable; read by
    /// [`Manager::has_broken`] when that job's connection goes back to the
    /// pool, on the same thread.
    static JOB_UNAVAILABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Opens the database named by the settings for start-up work: checks that
/// it can be reached (reporting the driver's own error) and switches SQLite
/// to WAL. The connection waits up to `migration_lock_timeout` for locks, as
/// another process may be migrating.
pub fn open_connection(settings: &Settings) -> Result<(DbConn, DatabaseUrl), StartupError> {
    let url = DatabaseUrl::parse(&settings.database_url, settings.timeout())?;
    let mut conn = connect(&url, settings.migration_lock_timeout()).map_err(|source| {
        StartupError::Connect {
            url: url.to_string(),
            source,
        }
    })?;
    if let DbConn::Sqlite(sqlite) = &mut conn {
        if !url.is_memory() {
            set_wal(sqlite, settings.migration_lock_timeout()).map_err(|source| {
                StartupError::Prepare {
                    url: url.to_string(),
                    source,
                }
            })?;
        }
    }
    Ok((conn, url))
}

/// Switches a SQLite file to WAL, which lets readers run beside the one
/// writer. It is a property of the file, so it is set once, at start-up. The
/// switch needs an exclusive lock and SQLite does not wait for it (no busy
/// handler), so when other processes have the file open it is retried until
/// `wait` has passed.
fn set_wal(conn: &mut SqliteConnection, wait: Duration) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct JournalMode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let deadline = std::time::Instant::now() + wait;
    loop {
        let result = diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<JournalMode>(conn);
        let expired = std::time::Instant::now() >= deadline;
        match result {
            Ok(mode) if mode.journal_mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) if expired => {
                warn!(
                    "SQLite stays in {} journal mode: WAL could not be set",
                    mode.journal_mode
                );
                return Ok(());
            }
            Err(error) if expired => return Err(error),
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The pool, the threads that use it, and what the application needs to know
/// about its database.
pub struct Database {
    pool: Pool,
    url: DatabaseUrl,
    /// Run the queries, and the writes too when there is no writer.
    readers: threads::Readers,
    /// Runs every write on a SQLite file, with group commit.
    writer: Option<threads::Writer>,
    /// How long a request may wait for a thread to take its query (then 503).
    timeout: Duration,
    /// What the threads report for `/metrics`.
    metrics: crate::metrics::DbMetrics,
}

impl Database {
    /// Records this serving process in the database, with the newest
    /// migration its binary knows, and keeps it alive until the returned
    /// `Heartbeat` is dropped (see [`crate::migrate::replicas`]). `None` for
    /// an in-memory database, or when it cannot be recorded (logged: `migrate
    /// up --contract` will not see this process).
    pub fn heartbeat(&self) -> Option<crate::migrate::replicas::Heartbeat> {
        if self.url.is_memory() {
            return None;
        }
        let newest = self.url.backend().migration_sql().last()?.name;
        crate::migrate::replicas::Heartbeat::start(&self.url, newest)
            .map_err(|e| log::error!("cannot record this process in bookshelf_replicas: {e}"))
            .ok()
    }

    /// Opens the database named by the settings: checks that it can be reached
    /// (reporting the driver's own error), switches SQLite to WAL, and builds
    /// the pool and the database threads. Migrations are not its business:
    /// `crate::prepare_database` runs `migrate::at_startup` first.
    pub fn open(settings: &Settings) -> Result<Database, StartupError> {
        // Opened for its checks and WAL; start-up's migrations ran before (migrate::at_startup).
        let (_, url) = open_connection(settings)?;
        // Every in-memory SQLite connection is its own database: keep one.
        let max_size = if url.is_memory() {
            1
        } else {
            settings.database_pool_size.max(1)
        };
        let backend = url.backend;
        let manager = Manager {
            url: url.clone(),
            lock_timeout: settings.lock_timeout(),
            statement_timeout: settings.statement_timeout(),
        };
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .test_on_check_out(false)
            .min_idle(Some(1))
            .connection_timeout(settings.timeout())
            .build(manager)
            .map_err(|source| StartupError::Pool {
                url: url.to_string(),
                source,
            })?;
        // SQLite queries use the CPU and do not wait on a network: more
        // threads than cores only take turns. PostgreSQL's wait on the
        // server: one thread per pooled connection.
        let readers = match backend {
            Backend::Sqlite => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(max_size as usize),
            Backend::Postgres => max_size as usize,
        };
        let metrics = crate::metrics::DbMetrics::new();
        // An in-memory database lives in its one pooled connection.
        let writer = if backend == Backend::Sqlite && !url.is_memory() {
            Some(
                threads::Writer::start(
                    url.clone(),
                    settings.lock_timeout(),
                    settings.database_synchronous,
                    metrics.clone(),
                )
                .map_err(StartupError::Threads)?,
            )
        } else {
            None
        };
        info!(
            "database {url} ({}) ready, pool of up to {max_size}, {readers} query thread(s){}",
            backend.name(),
            if writer.is_some() {
                " and one writer"
            } else {
                ""
            }
        );
        Ok(Database {
            pool,
            url,
            readers: threads::Readers::start(readers, metrics.readers.clone())
                .map_err(StartupError::Threads)?,
            writer,
            timeout: settings.timeout(),
            metrics,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    /// Whether the SQLite writer thread (if there is one) runs; a dead one is
    /// logged and replaced first.
    pub fn writer_alive(&self) -> bool {
        self.writer.as_ref().is_none_or(threads::Writer::is_alive)
    }

    /// Why writes to the SQLite file are failing, if they are.
    pub fn write_trouble(&self) -> Option<threads::WriteTrouble> {
        self.writer.as_ref().and_then(threads::Writer::trouble)
    }

    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The pool's connections, open and idle, now.
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// What the database threads report, for `/metrics`.
    pub fn metrics(&self) -> &crate::metrics::DbMetrics {
        &self.metrics
    }

    /// Runs `f` with a pooled connection on one of the database threads, so
    /// Diesel never blocks Rocket's async workers. Waiting longer than
    /// `database_timeout` for a thread is [`DbError::Unavailable`].
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<DbError>,
    {
        let pool = self.pool.clone();
        let job = move || {
            let mut conn = pool.get()?;
            let result = f(&mut conn).map_err(Into::into);
            if let Err(DbError::Unavailable(_)) = &result {
                JOB_UNAVAILABLE.set(true);
            }
            result
        };
        self.readers.run(job, self.timeout).await
    }

    /// Runs `f`, which changes data, as [`Database::run`] does; on a SQLite
    /// file it goes to the writer thread instead, in a savepoint of its own
    /// inside the writer's next transaction, and is answered once that
    /// transaction has committed. Waiting longer than `database_timeout` for
    /// the writer to take it is [`DbError::Unavailable`].
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<DbError>,
    {
        match &self.writer {
            Some(writer) => writer.run(f, self.timeout).await,
            None => self.run(f).await,
        }
    }
}

/// Runs `f`, a write of one statement, as [`write`] does on SQLite. On
/// PostgreSQL a single statement is atomic by itself, so it runs without
/// BEGIN and COMMIT: one round trip instead of three.
pub fn write_one<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Postgres(_) => f(conn),
        DbConn::Sqlite(_) => write(conn, f),
    }
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which
/// takes the write lock up front so that concurrent writers wait for it (up to
/// the busy timeout) instead of failing with "database is locked" when a read
/// transaction tries to upgrade. Inside a SQLite transaction (the writer
/// thread's savepoint for this write) `f` simply joins it: an error from `f`
/// rolls back that savepoint, and a second savepoint would only cost time.
pub fn write<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // The same steps as SqliteConnection::immediate_transaction, which cannot
    // be called here because `f` needs the multi-backend connection.
    type Sqlite = AnsiTransactionManager;
    match conn {
        DbConn::Postgres(_) => return conn.transaction(f),
        DbConn::Sqlite(sqlite) => {
            let status = Sqlite::transaction_manager_status_mut(sqlite);
            if status.transaction_depth()?.is_some() {
                return f(conn);
            }
            Sqlite::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
        }
    }
    let result = f(conn);
    if let DbConn::Sqlite(sqlite) = conn {
        match &result {
            Ok(_) => <Sqlite as TransactionManager<SqliteConnection>>::commit_transaction(sqlite)?,
            Err(_) => {
                <Sqlite as TransactionManager<SqliteConnection>>::rollback_transaction(sqlite)?
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<DatabaseUrl, StartupError> {
        DatabaseUrl::parse(url, Duration::from_secs(3))
    }

    #[test]
    fn paths_and_sqlite_urls_name_sqlite_files() {
        for (url, target) in [
            ("bookshelf.db", "bookshelf.db"),
            (
                "/var/lib/bookshelf/db.sqlite",
                "/var/lib/bookshelf/db.sqlite",
            ),
            ("sqlite://data/books.db", "data/books.db"),
            ("sqlite:books.db", "books.db"),
            ("file:books.db?mode=rwc", "file:books.db?mode=rwc"),
            (":memory:", ":memory:"),
        ] {
            let parsed = parse(url).unwrap();
            assert_eq!(parsed.backend(), Backend::Sqlite, "{url}");
            assert_eq!(parsed.target, target, "{url}");
        }
        assert!(parse(":memory:").unwrap().is_memory());
        assert!(!parse("books.db").unwrap().is_memory());
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout_unless_they_have_one() {
        let parsed = parse("postgres://u:secret@db.example:5432/books").unwrap();
        assert_eq!(parsed.backend(), Backend::Postgres);
        assert_eq!(
            parsed.target,
            "postgres://u:secret@db.example:5432/books?connect_timeout=3"
        );
        let parsed = parse("postgresql://db.example/books?connect_timeout=10").unwrap();
        assert_eq!(
            parsed.target,
            "postgresql://db.example/books?connect_timeout=10"
        );
    }

    #[test]
    fn logs_and_errors_show_the_url_with_its_password_masked() {
        let parsed = parse("postgres://u:secret@db.example/books").unwrap();
        assert_eq!(parsed.to_string(), "postgres://u:***@db.example/books");
        assert_eq!(
            mask("postgres://u@db.example/books"),
            "postgres://u@db.example/books"
        );
        let error = parse("mysql://u:secret@db.example/books").err().unwrap();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn unsupported_or_empty_urls_are_refused() {
        for url in [
            "",
            "  ",
            "sqlite://",
            "mysql://root@localhost/books",
            "http://x/y",
        ] {
            assert!(
                matches!(parse(url), Err(StartupError::InvalidUrl { .. })),
                "{url:?}"
            );
        }
        assert!(matches!(
            parse("postgres://[bad"),
            Err(StartupError::InvalidUrl { .. })
        ));
    }
}
