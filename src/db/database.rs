//! The application's database: the pool, and the threads that run Diesel
//! off Rocket's async workers.

use std::time::Duration;

use log::info;

use bookshelf_migrate::connection::{Backend, DatabaseUrl, DbConn};

use super::error::DbError;
use super::metrics::DbMetrics;
use super::pool::{Manager, Pool, JOB_UNAVAILABLE};
use super::readers::Readers;
use super::startup::{open_connection, StartupError};
use super::writer::{WriteTrouble, Writer};
use crate::config::Settings;

/// The pool, the threads that use it, and what the application needs to know
/// about its database.
pub struct Database {
    pub(super) pool: Pool,
    pub(super) url: DatabaseUrl,
    /// Run the queries, and the writes too when there is no writer.
    pub(super) readers: Readers,
    /// Runs every write on a SQLite file, with group commit.
    pub(super) writer: Option<Writer>,
    /// How long a request may wait for a thread to take its query (then 503).
    pub(super) timeout: Duration,
    /// What the threads report for `/metrics`.
    pub(super) metrics: DbMetrics,
}

impl Database {
    /// Opens the database named by the settings: checks that it can be reached
    /// (reporting the driver's own error), switches SQLite to WAL, and builds
    /// the pool and the database threads. Migrations are not its business:
    /// `crate::prepare_database` runs `migrations::at_startup` first.
    pub fn open(settings: &Settings) -> Result<Database, StartupError> {
        // Opened for its checks and WAL; start-up's migrations ran before (migrations::at_startup).
        let (_, url) = open_connection(settings)?;
        // Every in-memory SQLite connection is its own database: keep one.
        let max_size = if url.is_memory() {
            1
        } else {
            settings.database_pool_size.max(1)
        };
        let backend = url.backend();
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
        let metrics = DbMetrics::new();
        // An in-memory database lives in its one pooled connection.
        let writer = if backend == Backend::Sqlite && !url.is_memory() {
            Some(
                Writer::start(
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
            readers: Readers::start(readers, metrics.readers.clone())
                .map_err(StartupError::Threads)?,
            writer,
            timeout: settings.timeout(),
            metrics,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// Whether the SQLite writer thread (if there is one) runs; a dead one is
    /// logged and replaced first.
    pub fn writer_alive(&self) -> bool {
        self.writer.as_ref().is_none_or(Writer::is_alive)
    }

    /// Why writes to the SQLite file are failing, if they are.
    pub fn write_trouble(&self) -> Option<WriteTrouble> {
        self.writer.as_ref().and_then(Writer::trouble)
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
    pub fn metrics(&self) -> &DbMetrics {
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
