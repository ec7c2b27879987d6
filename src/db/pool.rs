//! The r2d2 pool's connection manager: connections of one known backend,
//! with the request queries' timeouts, dropped when their server is gone.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;

use bookshelf_migrate::connection::{connect, DatabaseUrl, DbConn};

/// The connection pool shared by all requests.
pub type Pool = r2d2::Pool<Manager>;

/// An r2d2 connection manager that opens connections of one known backend
/// (diesel's own manager would try every backend in turn and hide the error).
#[derive(Clone)]
pub struct Manager {
    pub(super) url: DatabaseUrl,
    /// A standby's connections: `default_transaction_read_only`, so that a
    /// write can never go through one, even to a promoted standby.
    pub(super) read_only: bool,
    pub(super) lock_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for request queries (not for
    /// migrations, which open their own connections).
    pub(super) statement_timeout: Duration,
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
            let read_only = if self.read_only {
                "; SET default_transaction_read_only = on"
            } else {
                ""
            };
            pg.batch_execute(&format!(
                "SET statement_timeout = {ms}; SET plan_cache_mode = force_generic_plan{read_only}"
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
    /// `DbError::Unavailable` is pinged then, and dropped if the server is
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
    pub(super) static JOB_UNAVAILABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
