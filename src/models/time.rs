//! Row timestamps: what is stamped, and how it goes out.

/// The time stamped on rows: UTC, to the microsecond (what PostgreSQL keeps),
/// so both backends hold the same value; the engine's clock, which stamps
/// its records the same way.
pub use bookshelf_migrate::connection::now;

/// Timestamps go out as RFC 3339 in UTC (`2026-11-23T16:48:52.123456Z`);
/// the database keeps them as UTC without a zone.
pub mod utc {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}
