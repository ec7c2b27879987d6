//! The data: structs that map rows and request bodies, and the queries on
//! them. Nothing here knows about HTTP.

pub mod book;
pub mod fields;
pub mod page;
pub mod review;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::QueryResult;

use crate::db::DbConn;

pub use book::{Book, BookAfter, BookChanges, BookFilter, BookSort, NewBook};
pub use fields::{NO_NUL_PATTERN, TEXT_PATTERN};
pub use page::{Cursor, Page, PageRequest, CURSOR_PATTERN, TOTAL_CAP};
pub use review::{NewReview, Review, ReviewChanges};

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

/// The time stamped on rows: UTC, to the microsecond (what PostgreSQL keeps),
/// so both backends hold the same value.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Timestamps go out as RFC 3339 in UTC (`2026-11-23T16:48:52.123456Z`);
/// the database keeps them as UTC without a zone.
pub(crate) mod utc {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}
