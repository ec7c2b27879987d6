//! The values a request body or query carries, each checked once, when it is
//! parsed: a value of one of these types is valid by construction (the shape
//! of zero-to-production's `SubscriberName::parse`). Each type has one
//! OpenAPI schema, built from the same limits its check uses, and is stored
//! as the plain SQL type it wraps.
//!
//! A value that fails its check fails deserialization, so the client gets a
//! 422 naming the field and saying why (src/extract.rs).

use diesel::backend::Backend;
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Double, Integer, Text};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Number;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

use super::page::CURSOR_PATTERN;
use super::Cursor;

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

/// Checks text of at most `max` characters: no NUL (PostgreSQL cannot store
/// it), and, when `required`, at least one character that is not blank.
fn check_text(value: &str, required: bool, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if required && !(1..=max).contains(&length) {
        return Err(format!("must be 1 to {max} characters"));
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if required && value.chars().all(is_blank) {
        return Err("must not be blank".into());
    }
    Ok(())
}

fn string_schema(
    description: &str,
    required: bool,
    max: Option<usize>,
    example: Option<&str>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(required.then_some(1))
        .max_length(max)
        .pattern(Some(if required {
            TEXT_PATTERN
        } else {
            NO_NUL_PATTERN
        }))
        .examples(example)
        .into()
}

/// Declares a text type: its check, its schema, its JSON and SQL forms.
macro_rules! text_type {
    ($name:ident, $doc:literal, required = $required:expr, max = $max:expr, example = $example:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, AsExpression)]
        #[serde(try_from = "String")]
        #[diesel(sql_type = Text)]
        pub struct $name(String);

        impl $name {
            /// The value, if it passes this type's check; else why not.
            pub fn parse(value: String) -> Result<$name, String> {
                check_text(&value, $required, $max)?;
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
                string_schema($doc, $required, Some($max), $example)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_type!(
    Title,
    "A book's title: 1 to 200 characters, not only white space.",
    required = true,
    max = 200,
    example = Some("Dune")
);
text_type!(
    AuthorName,
    "A book's author: 1 to 100 characters, not only white space.",
    required = true,
    max = 100,
    example = Some("Frank Herbert")
);
text_type!(
    ReviewerName,
    "Who wrote a review: 1 to 50 characters, not only white space.",
    required = true,
    max = 50,
    example = Some("Ada")
);
text_type!(
    ReviewContent,
    "A review's text: 1 to 200 characters, not only white space.",
    required = true,
    max = 200,
    example = Some("A classic.")
);
text_type!(
    Description,
    "A book's description: up to 2,000 characters, no NUL.",
    required = false,
    max = 2000,
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
        check_text(&value, false, usize::MAX)?;
        Ok(Exact(value))
    }
}

impl utoipa::PartialSchema for Exact {
    fn schema() -> RefOr<Schema> {
        string_schema("Exact text; no NUL.", false, None, None)
    }
}

/// A book's price: a number from 0 to 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, AsExpression)]
#[serde(try_from = "f64")]
#[diesel(sql_type = Double)]
pub struct Price(f64);

impl Price {
    pub const MAX: f64 = 1_000_000.0;
}

impl TryFrom<f64> for Price {
    type Error = &'static str;
    fn try_from(value: f64) -> Result<Price, Self::Error> {
        if (0.0..=Price::MAX).contains(&value) {
            Ok(Price(value))
        } else {
            Err("must be a number from 0 to 1000000")
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
            .description(Some("From 0 to 1,000,000."))
            .minimum(Some(0))
            .maximum(Some(1_000_000))
            .examples([9.99])
            .into()
    }
}

impl utoipa::ToSchema for Price {}

/// A rating: a whole number from 1 to 5. JSON Schema's `integer` includes
/// numbers like `3.0`, so those are accepted too.
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
            Some(r @ 1..=5) => Ok(Rating(r as i32)),
            Some(_) => Err("must be a whole number from 1 to 5".into()),
        }
    }
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
            .description(Some("A whole number from 1 to 5."))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(5))
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
