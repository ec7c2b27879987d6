//! The data: structs that map rows and request bodies, and the queries on
//! them. Nothing here knows about HTTP.

pub mod book;
pub mod review;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use book::{Book, BookChanges, BookFilter, BookSort, NewBook};
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

/// The OpenAPI pattern of a text field: no NUL, and at least one character
/// that is not blank (see [`is_blank`]). utoipa takes only literals, so the
/// fields spell it out; a test checks that they match this.
pub const TEXT_PATTERN: &str = r"^[^\x00]*[^\x00\t\n\x0b\x0c\r \x1c-\x1f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\x00]*$";
/// The OpenAPI pattern of free text that may be blank: no NUL.
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";

/// Blank characters: Unicode white space plus what ECMAScript's `\s`
/// (U+FEFF) and Python's (U+001C to U+001F) also count, so that the spec's
/// [`TEXT_PATTERN`] means the same to every client as to this check.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn invalid(code: &'static str, message: &'static str) -> validator::ValidationError {
    let mut error = validator::ValidationError::new(code);
    error.message = Some(message.into());
    error
}

/// Rejects NUL characters, which PostgreSQL cannot store in text.
pub(crate) fn no_nul(value: &str) -> Result<(), validator::ValidationError> {
    if value.contains('\0') {
        return Err(invalid("nul", "must not contain NUL characters"));
    }
    Ok(())
}

/// Rejects NUL characters and strings that are only blank.
pub(crate) fn text(value: &str) -> Result<(), validator::ValidationError> {
    no_nul(value)?;
    if value.chars().all(is_blank) {
        return Err(invalid("blank", "must not be blank"));
    }
    Ok(())
}

/// JSON Schema's `integer` includes numbers like `3.0`; serde's `i32` does
/// not. These accept any whole number in range.
pub(crate) mod whole {
    use serde::{Deserialize, Deserializer};
    use serde_json::Number;

    fn to_i32<E: serde::de::Error>(n: Number) -> Result<i32, E> {
        let whole = match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i32::try_from(i).ok(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX) => Some(f as i32),
            _ => None,
        };
        whole.ok_or_else(|| E::custom(format!("must be a whole number, not {n}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        to_i32(Number::deserialize(d)?)
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        Option::<Number>::deserialize(d)?.map(to_i32).transpose()
    }
}

/// Timestamps go out as RFC 3339 in UTC (`2026-11-23T16:48:52.123456Z`);
/// the database keeps them as UTC without a zone.
pub(crate) mod utc {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.naive_utc())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rejects_blank_strings_and_nul_by_the_same_rules_as_the_pattern() {
        for blank in [
            "",
            " ",
            "\t\n\r",
            "\u{feff}",
            "\u{1c}\u{1f}",
            "\u{85}\u{a0}\u{3000}",
        ] {
            assert!(text(blank).is_err(), "{blank:?}");
        }
        for nul in ["\0", "a\0", "\0a"] {
            assert!(text(nul).is_err(), "{nul:?}");
            assert!(no_nul(nul).is_err(), "{nul:?}");
        }
        for fine in ["a", " a ", "\u{200b}", "é"] {
            assert!(text(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct Rating {
            #[serde(deserialize_with = "whole::deserialize")]
            rating: i32,
        }
        let parse = |json: &str| serde_json::from_str::<Rating>(json).map(|r| r.rating);
        assert_eq!(parse(r#"{"rating": 3}"#).unwrap(), 3);
        assert_eq!(parse(r#"{"rating": 3.0}"#).unwrap(), 3);
        assert_eq!(parse(r#"{"rating": -2.0}"#).unwrap(), -2);
        for bad in [
            r#"{"rating": 2.5}"#,
            r#"{"rating": 4294967296}"#,
            r#"{"rating": 1e300}"#,
            r#"{"rating": "3"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
