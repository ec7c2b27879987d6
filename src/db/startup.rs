//! Opening the database at start-up, and why start-up can fail.

use bookshelf_migrate::connection::{self, DatabaseUrl, DbConn};

use crate::config::Settings;

/// Why a database could not be opened, migrated or pooled at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Opening, reading or migrating it (the engine's errors).
    #[error(transparent)]
    Migrate(#[from] bookshelf_migrate::Error),
    #[error("cannot build connection pool for {url}: {source}")]
    Pool { url: String, source: r2d2::Error },
    #[error("cannot start the database threads: {0}")]
    Threads(std::io::Error),
    /// A request that cannot be done, with what to do instead.
    #[error("{0}")]
    Target(String),
}

/// Opens the database named by the settings for start-up work: checks that
/// it can be reached (reporting the driver's own error) and switches SQLite
/// to WAL. The connection waits up to `migration_lock_timeout` for locks, as
/// another process may be migrating.
pub fn open_connection(settings: &Settings) -> Result<(DbConn, DatabaseUrl), StartupError> {
    let url = DatabaseUrl::parse(&settings.database_url, settings.timeout())?
        .with_statement_cache(settings.database_statement_cache);
    let conn = connection::open(&url, settings.migration_lock_timeout())?;
    Ok((conn, url))
}
