//! The values a request body or query carries, each checked once, when it is
//! parsed: a value of one of these types is valid by construction (the shape
//! of zero-to-production's `SubscriberName::parse`). Each type has one
//! OpenAPI schema, built from the same limits its check uses, and is stored
//! as the plain SQL type it wraps.
//!
//! A value that fails its check fails deserialization, so the client gets a
//! 422 naming the field and saying why (src/extract.rs).
//!
//! The limits of stored values (lengths, ranges) are not written here: they
//! come from src/constraints.rs, where the same declaration gives the
//! database's CHECK on both backends (`bookshelf migrate diff`), so the
//! 422, `/openapi.json` and the database cannot disagree.

use diesel::backend::Backend;
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Double, Integer, Text};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Number;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

use super::page::{Cursor, CURSOR_PATTERN};
use crate::constraints::{books, reviews};

/// The OpenAPI pattern of a text field: no NUL, and at least one character
/// that is not blank (see [`is_blank`]).
pub const TEXT_PATTERN: &str = r"^[^\x00]*[^\x00\t\n\x0b\x0c\r \x1c-\x1f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\x00]*$";
/// The OpenAPI pattern of free text that may be blank: no NUL.
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";

/// Blank characters: Unicode white space plus what ECMAScript's `\s`
/// (U+FEFF) and Python's (U+001C to U+001F) also count, so that the spec's
/// [`TEXT_PATTERN`] means the same to every client as to this check.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}' || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Checks text of `min` to `max` characters: no NUL (PostgreSQL cannot
/// store it), and, when some is required (`min` > 0), at least one character
/// that is not blank.
fn check_text(value: &str, min: usize, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if min > 0 && !(min..=max).contains(&length) {
        return Err(format!("must be {min} to {max} characters"));
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if min > 0 && value.chars().all(is_blank) {
        return Err("must not be blank".into());
    }
    Ok(())
}

/// A whole number for people: 1,000,000 (others as they are).
fn grouped(n: f64) -> String {
    if n.fract() != 0.0 || n.abs() >= 1e15 {
        return format!("{n}");
    }
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A bound as OpenAPI writes it: a whole number as an integer.
fn bound(n: f64) -> utoipa::Number {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        utoipa::Number::Int(n as isize)
    } else {
        utoipa::Number::Float(n)
    }
}

/// The schema of a text field: `what` it is, its lengths, and its pattern.
fn string_schema(what: &str, min: usize, max: usize, example: Option<&str>) -> RefOr<Schema> {
    let description = match (min, max) {
        (0, usize::MAX) => format!("{what}; no NUL."),
        (0, max) => format!("{what}: up to {} characters, no NUL.", grouped(max as f64)),
        (min, max) => format!(
            "{what}: {} to {} characters, not only white space.",
            grouped(min as f64),
            grouped(max as f64)
        ),
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length((min > 0).then_some(min))
        .max_length((max < usize::MAX).then_some(max))
        .pattern(Some(if min > 0 {
            TEXT_PATTERN
        } else {
            NO_NUL_PATTERN
        }))
        .examples(example)
        .into()
}

/// Declares a text type: its check, its schema, its JSON and SQL forms.
/// `$limits` is the column's module in src/constraints.rs.
macro_rules! text_type {
    ($name:ident, $what:literal, limits = $($limits:ident)::+, example = $example:expr) => {
        #[doc = concat!($what, ", as src/constraints.rs limits it.")]
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, AsExpression)]
        #[serde(try_from = "String")]
        #[diesel(sql_type = Text)]
        pub struct $name(String);

        impl $name {
            /// The value, if it passes this type's check; else why not.
            pub fn parse(value: String) -> Result<$name, String> {
                check_text(&value, $($limits)::+::MIN_LENGTH, $($limits)::+::MAX_LENGTH)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<$name, String> {
                $name::parse(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.as_str().to_sql(out)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_schema(
                    $what,
                    $($limits)::+::MIN_LENGTH,
                    $($limits)::+::MAX_LENGTH,
                    $example,
                )
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_type!(
    Title,
    "A book's title",
    limits = books::title,
    example = Some("Dune")
);
text_type!(
    AuthorName,
    "A book's author",
    limits = books::author,
    example = Some("Frank Herbert")
);
text_type!(
    ReviewerName,
    "Who wrote a review",
    limits = reviews::author,
    example = Some("Ada")
);
text_type!(
    ReviewContent,
    "A review's text",
    limits = reviews::content,
    example = Some("A classic.")
);
text_type!(
    Description,
    "A book's description",
    limits = books::description,
    example = None
);

/// Text to match exactly, as in a filter: anything but NUL, which no stored
/// value holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Exact(String);

impl Exact {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for Exact {
    type Error = String;
    fn try_from(value: String) -> Result<Exact, String> {
        check_text(&value, 0, usize::MAX)?;
        Ok(Exact(value))
    }
}

impl utoipa::PartialSchema for Exact {
    fn schema() -> RefOr<Schema> {
        string_schema("Exact text", 0, usize::MAX, None)
    }
}

/// A book's price: a number in the range src/constraints.rs declares.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, AsExpression)]
#[serde(try_from = "f64")]
#[diesel(sql_type = Double)]
pub struct Price(f64);

impl Price {
    pub const MIN: f64 = books::price::MIN;
    pub const MAX: f64 = books::price::MAX;
}

impl TryFrom<f64> for Price {
    type Error = String;
    fn try_from(value: f64) -> Result<Price, Self::Error> {
        if (Price::MIN..=Price::MAX).contains(&value) {
            Ok(Price(value))
        } else {
            Err(format!(
                "must be a number from {} to {}",
                Price::MIN,
                Price::MAX
            ))
        }
    }
}

impl<DB: Backend> ToSql<Double, DB> for Price
where
    f64: ToSql<Double, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl utoipa::PartialSchema for Price {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(format!(
                "From {} to {}.",
                grouped(Price::MIN),
                grouped(Price::MAX)
            )))
            .minimum(Some(bound(Price::MIN)))
            .maximum(Some(bound(Price::MAX)))
            .examples([9.99])
            .into()
    }
}

impl utoipa::ToSchema for Price {}

/// A rating: a whole number in the range src/constraints.rs declares. JSON
/// Schema's `integer` includes numbers like `3.0`, so those are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, AsExpression)]
#[serde(try_from = "Number")]
#[diesel(sql_type = Integer)]
pub struct Rating(i32);

impl TryFrom<Number> for Rating {
    type Error = String;
    fn try_from(n: Number) -> Result<Rating, String> {
        let whole = match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() <= i64::MAX as f64 => Some(f as i64),
            _ => None,
        };
        match whole {
            None => Err(format!("must be a whole number, not {n}")),
            Some(r) if (Rating::MIN..=Rating::MAX).contains(&r) => Ok(Rating(r as i32)),
            Some(_) => Err(format!(
                "must be a whole number from {} to {}",
                Rating::MIN,
                Rating::MAX
            )),
        }
    }
}

impl Rating {
    pub const MIN: i64 = books::rating::MIN as i64;
    pub const MAX: i64 = books::rating::MAX as i64;
}

impl<DB: Backend> ToSql<Integer, DB> for Rating
where
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl utoipa::PartialSchema for Rating {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .description(Some(format!(
                "A whole number from {} to {}.",
                Rating::MIN,
                Rating::MAX
            )))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(Rating::MIN))
            .maximum(Some(Rating::MAX))
            .examples([5])
            .into()
    }
}

impl utoipa::ToSchema for Rating {}

/// How many items a list skips: 0 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "i64")]
pub struct Offset(i64);

impl Offset {
    /// The deepest offset: a page past it is reached with a cursor
    /// (`after`), whose cost does not grow with the depth.
    pub const MAX: i64 = 10_000;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl utoipa::PartialSchema for Offset {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(Offset::MAX))
            .default(Some(0.into()))
            .into()
    }
}

impl TryFrom<i64> for Offset {
    type Error = &'static str;
    fn try_from(value: i64) -> Result<Offset, Self::Error> {
        if (0..=Offset::MAX).contains(&value) {
            Ok(Offset(value))
        } else {
            Err("must be from 0 to 10000; for deeper pages, follow `next` with `after`")
        }
    }
}

/// A page cursor as a client sends it back: the `next` of the page before.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct After(Cursor);

impl After {
    pub fn cursor(&self) -> &Cursor {
        &self.0
    }
}

impl TryFrom<String> for After {
    type Error = &'static str;
    fn try_from(value: String) -> Result<After, Self::Error> {
        Cursor::decode(&value)
            .map(After)
            .ok_or("is not a cursor: pass a page's `next` as it is")
    }
}

impl utoipa::PartialSchema for After {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The `next` of the page before, as it is, with the same filters and sort.",
            ))
            .min_length(Some(1))
            .max_length(Some(Cursor::MAX_LENGTH))
            .pattern(Some(CURSOR_PATTERN))
            .into()
    }
}

