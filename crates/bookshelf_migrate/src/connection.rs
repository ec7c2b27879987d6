//! Connections to either backend: the URL that names one, opening it (with
//! SQLite's PRAGMAs and WAL), and write transactions that take SQLite's
//! write lock up front.

use std::fmt;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use log::warn;

use crate::error::Error;

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend type of [`DbConn`], for boxed queries.
pub type DbBackend = <DbConn as diesel::Connection>::Backend;

/// The database backends the engine supports.
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
}

/// A parsed `DATABASE_URL`: the backend it names and what to connect to.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: a file name for SQLite, a libpq URL for PostgreSQL.
    target: String,
    /// The URL as written, with any password replaced, for logs and errors.
    masked: String,
    /// PostgreSQL: keep each connection's prepared statements (diesel's
    /// statement cache). Off, every query is one unnamed Parse-Bind-Execute
    /// round trip, which a transaction-pooling PgBouncer can route.
    statement_cache: bool,
}

impl DatabaseUrl {
    /// Parses a database URL: `postgres://…` or `postgresql://…` is PostgreSQL;
    /// `sqlite://path`, `sqlite:path` or a plain path (including `file:` URIs
    /// and `:memory:`) is SQLite. Other schemes are refused.
    pub fn parse(url: &str, connect_timeout: Duration) -> Result<DatabaseUrl, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: mask(url),
            reason: reason.to_string(),
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // libpq's multi-host URLs (`postgres://a:5432,b:5432/db`, for
            // failover with `target_session_attrs`) are not URLs to the url
            // crate: it checks the rest with one host standing in for all.
            let hosts = Hosts::of(url);
            let checked = hosts.as_ref().map_or(url.to_string(), |h| h.stand_in(url));
            let mut parsed = url::Url::parse(&checked)
                .map_err(|e| invalid(&format!("not a valid URL ({e})")))?;
            // libpq waits for the OS's TCP timeout (minutes) by default; bound it.
            // With several hosts the timeout is per host.
            if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") {
                parsed.query_pairs_mut().append_pair(
                    "connect_timeout",
                    &connect_timeout.as_secs().max(1).to_string(),
                );
            }
            let target = parsed.to_string();
            return Ok(DatabaseUrl {
                backend: Backend::Postgres,
                target: hosts.map_or(target.clone(), |h| h.restore(&target)),
                masked: mask(url),
                statement_cache: true,
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
            statement_cache: true,
        })
    }

    /// The same URL, its PostgreSQL connections with diesel's statement cache
    /// on or off (on by default; see [`DatabaseUrl`]'s field). SQLite keeps its
    /// cache: no pooler sits between it and its file.
    pub fn with_statement_cache(mut self, on: bool) -> DatabaseUrl {
        self.statement_cache = on;
        self
    }

    /// The backend this URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What the driver is given (a file name, or a libpq URL with any
    /// password in it): never for messages, which use [`fmt::Display`].
    pub(crate) fn target(&self) -> &str {
        &self.target
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

/// The host list of a libpq multi-host URL (`postgres://u@a:1,b:2/db`).
struct Hosts {
    list: String,
}

impl Hosts {
    /// A stand-in host, which no URL holds.
    const STAND_IN: &'static str = "bookshelf-hosts.invalid";

    /// The host list of `url`, when it names more than one host.
    fn of(url: &str) -> Option<Hosts> {
        let (_, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?']).next()?;
        let list = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        list.contains(',').then(|| Hosts {
            list: list.to_string(),
        })
    }

    /// `url` with the stand-in for its host list.
    fn stand_in(&self, url: &str) -> String {
        url.replacen(&self.list, Hosts::STAND_IN, 1)
    }

    /// `url` (a stand-in's) with the host list back.
    fn restore(&self, url: &str) -> String {
        url.replacen(Hosts::STAND_IN, &self.list, 1)
    }
}

/// Replaces the password of a URL with `***`, for logs and error messages.
pub fn mask(url: &str) -> String {
    let hosts = Hosts::of(url);
    let checked = hosts.as_ref().map_or(url.to_string(), |h| h.stand_in(url));
    match url::Url::parse(&checked) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            let masked = parsed.to_string();
            hosts.map_or(masked.clone(), |h| h.restore(&masked))
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
            if !url.statement_cache {
                conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
            }
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

/// Opens `url` for migration work: checks that it can be reached (reporting
/// the driver's own error) and switches a SQLite file to WAL. The connection
/// waits up to `lock_wait` for locks, as another process may be migrating.
pub fn open(url: &DatabaseUrl, lock_wait: Duration) -> Result<DbConn, Error> {
    let mut conn = connect(url, lock_wait).map_err(|source| Error::Connect {
        url: url.to_string(),
        source,
    })?;
    if let DbConn::Sqlite(sqlite) = &mut conn {
        if !url.is_memory() {
            set_wal(sqlite, lock_wait).map_err(|source| Error::Prepare {
                url: url.to_string(),
                source,
            })?;
        }
    }
    Ok(conn)
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

/// Whether `error` is a lock another connection holds, which outlasted this
/// connection's wait: SQLite's busy (after `busy_timeout`), PostgreSQL's
/// `lock_timeout`. diesel passes these on only as text.
pub fn is_lock_wait(error: &diesel::result::Error) -> bool {
    let text = error.to_string();
    ["database is locked", "database is busy", "lock timeout"]
        .iter()
        .any(|lock| text.contains(lock))
}

/// Now, in UTC without a zone, to the microsecond (what PostgreSQL keeps),
/// so that both backends hold the same value: the time stamped on the
/// engine's records, and on the app's rows.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
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

    fn parse(url: &str) -> Result<DatabaseUrl, Error> {
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
    fn multi_host_postgres_urls_keep_their_hosts_and_hide_their_password() {
        let url = parse(
            "postgres://bookshelf:secret@10.0.0.1:5432,10.0.0.2:5433/books?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(
            url.target,
            "postgres://bookshelf:secret@10.0.0.1:5432,10.0.0.2:5433/books?target_session_attrs=read-write&connect_timeout=3"
        );
        assert_eq!(
            url.to_string(),
            "postgres://bookshelf:***@10.0.0.1:5432,10.0.0.2:5433/books?target_session_attrs=read-write"
        );
        let bare = parse("postgresql://a,b/db").unwrap();
        assert_eq!(bare.target, "postgresql://a,b/db?connect_timeout=3");
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
                matches!(parse(url), Err(Error::InvalidUrl { .. })),
                "{url:?}"
            );
        }
        assert!(matches!(
            parse("postgres://[bad"),
            Err(Error::InvalidUrl { .. })
        ));
    }
}
