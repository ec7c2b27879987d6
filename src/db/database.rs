//! The application's database: the pool, and the threads that run Diesel
//! off Rocket's async workers.

use std::time::Duration;

use log::info;

use bookshelf_migrate::connection::{Backend, DatabaseUrl, DbConn};

use super::error::DbError;
use super::in_flight::InFlight;
use super::metrics::DbMetrics;
use super::pool::{Manager, Pool, JOB_UNAVAILABLE};
use super::readers::Readers;
use super::standbys::{ReadAfter, Standbys};
use super::startup::{open_connection, with_statement_cache, StartupError};
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
    /// Hot standbys that serve reads (none unless `database_replica_urls`).
    pub(super) standbys: std::sync::Arc<Standbys>,
    /// The requests being served (counted by [`super::CountRequests`]).
    pub(super) in_flight: InFlight,
}

impl Database {
    /// Opens the database named by the settings: checks that it can be reached
    /// (reporting the driver's own error), switches SQLite to WAL, and builds
    /// the pool and the database threads. Migrations are not its business:
    /// `crate::prepare_database` runs `migrations::at_startup` first.
    pub fn open(settings: &Settings, in_flight: InFlight) -> Result<Database, StartupError> {
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
            read_only: false,
            lock_timeout: settings.lock_timeout(),
            statement_timeout: settings.statement_timeout(),
        };
        let standby_urls = standby_urls(settings, &url)?;
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .test_on_check_out(false)
            .min_idle(Some(1))
            .connection_timeout(settings.timeout())
            .build(manager.clone())
            .map_err(|source| StartupError::Pool {
                url: url.to_string(),
                source,
            })?;
        let standbys = Standbys::start(
            &url,
            standby_urls,
            &manager,
            max_size,
            settings.timeout(),
            settings.replica_max_lag(),
        )
        .map_err(StartupError::Threads)?;
        // SQLite queries use the CPU and do not wait on a network: more
        // threads than cores only take turns. PostgreSQL's wait on the
        // server: one thread per pooled connection.
        let readers = match backend {
            Backend::Sqlite => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(max_size as usize),
            // A read waits on one server at a time, whichever it is:
            // standbys add servers, not threads (a thread per standby
            // connection too cost more CPU per list, 1.35x against 1.13x
            // the primary alone's, for no more requests: bench/results.md).
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
                    settings.database_inline,
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
        for standby in standbys.list() {
            info!(
                "reads may use standby {} (read-only, pool of up to {max_size}, skipped past {:.1} s of lag)",
                standby.url,
                standbys.max_lag().as_secs_f64()
            );
        }
        Ok(Database {
            pool,
            url,
            readers: Readers::start(readers, metrics.readers.clone(), settings.database_inline)
                .map_err(StartupError::Threads)?,
            writer,
            timeout: settings.timeout(),
            metrics,
            standbys: std::sync::Arc::new(standbys),
            in_flight,
        })
    }

    /// The hot standbys that serve reads, and their health.
    pub fn standbys(&self) -> &Standbys {
        &self.standbys
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
        self.readers
            .run(job, self.timeout, self.uncontended())
            .await
    }

    /// Whether a job may run on its request's worker ([`Readers::here`]):
    /// its request is alone (no other in flight, none overlapping it for a
    /// while: src/db/in_flight.rs), and it would get a connection of the
    /// primary's pool at once (one is idle, and no standby is involved: a
    /// read on one may wait for its connection).
    pub(super) fn uncontended(&self) -> bool {
        self.in_flight.alone()
            && self.standbys.list().is_empty()
            && self.pool.state().idle_connections > 0
    }

    /// Runs `f`, which only reads, as [`Database::run`] does, on a hot
    /// standby when one can serve it (src/db/standbys.rs decides which, or
    /// the primary): one that has replayed `after`, the client's
    /// `Bookshelf-Lsn`, when it sent one. `f` may run twice: on the primary
    /// again when the standby fails it.
    pub async fn read<T, E, F>(&self, after: ReadAfter, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<DbError>,
    {
        if self.standbys.list().is_empty() {
            return self.run(f).await;
        }
        let (pool, standbys) = (self.pool.clone(), std::sync::Arc::clone(&self.standbys));
        let job = move || standbys.read(after, &pool, |conn| f(conn).map_err(Into::into));
        self.readers.run(job, self.timeout, false).await
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
            Some(writer) => writer.run(f, self.timeout, self.in_flight.alone()).await,
            None => self.run(f).await,
        }
    }
}

/// The standbys' URLs from the settings, checked: PostgreSQL ones, for a
/// PostgreSQL primary.
pub fn standby_urls(
    settings: &Settings,
    primary: &DatabaseUrl,
) -> Result<Vec<DatabaseUrl>, StartupError> {
    let urls = settings
        .database_replica_urls
        .iter()
        .map(|url| {
            DatabaseUrl::parse(url, settings.timeout())
                .map(|url| with_statement_cache(url, settings.database_statement_cache))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Ok(urls);
    }
    if primary.backend() != Backend::Postgres {
        return Err(StartupError::Target(format!(
            "database_replica_urls names standbys, but {primary} is SQLite: standbys are PostgreSQL streaming replicas of a PostgreSQL DATABASE_URL"
        )));
    }
    if let Some(url) = urls.iter().find(|u| u.backend() != Backend::Postgres) {
        return Err(StartupError::Target(format!(
            "database_replica_urls: {url} is not a PostgreSQL URL (postgres://…)"
        )));
    }
    Ok(urls)
}
