//! Opening the database at start-up, and why start-up can fail.

use std::sync::{Mutex, PoisonError};

use bookshelf_migrate::connection::{self, Backend, DatabaseUrl, DbConn};
use bookshelf_migrate::pooler::{self, Path};
use log::{info, warn};

use crate::config::{Settings, StatementCache};

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
    let url = DatabaseUrl::parse(&settings.database_url, settings.timeout())?;
    let url = with_statement_cache(url, settings.database_statement_cache);
    let conn = connection::open(&url, settings.migration_lock_timeout())?;
    Ok((conn, url))
}

/// `url` with its PostgreSQL connections' statement cache as `setting`
/// says. `auto` asks the server once per URL and process
/// (bookshelf_migrate::pooler): cached on a direct connection, not through
/// a connection pooler, nor when it cannot tell (the way that always works).
pub fn with_statement_cache(url: DatabaseUrl, setting: StatementCache) -> DatabaseUrl {
    let on = match setting {
        StatementCache::On => true,
        StatementCache::Off => false,
        StatementCache::Auto if url.backend() != Backend::Postgres => true,
        StatementCache::Auto => {
            static ASKED: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());
            let mut asked = ASKED.lock().unwrap_or_else(PoisonError::into_inner);
            match asked.iter().find(|(known, _)| *known == url.to_string()) {
                Some((_, on)) => *on,
                None => {
                    let on = direct(&url);
                    asked.push((url.to_string(), on));
                    on
                }
            }
        }
    };
    url.with_statement_cache(on)
}

/// Whether `url` reaches its server directly, as the log says.
fn direct(url: &DatabaseUrl) -> bool {
    match pooler::probe(url) {
        Ok(Path::Direct) => {
            info!("{url} is a direct connection: its prepared statements are kept (database_statement_cache = auto)");
            true
        }
        Ok(Path::Pooler { announced, backend }) => {
            info!(
                "{url} goes through a connection pooler (it announced process {announced}, the queries ran on {backend}): \
                 no prepared statement is kept, so that transaction pooling works (database_statement_cache = auto; set it to true for session pooling)"
            );
            false
        }
        Err(why) => {
            warn!("could not tell whether {url} goes through a connection pooler ({why}): no prepared statement is kept");
            false
        }
    }
}
