//! The data: structs that map rows and request bodies, and the queries on
//! them. Nothing here knows about HTTP.

pub mod book;
pub mod fields;
pub mod review;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use book::{Book, BookChanges, BookFilter, BookSort, NewBook};
pub use fields::{NO_NUL_PATTERN, TEXT_PATTERN};
pub use review::{NewReview, Review, ReviewChanges};

/// The time stamped on rows: UTC, to the microsecond (what PostgreSQL keeps),
/// so both backends hold the same value.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// One page of a list, with the total across all pages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match, across all pages.
    #[schema(example = 1, minimum = 0)]
    pub total: i64,
    /// How many matching items were skipped.
    #[schema(example = 0, minimum = 0)]
    pub offset: i64,
    /// The most items a page holds.
    #[schema(example = 20, minimum = 1, maximum = 100)]
    pub limit: i64,
}

/// Where a page starts and how long it is, already checked.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
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
