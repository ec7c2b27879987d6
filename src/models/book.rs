//! Books: the row, the bodies that create and change one, and their queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{AuthorName, Description, Price, Rating, Title};
use super::{now, PageRequest};
use crate::db::{self, DbBackend, DbConn};
use crate::schema::books;

/// A book.
// Rows are read by column name (`as_select()`, [`BOOK_COLUMNS`]), never with
// `all_columns`: a column added to src/schema.rs does not break the build.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = books, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Book {
    /// Assigned by the server.
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Dune")]
    pub title: String,
    #[schema(example = "Frank Herbert")]
    pub author: String,
    #[schema(example = 9.99)]
    pub price: f64,
    /// From 1 to 5.
    #[schema(example = 5)]
    pub rating: i32,
    /// Whether the book is published.
    pub published: bool,
    /// When the book was created (UTC, set by the server).
    #[serde(serialize_with = "super::utc::serialize")]
    pub created_at: NaiveDateTime,
    /// When the book was last changed (UTC, set by the server).
    #[serde(serialize_with = "super::utc::serialize")]
    pub updated_at: NaiveDateTime,
    /// Free text, or null.
    pub description: Option<String>,
}

/// The columns a [`Book`] is built from, in the order of its fields, for
/// `RETURNING` (diesel's `as_returning()` does not work through the
/// multi-backend connection).
const BOOK_COLUMNS: (
    books::id,
    books::title,
    books::author,
    books::price,
    books::rating,
    books::published,
    books::created_at,
    books::updated_at,
    books::description,
) = (
    books::id,
    books::title,
    books::author,
    books::price,
    books::rating,
    books::published,
    books::created_at,
    books::updated_at,
    books::description,
);

/// The body that creates a book (`POST`) or replaces one (`PUT`).
#[derive(Debug, Clone, Deserialize, Insertable, AsChangeset, ToSchema)]
#[serde(deny_unknown_fields)]
#[diesel(table_name = books, treat_none_as_null = true)]
pub struct NewBook {
    pub title: Title,
    pub author: AuthorName,
    pub price: Price,
    pub rating: Rating,
    /// Defaults to false.
    #[serde(default)]
    pub published: bool,
    /// Null or absent for none.
    #[serde(default)]
    pub description: Option<Description>,
}

/// The body that changes some fields of a book (`PATCH`): absent fields stay
/// as they are; `description: null` clears the description.
#[derive(Debug, Clone, Default, Deserialize, AsChangeset, ToSchema)]
#[serde(deny_unknown_fields)]
#[diesel(table_name = books)]
pub struct BookChanges {
    pub title: Option<Title>,
    pub author: Option<AuthorName>,
    pub price: Option<Price>,
    pub rating: Option<Rating>,
    pub published: Option<bool>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<Description>)]
    pub description: Option<Option<Description>>,
}

/// What `GET /books` may filter on.
#[derive(Debug, Clone, Default)]
pub struct BookFilter {
    /// Exact author name.
    pub author: Option<String>,
    pub published: Option<bool>,
}

/// The orders `GET /books` can sort in; `-` means descending. Ties are
/// broken by id, so pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum BookSort {
    #[default]
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "-id")]
    IdDesc,
    #[serde(rename = "title")]
    Title,
    #[serde(rename = "-title")]
    TitleDesc,
    #[serde(rename = "author")]
    Author,
    #[serde(rename = "-author")]
    AuthorDesc,
    #[serde(rename = "price")]
    Price,
    #[serde(rename = "-price")]
    PriceDesc,
    #[serde(rename = "rating")]
    Rating,
    #[serde(rename = "-rating")]
    RatingDesc,
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
}

fn filtered(filter: &BookFilter) -> books::BoxedQuery<'static, DbBackend> {
    let mut query = books::table.into_boxed();
    if let Some(author) = &filter.author {
        query = query.filter(books::author.eq(author.clone()));
    }
    if let Some(published) = filter.published {
        query = query.filter(books::published.eq(published));
    }
    query
}

impl Book {
    /// One page of the books matching `filter`, in `sort` order, and how many match in all.
    pub fn list(
        conn: &mut DbConn,
        filter: &BookFilter,
        sort: BookSort,
        page: PageRequest,
    ) -> QueryResult<(Vec<Book>, i64)> {
        use books::*;
        let total = filtered(filter).count().get_result(conn)?;
        let query = filtered(filter);
        let query = match sort {
            BookSort::Id => query.order(id.asc()),
            BookSort::IdDesc => query.order(id.desc()),
            BookSort::Title => query.order((title.asc(), id.asc())),
            BookSort::TitleDesc => query.order((title.desc(), id.desc())),
            BookSort::Author => query.order((author.asc(), id.asc())),
            BookSort::AuthorDesc => query.order((author.desc(), id.desc())),
            BookSort::Price => query.order((price.asc(), id.asc())),
            BookSort::PriceDesc => query.order((price.desc(), id.desc())),
            BookSort::Rating => query.order((rating.asc(), id.asc())),
            BookSort::RatingDesc => query.order((rating.desc(), id.desc())),
            BookSort::CreatedAt => query.order((created_at.asc(), id.asc())),
            BookSort::CreatedAtDesc => query.order((created_at.desc(), id.desc())),
        };
        let items = query
            .offset(page.offset)
            .limit(page.limit)
            .select(Book::as_select())
            .load(conn)?;
        Ok((items, total))
    }

    /// The book with this id, if there is one.
    pub fn find(conn: &mut DbConn, id: i32) -> QueryResult<Option<Book>> {
        books::table
            .find(id)
            .select(Book::as_select())
            .get_result(conn)
            .optional()
    }

    /// Stores a new book.
    pub fn create(conn: &mut DbConn, new: &NewBook) -> QueryResult<Book> {
        let stamp = now();
        db::write_one(conn, |conn| {
            diesel::insert_into(books::table)
                .values((
                    new,
                    books::created_at.eq(stamp),
                    books::updated_at.eq(stamp),
                ))
                .returning(BOOK_COLUMNS)
                .get_result(conn)
        })
    }

    /// Replaces every field of a book; `None` if there is no such book.
    pub fn replace(conn: &mut DbConn, id: i32, new: &NewBook) -> QueryResult<Option<Book>> {
        db::write_one(conn, |conn| {
            diesel::update(books::table.find(id))
                .set((new, books::updated_at.eq(now())))
                .returning(BOOK_COLUMNS)
                .get_result(conn)
                .optional()
        })
    }

    /// Changes the fields given; `None` if there is no such book.
    pub fn update(conn: &mut DbConn, id: i32, changes: &BookChanges) -> QueryResult<Option<Book>> {
        db::write_one(conn, |conn| {
            diesel::update(books::table.find(id))
                .set((changes, books::updated_at.eq(now())))
                .returning(BOOK_COLUMNS)
                .get_result(conn)
                .optional()
        })
    }

    /// Deletes a book and, by the foreign key's cascade, its reviews.
    /// `false` if there was no such book.
    pub fn delete(conn: &mut DbConn, id: i32) -> QueryResult<bool> {
        db::write_one(conn, |conn| {
            diesel::delete(books::table.find(id))
                .execute(conn)
                .map(|n| n > 0)
        })
    }

    /// Whether a book with this id exists.
    pub fn exists(conn: &mut DbConn, id: i32) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(books::table.find(id))).get_result(conn)
    }
}
