//! Row timestamps: what is stamped, and how it goes out.

/// The time stamped on rows: UTC, to the microsecond (what PostgreSQL keeps),
/// so both backends hold the same value; the engine's clock, which stamps
/// its records the same way.
pub use bookshelf_migrate::connection::now;

use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::NaiveDateTime;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Timestamp;
use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};

use bookshelf_migrate::connection::{MultiBackend, MultiRawValue};

/// Timestamps go out as RFC 3339 in UTC (`2026-11-23T16:48:52.123456Z`);
/// the database keeps them as UTC without a zone.
pub mod utc {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A row's timestamp as it is read (`#[diesel(deserialize_as = Stamp)]` on a
/// row's `NaiveDateTime`): diesel's own reading, made cheaper on SQLite.
///
/// SQLite keeps a timestamp as text. diesel reads it by trying its formats in
/// turn with `NaiveDateTime::parse_from_str`, which parses the format string
/// again for every value: 4-5% of a SQLite list's CPU (bench/results.md).
/// The text diesel writes matches its first format, `%F %T%.f`; here that
/// format is parsed once, and each value is read with its items by chrono's
/// own parser, so the result is the one diesel gives. Any other text (or a
/// number) goes to diesel's reader, which accepts every format it knows.
/// PostgreSQL sends timestamps in binary: diesel's reader as it is.
#[derive(Debug, Clone, Copy, PartialEq, FromSqlRow)]
pub struct Stamp(NaiveDateTime);

/// The format of diesel's SQLite timestamps, parsed once.
static SQLITE_FORMAT: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| {
    StrftimeItems::new("%F %T%.f")
        .parse()
        .expect("a valid strftime format")
});

impl Stamp {
    /// `text` read as diesel writes a SQLite timestamp, if it is one.
    fn parse_sqlite(text: &str) -> Option<NaiveDateTime> {
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text, SQLITE_FORMAT.iter()).ok()?;
        parsed.to_naive_datetime_with_offset(0).ok()
    }
}

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> NaiveDateTime {
        stamp.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Stamp> {
        if value.value_type() == Some(SqliteType::Text) {
            if let Some(stamp) = Stamp::parse_sqlite(value.read_text()) {
                return Ok(Stamp(stamp));
            }
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Stamp> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Stamp> {
        value.from_sql::<Stamp, Timestamp>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use diesel::dsl::sql;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    /// What diesel's own SQLite reader makes of the SQL value `value`.
    fn diesel_reads(conn: &mut SqliteConnection, value: &str) -> NaiveDateTime {
        diesel::select(sql::<Timestamp>(value))
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn a_stored_timestamp_reads_as_diesel_reads_it() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for text in [
            "2026-12-06 13:24:39.837872",
            "2026-12-06 13:24:39",
            "2026-12-06 13:24:39.5",
            "2026-12-06 13:24:39.123",
            "2026-12-06 13:24:39.123456789",
            "1970-01-01 00:00:00",
            "2024-02-29 23:59:59.999999",
        ] {
            let ours = Stamp::parse_sqlite(text);
            assert!(ours.is_some(), "{text} is read");
            assert_eq!(
                ours,
                Some(diesel_reads(&mut conn, &format!("'{text}'"))),
                "{text}"
            );
        }
    }

    #[test]
    fn other_text_is_left_to_diesel() {
        // Formats diesel also accepts (with a zone, a `T`, no seconds), and
        // text that is no time at all, are not read here.
        for text in [
            "2026-12-06T13:24:39",
            "2026-12-06 13:24",
            "2026-12-06 13:24:39+02:00",
            "2026-02-30 13:24:39",
            "2461015.5",
            "",
        ] {
            assert_eq!(Stamp::parse_sqlite(text), None, "{text}");
        }
    }

    #[test]
    fn a_sqlite_value_reads_as_diesel_reads_it_whatever_its_format() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        // Text in the format diesel writes, in others diesel reads (a `T`, a
        // zone, no seconds), and a Julian day number.
        for value in [
            "'2026-12-06 13:24:39.837872'",
            "'2026-12-06 13:24:39'",
            "'2026-12-06T13:24:39.5'",
            "'2026-12-06 13:24:39+02:00'",
            "'2026-12-06 13:24'",
            "2461015.5",
        ] {
            let ours: Stamp = diesel::select(sql::<Timestamp>(value))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(
                NaiveDateTime::from(ours),
                diesel_reads(&mut conn, value),
                "{value}"
            );
        }
        let not_a_time = diesel::select(sql::<Timestamp>("'soon'")).get_result::<Stamp>(&mut conn);
        assert!(not_a_time.is_err(), "text that is no time is an error");
    }

    #[test]
    fn what_diesel_writes_is_read_here_not_left_to_diesel() {
        use diesel::sql_types::Text;

        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for text in ["2026-12-06 13:24:39.837872", "2026-12-06 13:24:39"] {
            let stamp = NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            // The text diesel binds for a timestamp, as SQLite stores it.
            let written: String = diesel::select(
                sql::<Text>("CAST(")
                    .bind::<Timestamp, _>(stamp)
                    .sql(" AS TEXT)"),
            )
            .get_result(&mut conn)
            .unwrap();
            assert_eq!(Stamp::parse_sqlite(&written), Some(stamp), "{written}");
        }
    }
}
