//! Whether a PostgreSQL URL reaches its server through a connection pooler,
//! for `database_statement_cache = "auto"`.
//!
//! At connection, the server sends its process id and a cancel key
//! (BackendKeyData), which libpq keeps (`PQbackendPID`). A pooler answers
//! the connection itself: PgBouncer, in any pool mode, sends a key of its own
//! making, and the backend that runs the queries (`pg_backend_pid()`) is
//! whichever server connection the pooler lends. A direct connection, or a
//! TCP proxy such as haproxy that passes the bytes through, shows the same
//! id both ways. Behind a pooler, prepared statements may not outlive a
//! transaction, so bookshelf does not cache them there.

use std::ffi::{CStr, CString};

use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQbackendPID, PQclear, PQconnectdb, PQerrorMessage,
    PQexec, PQfinish, PQgetvalue, PQresultStatus, PQstatus,
};

use crate::connection::{Backend, DatabaseUrl};

/// What [`probe`] found of a PostgreSQL URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The server itself (or a proxy that passes its bytes through).
    Direct,
    /// A pooler: the process id given at connection (`announced`) is not
    /// the one of the backend that ran the query (`backend`).
    Pooler { announced: i32, backend: i32 },
}

/// Connects to `url` once (a connection of its own, closed before it
/// returns) and compares the process id the server announced with
/// `pg_backend_pid()`. `Err` carries libpq's message when it could not
/// connect or query. SQLite URLs are [`Path::Direct`].
pub fn probe(url: &DatabaseUrl) -> Result<Path, String> {
    if url.backend() != Backend::Postgres {
        return Ok(Path::Direct);
    }
    let target = CString::new(url.target()).map_err(|e| e.to_string())?;
    // SAFETY: libpq's documented calling sequence: every pointer passed is
    // one libpq returned (checked for null), or a NUL-terminated string that
    // outlives the call; the connection and the result are freed exactly
    // once, by `Connection`'s drop and by PQclear.
    unsafe {
        let conn = Connection(PQconnectdb(target.as_ptr()));
        if conn.0.is_null() {
            return Err("libpq could not allocate a connection".into());
        }
        if PQstatus(conn.0) != ConnStatusType::CONNECTION_OK {
            return Err(conn.error());
        }
        let announced = PQbackendPID(conn.0);
        let query = c"SELECT pg_backend_pid()";
        let result = PQexec(conn.0, query.as_ptr());
        if result.is_null() {
            return Err(conn.error());
        }
        let backend = match PQresultStatus(result) {
            ExecStatusType::PGRES_TUPLES_OK => {
                let value = PQgetvalue(result, 0, 0);
                (!value.is_null())
                    .then(|| CStr::from_ptr(value).to_string_lossy().parse::<i32>().ok())
                    .flatten()
            }
            _ => None,
        };
        PQclear(result);
        match backend {
            None => Err(conn.error()),
            Some(backend) if backend == announced => Ok(Path::Direct),
            Some(backend) => Ok(Path::Pooler { announced, backend }),
        }
    }
}

/// A libpq connection, finished when dropped.
struct Connection(*mut PGconn);

impl Connection {
    /// libpq's last error on this connection, on one line.
    ///
    /// # Safety
    /// `self.0` is a live connection.
    unsafe fn error(&self) -> String {
        let message = CStr::from_ptr(PQerrorMessage(self.0)).to_string_lossy();
        message.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a connection PQconnectdb returned, finished once.
            unsafe { PQfinish(self.0) }
        }
    }
}
