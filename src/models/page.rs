//! Pages of a list: what a page holds, where it starts (an offset or a
//! cursor), and a total whose cost does not grow with the table.
//!
//! A list request costs the same at ten thousand rows as at a million:
//! - each order a list offers has an index (migrations), so a page reads its
//!   rows in index order and stops at `limit`;
//! - the total is counted up to [`TOTAL_CAP`]: past it, `total` says
//!   [`TOTAL_CAP`] and `total_exact` is false. The count is a column of the
//!   page's own statement ([`TotalOf`]): one round trip for a page;
//! - an offset is at most [`super::fields::Offset::MAX`]; deeper pages follow
//!   the `next` cursor (keyset paging: the page starts after the last row of
//!   the one before, found in the index, whatever its depth).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use diesel::backend::Backend;
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::{QueryResult, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The OpenAPI pattern of a cursor: URL-safe base64 without padding.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]+$";

/// How far a page's total is counted: more matches than this are reported
/// as this many, with `total_exact` false.
pub const TOTAL_CAP: i64 = 1000;

/// One page of a list, with the total across all pages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match, across all pages, counted up to 1000: when more
    /// match, this is 1000 and `total_exact` is false.
    #[schema(example = 1, minimum = 0, maximum = 1000)]
    pub total: i64,
    /// Whether `total` is the exact count (false: at least that many match).
    pub total_exact: bool,
    /// How many matching items were skipped (after the cursor, for a page asked for with `after`).
    #[schema(example = 0, minimum = 0)]
    pub offset: i64,
    /// The most items a page holds.
    #[schema(example = 20, minimum = 1, maximum = 100)]
    pub limit: i64,
    /// Pass as `after` (same filters and sort) for the next page; null on the
    /// last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows`, which holds up to one row more than `page.limit`
    /// to tell whether another page follows; `cursor` makes the cursor that
    /// continues after a row.
    pub fn of(
        mut rows: Vec<T>,
        counted: i64,
        page: PageRequest,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Page<T> {
        let more = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|last| cursor(last).encode());
        Page {
            items: rows,
            total: counted.min(TOTAL_CAP),
            total_exact: counted <= TOTAL_CAP,
            offset: page.offset,
            limit: page.limit,
            next,
        }
    }
}

/// Where a page starts and how long it is, already checked. With a cursor
/// (`after`), the offset counts from the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
}

impl PageRequest {
    /// The LIMIT of the query for this page: one row more than the page, to
    /// tell whether another follows.
    pub fn rows(&self) -> i64 {
        self.limit + 1
    }
}

/// The position after one row of a list sorted in one order: the sort's
/// name, the row's value of the sort field (null when the sort is by id) and
/// its id. Sent to clients as opaque text (URL-safe base64 of JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "k", default)]
    pub key: serde_json::Value,
    pub id: i32,
}

impl Cursor {
    /// The longest cursor text accepted: a 200-character title with every
    /// character escaped, in base64, fits.
    pub const MAX_LENGTH: usize = 4096;

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor serializes");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// The cursor `text` encodes, if it is one.
    pub fn decode(text: &str) -> Option<Cursor> {
        if text.len() > Cursor::MAX_LENGTH {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The row key for a list sorted by `sort`, or why this cursor is not
    /// one of that list.
    pub fn for_sort(&self, sort: &str) -> Result<&serde_json::Value, String> {
        if self.sort == sort {
            Ok(&self.key)
        } else {
            Err(format!(
                "is a cursor of a list sorted by {}, not by {sort}",
                self.sort
            ))
        }
    }
}

/// `SELECT count(*) FROM (<query>) AS matching`: with a LIMIT in `query`,
/// counting stops at the limit instead of scanning every match.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct CountOf<Q>(pub Q);

impl<Q> Query for CountOf<Q> {
    type SqlType = BigInt;
}

impl<Q, Conn> RunQueryDsl<Conn> for CountOf<Q> {}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for CountOf<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT count(*) FROM (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") AS matching");
        Ok(())
    }
}

/// `(SELECT count(*) FROM (<query>) AS matching)` as a column of another
/// query, so that a page's rows and its total come in one statement (one
/// round trip). The subquery is not correlated with the outer one: both
/// databases run it once per statement.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct TotalOf<Q>(pub CountOf<Q>);

impl<Q> Expression for TotalOf<Q> {
    type SqlType = BigInt;
}

impl<Q, QS> AppearsOnTable<QS> for TotalOf<Q> {}

impl<Q, QS> SelectableExpression<QS> for TotalOf<Q> {}

impl<Q, GB> ValidGrouping<GB> for TotalOf<Q> {
    type IsAggregate = is_aggregate::Never;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for TotalOf<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// The rows of a query that selected [`TotalOf`] beside each row, and the
/// total they carry. A page with no rows carries none: from the start of the
/// list the total is 0; past it, `count` (a [`CountOf`]) is run.
pub fn with_total<T>(
    rows: Vec<(T, i64)>,
    from_start: bool,
    count: impl FnOnce() -> QueryResult<i64>,
) -> QueryResult<(Vec<T>, i64)> {
    let total = match rows.first() {
        Some((_, total)) => *total,
        None if from_start => 0,
        None => count()?,
    };
    Ok((rows.into_iter().map(|(row, _)| row).collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_and_garbage_is_no_cursor() {
        let cursor = Cursor {
            sort: "-title".into(),
            key: serde_json::json!("Dune \"2\" / ü"),
            id: 7,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
        assert!(cursor
            .encode()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)));
        for garbage in ["", "x", "e30", "!!!", &"A".repeat(Cursor::MAX_LENGTH + 1)] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage:?}");
        }
        assert!(cursor.for_sort("-title").is_ok());
        assert!(cursor.for_sort("title").unwrap_err().contains("-title"));
    }

    #[test]
    fn a_page_says_whether_more_follow_and_caps_its_total() {
        let request = PageRequest {
            offset: 0,
            limit: 2,
        };
        let cursor = |id: &i32| Cursor {
            sort: "id".into(),
            key: serde_json::Value::Null,
            id: *id,
        };
        let full = Page::of(vec![1, 2, 3], 3, request, cursor);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(Cursor::decode(full.next.as_deref().unwrap()).unwrap().id, 2);
        assert!(full.total_exact);

        let last = Page::of(vec![1, 2], TOTAL_CAP + 1, request, cursor);
        assert_eq!(last.next, None);
        assert_eq!((last.total, last.total_exact), (TOTAL_CAP, false));
    }
}
