//! Reviews: each belongs to one book and goes when the book goes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::book::Book;
use super::fields::{ReviewContent, ReviewerName};
use super::page::{self, CountOf, Cursor, Page, PageRequest, TotalOf, TOTAL_CAP};
use super::time::{now, Stamp};
use super::versioned::{write_versioned, Expected, Written};
use crate::db::{self, DbConn};
use crate::schema::reviews;

/// A review of a book.
// Rows are read by column name (`as_select()`, [`REVIEW_COLUMNS`]), never
// with `all_columns`: a column added to src/schema.rs does not break the build.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = reviews, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Review {
    /// Assigned by the server.
    #[schema(example = 1)]
    pub id: i32,
    /// The book reviewed.
    #[schema(example = 1)]
    pub book_id: i32,
    /// Who wrote the review.
    #[schema(example = "Ada")]
    pub author: String,
    #[schema(example = "A classic.")]
    pub content: String,
    /// When the review was written (UTC, set by the server).
    #[serde(serialize_with = "super::time::utc::serialize")]
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// Counts the writes to the row: the `ETag`, not part of the body.
    #[serde(skip)]
    pub version: i32,
}

/// The columns a [`Review`] is built from, in the order of its fields, for
/// `RETURNING`.
const REVIEW_COLUMNS: (
    reviews::id,
    reviews::book_id,
    reviews::author,
    reviews::content,
    reviews::created_at,
    reviews::version,
) = (
    reviews::id,
    reviews::book_id,
    reviews::author,
    reviews::content,
    reviews::created_at,
    reviews::version,
);

/// The body that creates a review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub author: ReviewerName,
    pub content: ReviewContent,
}

/// The body that changes some fields of a review (`PATCH`).
#[derive(Debug, Clone, Default, Deserialize, AsChangeset, ToSchema)]
#[serde(deny_unknown_fields)]
#[diesel(table_name = reviews)]
pub struct ReviewChanges {
    pub author: Option<ReviewerName>,
    pub content: Option<ReviewContent>,
}

/// Reads the version of review `id`, for [`write_versioned`].
fn version_of(id: i32) -> impl Fn(&mut DbConn) -> QueryResult<Option<i32>> {
    move |conn| {
        reviews::table
            .find(id)
            .select(reviews::version)
            .get_result(conn)
            .optional()
    }
}

impl Review {
    /// One page of a book's reviews, oldest first, `page.offset` reviews
    /// after the start or, given `after`, after the review with that id; `None` if there is
    /// no such book. As [`Book::list`]: a total counted up to [`TOTAL_CAP`].
    pub fn list_for_book(
        conn: &mut DbConn,
        book_id: i32,
        page: PageRequest,
        after: Option<i32>,
    ) -> QueryResult<Option<Page<Review>>> {
        let from_start = page.offset == 0 && after.is_none();
        // On the backend's own connection, as `Book::list`.
        let found = on_backend!(conn, |conn| {
            let of_book = || {
                reviews::table
                    .filter(reviews::book_id.eq(book_id))
                    .into_boxed()
            };
            let count = || CountOf(of_book().select(reviews::id).limit(TOTAL_CAP + 1));
            let query = of_book().order(reviews::id.asc());
            let query = match after {
                Some(id) => query.filter(reviews::id.gt(id)),
                None => query,
            };
            let rows: Vec<(Review, i64)> = query
                .offset(page.offset)
                .limit(page.rows())
                .select((Review::as_select(), TotalOf(count())))
                .load(conn)?;
            // A review found says its book exists; an empty page asks.
            if rows.is_empty() && !Book::exists_query(book_id).get_result::<bool>(conn)? {
                None
            } else {
                Some(page::with_total(rows, from_start, || {
                    count().get_result(conn)
                })?)
            }
        });
        Ok(found.map(|(rows, counted)| Page::of(rows, counted, page, Review::cursor)))
    }

    /// The cursor of the position after `review` in a book's reviews.
    fn cursor(review: &Review) -> Cursor {
        Cursor {
            sort: Review::SORT.into(),
            key: serde_json::Value::Null,
            id: review.id,
        }
    }

    /// The one order a book's reviews are listed in, as cursors name it.
    pub const SORT: &'static str = "id";

    /// The review with this id, if there is one.
    pub fn find(conn: &mut DbConn, id: i32) -> QueryResult<Option<Review>> {
        reviews::table
            .find(id)
            .select(Review::as_select())
            .get_result(conn)
            .optional()
    }

    /// Stores a review of a book; `None` if there is no such book.
    pub fn create(conn: &mut DbConn, book_id: i32, new: &NewReview) -> QueryResult<Option<Review>> {
        db::write(conn, |conn| {
            if !Book::exists(conn, book_id)? {
                return Ok(None);
            }
            // `INSERT … SELECT` of binds, prepared once (see `Book::create`).
            let row = diesel::select((
                book_id.into_sql::<Integer>(),
                (&new.author).into_sql::<Text>(),
                (&new.content).into_sql::<Text>(),
                now().into_sql::<Timestamp>(),
            ));
            diesel::insert_into(reviews::table)
                .values(row)
                .into_columns((
                    reviews::book_id,
                    reviews::author,
                    reviews::content,
                    reviews::created_at,
                ))
                .returning(REVIEW_COLUMNS)
                .get_result(conn)
                .map(Some)
        })
    }

    /// Changes the fields given, at a version `expected` allows. Changing
    /// nothing writes nothing (the version stays).
    pub fn update(
        conn: &mut DbConn,
        id: i32,
        changes: &ReviewChanges,
        expected: &Expected,
    ) -> QueryResult<Written<Review>> {
        if changes.author.is_none() && changes.content.is_none() {
            // Nothing to set: an empty changeset is an error in Diesel.
            return Ok(match Review::find(conn, id)? {
                None => Written::Missing,
                Some(review) => match expected {
                    Expected::OneOf(allowed) if !allowed.contains(&review.version) => {
                        Written::Stale
                    }
                    _ => Written::Done(review),
                },
            });
        }
        db::write_one(conn, |conn| {
            write_versioned(conn, expected, version_of(id), |conn, (low, high)| {
                diesel::update(reviews::table.find(id))
                    .filter(reviews::version.between(low, high))
                    .set((changes, reviews::version.eq(reviews::version + 1)))
                    .returning(REVIEW_COLUMNS)
                    .get_result(conn)
                    .optional()
            })
        })
    }

    /// Deletes a review at a version `expected` allows.
    pub fn delete(conn: &mut DbConn, id: i32, expected: &Expected) -> QueryResult<Written<()>> {
        db::write_one(conn, |conn| {
            write_versioned(conn, expected, version_of(id), |conn, (low, high)| {
                diesel::delete(reviews::table.find(id))
                    .filter(reviews::version.between(low, high))
                    .execute(conn)
                    .map(|n| (n > 0).then_some(()))
            })
        })
    }
}