/// How many items a page holds: 1 to [`Limit::MAX`], [`Limit::DEFAULT`] when
/// the request does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Limit(i64);

impl Limit {
    pub const DEFAULT: i64 = 20;
    pub const MAX: i64 = 100;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Limit {
        Limit(Limit::DEFAULT)
    }
}

impl utoipa::PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(Limit::MAX))
            .default(Some(Limit::DEFAULT.into()))
            .into()
    }
}

impl TryFrom<i64> for Limit {
    type Error = &'static str;
    fn try_from(value: i64) -> Result<Limit, Self::Error> {
        if (1..=Limit::MAX).contains(&value) {
            Ok(Limit(value))
        } else {
            Err("must be from 1 to 100")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rejects_blank_strings_and_nul_by_the_same_rules_as_the_pattern() {
        for blank in [
            " ",
            "\t\n\r",
            "\u{feff}",
            "\u{1c}\u{1f}",
            "\u{85}\u{a0}\u{3000}",
        ] {
            assert_eq!(
                Title::parse(blank.into()).unwrap_err(),
                "must not be blank",
                "{blank:?}"
            );
            assert!(Description::parse(blank.into()).is_ok(), "{blank:?}");
        }
        for nul in ["\0", "a\0", "\0a"] {
            assert!(Title::parse(nul.into()).is_err(), "{nul:?}");
            assert!(Description::parse(nul.into()).is_err(), "{nul:?}");
            assert!(Exact::try_from(nul.to_string()).is_err(), "{nul:?}");
        }
        for fine in ["a", " a ", "\u{200b}", "é"] {
            assert!(Title::parse(fine.into()).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn text_lengths_are_counted_in_characters() {
        assert!(ReviewerName::parse("é".repeat(50)).is_ok());
        assert_eq!(
            ReviewerName::parse("é".repeat(51)).unwrap_err(),
            "must be 1 to 50 characters"
        );
        assert_eq!(
            Title::parse(String::new()).unwrap_err(),
            "must be 1 to 200 characters"
        );
        assert!(Description::parse(String::new()).is_ok());
        assert_eq!(
            Description::parse("x".repeat(2001)).unwrap_err(),
            "must be at most 2000 characters"
        );
    }

    #[test]
    fn ratings_may_be_written_with_a_zero_fraction() {
        let parse = |json: &str| serde_json::from_str::<Rating>(json).map(|r| r.0);
        assert_eq!(parse("3").unwrap(), 3);
        assert_eq!(parse("3.0").unwrap(), 3);
        assert_eq!(parse("5").unwrap(), 5);
        for bad in ["2.5", "0", "6", "-2.0", "4294967296", "1e300", "\"3\""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert!(Price::try_from(-0.01).is_err());
        assert!(Price::try_from(1_000_000.01).is_err());
        assert!(Price::try_from(0.0).is_ok() && Price::try_from(Price::MAX).is_ok());
        assert!(Offset::try_from(-1).is_err() && Offset::try_from(0).is_ok());
        assert!(Limit::try_from(0).is_err() && Limit::try_from(101).is_err());
        assert_eq!(Limit::default().get(), Limit::DEFAULT);
    }
}
