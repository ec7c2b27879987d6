//! Writes of one statement, and write transactions (the engine's, which
//! take SQLite's write lock up front).

pub use bookshelf_migrate::connection::write;
use bookshelf_migrate::connection::DbConn;

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
