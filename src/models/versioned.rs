//! Writes of one row guarded by its version (ETags and `If-Match`).

use diesel::QueryResult;

use crate::db::DbConn;

/// Which versions of a row a write may change: what `If-Match` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Expected {
    /// Any version: no `If-Match`, or `If-Match: *`.
    #[default]
    Any,
    /// Only one of these (none: no version will do).
    OneOf(Vec<i32>),
}

/// How a write of one existing row ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Written<T> {
    Done(T),
    /// No row has this id.
    Missing,
    /// The row is at a version the write did not expect: someone else
    /// changed it since the client read it.
    Stale,
}

/// A write of one row that may only change the versions `expected` allows.
/// `version` reads the row's version (`None`: no such row); `write` changes
/// the row where its version is within the range it is given, and returns
/// `None` when no row matched. With [`Expected::OneOf`] the version is read
/// first, and the write is limited to exactly that version, so a change
/// that slips in between makes the write match nothing: `Stale`, never a
/// lost update. With [`Expected::Any`] it is the one statement it was.
pub(crate) fn write_versioned<T>(
    conn: &mut DbConn,
    expected: &Expected,
    version: impl Fn(&mut DbConn) -> QueryResult<Option<i32>>,
    write: impl FnOnce(&mut DbConn, (i32, i32)) -> QueryResult<Option<T>>,
) -> QueryResult<Written<T>> {
    let range = match expected {
        Expected::Any => (i32::MIN, i32::MAX),
        Expected::OneOf(allowed) => match version(conn)? {
            None => return Ok(Written::Missing),
            Some(current) if allowed.contains(&current) => (current, current),
            Some(_) => return Ok(Written::Stale),
        },
    };
    Ok(match write(conn, range)? {
        Some(row) => Written::Done(row),
        None if *expected != Expected::Any && version(conn)?.is_some() => Written::Stale,
        None => Written::Missing,
    })
}
