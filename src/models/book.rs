//! Books: the row, the bodies that create and change one, and their queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Integer, Nullable, Text, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::fields::{AuthorName, Description, Price, Rating, Title};
use super::order::{coalesce, RowAfter};
use super::page::{self, CountOf, Cursor, Page, PageRequest, TotalOf, TOTAL_CAP};
use super::time::{now, Stamp};
use super::versioned::{write_versioned, Expected, Written};
use crate::db::{self, DbConn, DbError};
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
    /// A whole number, in the range of a request's rating.
    #[schema(example = 5)]
    pub rating: i32,
    /// Whether the book is published.
    pub published: bool,
    /// When the book was created (UTC, set by the server).
    #[serde(serialize_with = "super::time::utc::serialize")]
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// When the book was last changed (UTC, set by the server).
    #[serde(serialize_with = "super::time::utc::serialize")]
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// Free text, or null.
    pub description: Option<String>,
    /// Counts the writes to the row: the `ETag`, not part of the body.
    #[serde(skip)]
    pub version: i32,
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
    books::version,
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
    books::version,
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

impl BookSort {
    /// The name clients use: `title`, `-price`, ...
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => name,
            _ => unreachable!("a sort order serializes to its name"),
        }
    }

    /// The column this order sorts by before the id, and whether it is descending.
    fn column(self) -> (&'static str, bool) {
        match self {
            BookSort::Id => ("id", false),
            BookSort::IdDesc => ("id", true),
            BookSort::Title => ("title", false),
            BookSort::TitleDesc => ("title", true),
            BookSort::Author => ("author", false),
            BookSort::AuthorDesc => ("author", true),
            BookSort::Price => ("price", false),
            BookSort::PriceDesc => ("price", true),
            BookSort::Rating => ("rating", false),
            BookSort::RatingDesc => ("rating", true),
            BookSort::CreatedAt => ("created_at", false),
            BookSort::CreatedAtDesc => ("created_at", true),
        }
    }

    /// The cursor of the position after `book` in this order.
    fn cursor(self, book: &Book) -> Cursor {
        let key = match self.column().0 {
            "title" => json!(book.title),
            "author" => json!(book.author),
            "price" => json!(book.price),
            "rating" => json!(book.rating),
            "created_at" => json!(book.created_at),
            _ => serde_json::Value::Null,
        };
        Cursor {
            sort: self.name(),
            key,
            id: book.id,
        }
    }

    /// Where a page after `cursor` starts in this order, or why the cursor
    /// is not one of a list in this order.
    pub fn after(self, cursor: &Cursor) -> Result<BookAfter, String> {
        let key = cursor.for_sort(&self.name())?;
        let bad = || "is not a cursor: pass a page's `next` as it is".to_string();
        let key = match self.column().0 {
            "id" if key.is_null() => BookKey::None,
            "title" => BookKey::Title(key.as_str().ok_or_else(bad)?.to_string()),
            "author" => BookKey::Author(key.as_str().ok_or_else(bad)?.to_string()),
            "price" => BookKey::Price(key.as_f64().ok_or_else(bad)?),
            "rating" => BookKey::Rating(
                key.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(bad)?,
            ),
            "created_at" => {
                BookKey::CreatedAt(serde_json::from_value(key.clone()).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(BookAfter {
            sort: self,
            key,
            id: cursor.id,
        })
    }
}

/// Where a page of books that follows a cursor starts: after the book with
/// this sort key and id, in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct BookAfter {
    sort: BookSort,
    key: BookKey,
    id: i32,
}

/// A book's value of the field a list is sorted by.
#[derive(Debug, Clone, PartialEq)]
enum BookKey {
    /// Sorted by id alone.
    None,
    Title(String),
    Author(String),
    Price(f64),
    Rating(i32),
    CreatedAt(NaiveDateTime),
}

// A page's query is typed for the backend it runs on, PostgreSQL's or
// SQLite's own connection (see `Book::list`), so its parts are macros: a
// generic function cannot name what diesel's boxed queries need of a backend.

/// The books matching `filter` (a `&BookFilter`), as a boxed query.
macro_rules! filtered {
    ($filter:expr) => {{
        let filter: &BookFilter = $filter;
        let mut query = books::table.into_boxed();
        if let Some(name) = &filter.author {
            query = query.filter(books::author.eq(name.clone()));
        }
        if let Some(published) = filter.published {
            query = query.filter(books::published.eq(published));
        }
        query
    }};
}

/// `query` in `sort` order (a `BookSort`), for a list with `filter`.
///
/// With the author filter and a sort other than by id or author, the sort
/// key is `COALESCE(field, field)` ([`coalesce`]): the same value (the
/// columns are NOT NULL), which no index matches, so both databases read
/// the author's books through books (author, id) and sort them. Left to
/// choose, they may walk the sort field's index and skip the other authors'
/// rows instead: at a million books PostgreSQL skipped 29,600 rows for one
/// page (45 ms) of an author with 1,000. The cost then grows with the
/// author's books, not with the table (an index per filter and sort would
/// bound it, at the price of four more indexes on every write).
macro_rules! ordered {
    ($query:expr, $sort:expr, $filter:expr) => {{
        let (query, sort, by_author): (_, BookSort, bool) =
            ($query, $sort, $filter.author.is_some());
        // The columns' names, after the arguments: `use` reaches a whole block.
        {
            use books::{author, created_at, id, price, rating, title};
            match (sort, by_author) {
                (BookSort::Title, true) => query.order((coalesce(title, title).asc(), id.asc())),
                (BookSort::TitleDesc, true) => {
                    query.order((coalesce(title, title).desc(), id.desc()))
                }
                (BookSort::Price, true) => query.order((coalesce(price, price).asc(), id.asc())),
                (BookSort::PriceDesc, true) => {
                    query.order((coalesce(price, price).desc(), id.desc()))
                }
                (BookSort::Rating, true) => query.order((coalesce(rating, rating).asc(), id.asc())),
                (BookSort::RatingDesc, true) => {
                    query.order((coalesce(rating, rating).desc(), id.desc()))
                }
                (BookSort::CreatedAt, true) => {
                    query.order((coalesce(created_at, created_at).asc(), id.asc()))
                }
                (BookSort::CreatedAtDesc, true) => {
                    query.order((coalesce(created_at, created_at).desc(), id.desc()))
                }
                (BookSort::Id, _) => query.order(id.asc()),
                (BookSort::IdDesc, _) => query.order(id.desc()),
                (BookSort::Title, _) => query.order((title.asc(), id.asc())),
                (BookSort::TitleDesc, _) => query.order((title.desc(), id.desc())),
                (BookSort::Author, _) => query.order((author.asc(), id.asc())),
                (BookSort::AuthorDesc, _) => query.order((author.desc(), id.desc())),
                (BookSort::Price, _) => query.order((price.asc(), id.asc())),
                (BookSort::PriceDesc, _) => query.order((price.desc(), id.desc())),
                (BookSort::Rating, _) => query.order((rating.asc(), id.asc())),
                (BookSort::RatingDesc, _) => query.order((rating.desc(), id.desc())),
                (BookSort::CreatedAt, _) => query.order((created_at.asc(), id.asc())),
                (BookSort::CreatedAtDesc, _) => query.order((created_at.desc(), id.desc())),
            }
        }
    }};
}

/// `query`'s books after a cursor (a `BookAfter`): `(column, id) > (key,
/// id)` (`<` when descending), a row value comparison, which both backends
/// answer from the order's index, starting at the cursor, where an `OR` of
/// two conditions would scan from the start.
macro_rules! after_cursor {
    ($query:expr, $after:expr) => {{
        let query = $query;
        let BookAfter { sort, key, id } = $after;
        let descending = sort.column().1;
        match key {
            BookKey::None if descending => query.filter(books::id.lt(id)),
            BookKey::None => query.filter(books::id.gt(id)),
            BookKey::Title(value) => query.filter(row_after(
                books::title,
                value.into_sql::<Text>(),
                id,
                descending,
            )),
            BookKey::Author(value) => query.filter(row_after(
                books::author,
                value.into_sql::<Text>(),
                id,
                descending,
            )),
            BookKey::Price(value) => query.filter(row_after(
                books::price,
                value.into_sql::<Double>(),
                id,
                descending,
            )),
            BookKey::Rating(value) => query.filter(row_after(
                books::rating,
                value.into_sql::<Integer>(),
                id,
                descending,
            )),
            BookKey::CreatedAt(value) => query.filter(row_after(
                books::created_at,
                value.into_sql::<Timestamp>(),
                id,
                descending,
            )),
        }
    }};
}

/// The row value comparison of [`after_cursor`] for a sort by `column`.
fn row_after<C, K>(
    column: C,
    key: K,
    id: i32,
    descending: bool,
) -> RowAfter<C, books::id, K, diesel::dsl::AsExprOf<i32, Integer>> {
    RowAfter {
        column,
        id: books::id,
        key,
        key_id: id.into_sql::<Integer>(),
        descending,
    }
}

/// Reads the version of book `id`, for [`write_versioned`].
fn version_of(id: i32) -> impl Fn(&mut DbConn) -> QueryResult<Option<i32>> {
    move |conn| {
        books::table
            .find(id)
            .select(books::version)
            .get_result(conn)
            .optional()
    }
}

/// Every write of a book counts one more version.
fn next_version() -> diesel::dsl::Eq<books::version, diesel::dsl::Add<books::version, i32>> {
    books::version.eq(books::version + 1)
}

impl Book {
    /// One page of the books matching `filter`, in `sort` order, `page.offset`
    /// books after the start or, given `after`, after a cursor; with how many
    /// match in all (counted up to [`TOTAL_CAP`]) and the cursor of the next
    /// page. Every part reads an index in order and stops early, so the cost
    /// does not grow with the table (src/models/page.rs).
    ///
    /// It runs on the backend's own connection, as [`Book::find`] does:
    /// through the multi-backend connection each field of each row was
    /// wrapped, and a page cost up to 1.10x the CPU (bench/results.md).
    pub fn list(
        conn: &mut DbConn,
        filter: &BookFilter,
        sort: BookSort,
        page: PageRequest,
        after: Option<BookAfter>,
    ) -> QueryResult<Page<Book>> {
        let from_start = page.offset == 0 && after.is_none();
        let (rows, counted) = on_backend!(conn, |conn| {
            let count = || CountOf(filtered!(filter).select(books::id).limit(TOTAL_CAP + 1));
            let query = ordered!(filtered!(filter), sort, filter);
            let query = match after {
                Some(after) => after_cursor!(query, after),
                None => query,
            };
            // The total rides along with each row: one statement for the page.
            let rows = query
                .offset(page.offset)
                .limit(page.rows())
                .select((Book::as_select(), TotalOf(count())))
                .load(conn)?;
            page::with_total(rows, from_start, || count().get_result(conn))?
        });
        Ok(Page::of(rows, counted, page, |book| sort.cursor(book)))
    }

    /// The book with this id, if there is one. GET by id's query, run on
    /// the backend's own connection: through the multi-backend connection
    /// each execution would write the statement's SQL again (to look it up)
    /// and wrap each field of the row.
    pub fn find(conn: &mut DbConn, id: i32) -> QueryResult<Option<Book>> {
        on_backend!(conn, |conn| {
            books::table
                .find(id)
                .select(Book::as_select())
                .get_result(conn)
                .optional()
        })
    }

    /// Stores a new book.
    ///
    /// The row is written as `INSERT … SELECT $1, …`, not `INSERT … VALUES`:
    /// on PostgreSQL diesel renders each value of `.values()` as "a bind or
    /// DEFAULT" and so never caches that statement, and PostgreSQL parsed
    /// and planned every POST anew (bench/results.md). A `SELECT` of binds
    /// is prepared once per connection, as the reads are.
    pub fn create(conn: &mut DbConn, new: &NewBook) -> QueryResult<Book> {
        let stamp = now();
        db::write_one(conn, |conn| {
            let row = diesel::select((
                (&new.title).into_sql::<Text>(),
                (&new.author).into_sql::<Text>(),
                new.price.into_sql::<Double>(),
                new.rating.into_sql::<Integer>(),
                new.published.into_sql::<Bool>(),
                new.description.as_ref().into_sql::<Nullable<Text>>(),
                stamp.into_sql::<Timestamp>(),
                stamp.into_sql::<Timestamp>(),
            ));
            diesel::insert_into(books::table)
                .values(row)
                .into_columns((
                    books::title,
                    books::author,
                    books::price,
                    books::rating,
                    books::published,
                    books::description,
                    books::created_at,
                    books::updated_at,
                ))
                .returning(BOOK_COLUMNS)
                .get_result(conn)
        })
    }

    /// Replaces every field of a book at a version `expected` allows.
    pub fn replace(
        conn: &mut DbConn,
        id: i32,
        new: &NewBook,
        expected: &Expected,
    ) -> QueryResult<Written<Book>> {
        db::write_one(conn, |conn| {
            write_versioned(conn, expected, version_of(id), |conn, (low, high)| {
                diesel::update(books::table.find(id))
                    .filter(books::version.between(low, high))
                    .set((new, books::updated_at.eq(now()), next_version()))
                    .returning(BOOK_COLUMNS)
                    .get_result(conn)
                    .optional()
            })
        })
    }

    /// Changes the fields given, at a version `expected` allows.
    pub fn update(
        conn: &mut DbConn,
        id: i32,
        changes: &BookChanges,
        expected: &Expected,
    ) -> QueryResult<Written<Book>> {
        db::write_one(conn, |conn| {
            write_versioned(conn, expected, version_of(id), |conn, (low, high)| {
                diesel::update(books::table.find(id))
                    .filter(books::version.between(low, high))
                    .set((changes, books::updated_at.eq(now()), next_version()))
                    .returning(BOOK_COLUMNS)
                    .get_result(conn)
                    .optional()
            })
        })
    }

    /// Deletes a book at a version `expected` allows and, by the foreign
    /// key's cascade, its reviews.
    pub fn delete(conn: &mut DbConn, id: i32, expected: &Expected) -> QueryResult<Written<()>> {
        db::write_one(conn, |conn| {
            write_versioned(conn, expected, version_of(id), |conn, (low, high)| {
                diesel::delete(books::table.find(id))
                    .filter(books::version.between(low, high))
                    .execute(conn)
                    .map(|n| (n > 0).then_some(()))
            })
        })
    }

    /// Each of the books `ids` names, if there is one: the work of a batch of
    /// GETs by id ([`db::Batches`]), one query for all.
    pub fn find_each(
        conn: &mut DbConn,
        ids: &[i32],
    ) -> Result<Vec<Result<Option<Book>, DbError>>, DbError> {
        // Alone, `id = $1` is cheaper for PostgreSQL than `= ANY($1)`. On
        // SQLite there is no round trip to save, and `IN (?, ?, …)` would be
        // parsed anew for each batch (diesel does not cache a statement whose
        // number of binds varies), while `find` is prepared once: each id is
        // looked up on its own, on the batch's connection.
        if ids.len() == 1 || matches!(conn, DbConn::Sqlite(_)) {
            return Ok(ids
                .iter()
                .map(|id| Book::find(conn, *id).map_err(DbError::from))
                .collect());
        }
        let rows: Vec<Book> = books::table
            .filter(books::id.eq_any(ids))
            .select(Book::as_select())
            .load(conn)?;
        Ok(ids
            .iter()
            .map(|id| Ok(rows.iter().find(|book| book.id == *id).cloned()))
            .collect())
    }

    /// Stores each new book, one answer each in the same order: the work of a
    /// batch of POSTs ([`db::Batches`]). On PostgreSQL one multi-row `INSERT
    /// … RETURNING`, whose rows come back in the order of its VALUES; should
    /// it fail (one row refused fails them all), each is inserted alone, so
    /// each request gets its own answer and no valid book is refused.
    pub fn create_each(
        conn: &mut DbConn,
        news: &[NewBook],
    ) -> Result<Vec<Result<Book, DbError>>, DbError> {
        if let (DbConn::Postgres(pg), 2..) = (&mut *conn, news.len()) {
            let stamp = now();
            let rows: Vec<_> = news
                .iter()
                .map(|new| {
                    (
                        new,
                        books::created_at.eq(stamp),
                        books::updated_at.eq(stamp),
                    )
                })
                .collect();
            let stored = diesel::insert_into(books::table)
                .values(rows)
                .returning(BOOK_COLUMNS)
                .get_results::<Book>(pg);
            // Stored: one answer per row (the batch checks the count).
            if let Ok(books) = stored {
                return Ok(books.into_iter().map(Ok).collect());
            }
        }
        Ok(news
            .iter()
            .map(|new| Book::create(conn, new).map_err(DbError::from))
            .collect())
    }

    /// Whether a book with this id exists.
    pub fn exists(conn: &mut DbConn, id: i32) -> QueryResult<bool> {
        Book::exists_query(id).get_result(conn)
    }

    /// [`Book::exists`]'s query, for a backend's own connection too.
    #[diesel::dsl::auto_type(no_type_alias)]
    pub fn exists_query(id: i32) -> _ {
        diesel::dsl::select(diesel::dsl::exists(books::table.find(id)))
    }
}
