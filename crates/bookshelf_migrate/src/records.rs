//! The bookkeeping tables: diesel's `__diesel_schema_migrations` (which
//! diesel CLI keeps using) and the engine's `bookshelf_migrations`, the
//! checksum of each migration's up.sql as it was applied.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::connection::{write, DbConn};
use crate::error::Error;
use crate::scripts::{version_of, Direction, Scripts};

// diesel CLI's own bookkeeping table, read here for the applied-at times.
diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
        run_on -> Timestamp,
    }
}

// The engine's own record of what it applied, beside diesel's table (which
// diesel CLI keeps using): the checksum of each migration's up.sql.
diesel::table! {
    bookshelf_migrations (version) {
        version -> Text,
        name -> Text,
        checksum -> Text,
        applied_at -> Timestamp,
    }
}

// Which migrations were recorded without running (`stamp`, `adopt`), and
// whether `--force` recorded them over a schema that differed.
diesel::table! {
    bookshelf_stamps (version) {
        version -> Text,
        forced -> Bool,
        stamped_at -> Timestamp,
    }
}

pub(crate) const CREATE_STAMPS_TABLE: &str = "CREATE TABLE IF NOT EXISTS bookshelf_stamps (\
    version TEXT PRIMARY KEY NOT NULL, forced BOOLEAN NOT NULL, stamped_at TIMESTAMP NOT NULL)";

/// A row naming a table (or any other text), for `sql_query`.
#[derive(QueryableByName)]
pub(crate) struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
}

/// How a migration came to be recorded without running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// By `stamp` or `adopt`, after the live schema matched.
    Stamped,
    /// By `stamp --force`, over a schema that differed.
    Forced,
}

/// The versions recorded without running, and how. The table is looked
/// for first: a failed read would abort the transaction it may be in.
pub(crate) fn stamps(conn: &mut DbConn) -> QueryResult<Vec<(String, Stamp)>> {
    let tables: Vec<TableName> = diesel::sql_query(crate::catalog::bookkeeping_table_query(
        crate::catalog::backend_of(conn),
        "bookshelf_stamps",
    ))
    .load(conn)?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, bool)> = bookshelf_stamps::table
        .select((bookshelf_stamps::version, bookshelf_stamps::forced))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(v, forced)| {
            (
                v,
                if forced {
                    Stamp::Forced
                } else {
                    Stamp::Stamped
                },
            )
        })
        .collect())
}

pub(crate) const CREATE_CHECKSUM_TABLE: &str = "CREATE TABLE IF NOT EXISTS bookshelf_migrations (\
    version TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, \
    applied_at TIMESTAMP NOT NULL)";

/// The SHA-256 of a script, in hex, with line endings normalised so that a
/// checkout with CRLF endings has the same checksum as one with LF. Lines
/// that are `migrate lint` allow comments (`-- lint: ...`) are left out: they
/// change nothing that runs, so accepting a lint finding in a migration that
/// is already applied does not make `verify` report it changed.
pub fn checksum(sql: &str) -> String {
    use sha2::{Digest, Sha256};
    let normalised = sql.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = normalised
        .split_inclusive('\n')
        .filter(|line| !crate::lint::is_allow_comment(line))
        .collect();
    Sha256::digest(kept.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Records that `name` was applied, with the checksum of its up.sql in `source`.
pub(crate) fn record(conn: &mut DbConn, source: &impl Scripts, name: &str) -> QueryResult<()> {
    let version = version_of(name);
    diesel::delete(bookshelf_migrations::table.find(&version)).execute(conn)?;
    diesel::insert_into(bookshelf_migrations::table)
        .values((
            bookshelf_migrations::version.eq(&version),
            bookshelf_migrations::name.eq(name),
            bookshelf_migrations::checksum.eq(source
                .script(name, Direction::Up)
                .map(|up| checksum(&up))
                .unwrap_or_default()),
            bookshelf_migrations::applied_at.eq(crate::connection::now()),
        ))
        .execute(conn)
        .map(drop)
}

/// A failure to read or write the engine's own migration records.
pub(crate) fn bookkeeping(source: diesel::result::Error) -> Error {
    Error::Bookkeeping { source }
}

/// The rows of a bookkeeping table, or none when the table does not exist
/// yet (a database never migrated). Reading never creates it: status, verify
/// and `/ready` only read, and creating it outside the migration lock races
/// with other processes on PostgreSQL.
pub(crate) fn unless_missing<T>(rows: QueryResult<Vec<T>>) -> QueryResult<Vec<T>> {
    match rows {
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("no such table")
                || (info.message().contains("relation")
                    && info.message().contains("does not exist")) =>
        {
            Ok(Vec::new())
        }
        rows => rows,
    }
}

/// The engine's record of `name` (its checksum): added when it was applied,
/// removed when reverted.
pub(crate) fn checksum_record(
    conn: &mut DbConn,
    source: &impl Scripts,
    name: &str,
    direction: Direction,
) -> Result<(), Error> {
    write(conn, |conn| {
        conn.batch_execute(CREATE_CHECKSUM_TABLE)?;
        match direction {
            Direction::Up => record(conn, source, name),
            Direction::Down => diesel::delete(bookshelf_migrations::table.find(version_of(name)))
                .execute(conn)
                .map(drop),
        }
    })
    .map_err(bookkeeping)
}

/// diesel's record of `name`: added when it was applied, removed when reverted.
pub(crate) fn record_version(
    conn: &mut DbConn,
    name: &str,
    direction: Direction,
) -> QueryResult<()> {
    let version = version_of(name);
    match direction {
        Direction::Up => diesel::insert_into(__diesel_schema_migrations::table)
            .values(__diesel_schema_migrations::version.eq(&version))
            .execute(conn),
        Direction::Down => {
            diesel::delete(__diesel_schema_migrations::table.find(&version)).execute(conn)
        }
    }
    .map(drop)
}
