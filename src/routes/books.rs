//! `/books`: list, create, read, replace, change and delete books.

use rocket::response::status::{Created, NoContent};
use rocket::{delete, get, patch, post, put, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{invalid_cursor, written, IfMatchHeader, IfNoneMatchHeader, ReadAfterHeader};
use crate::auth::{CanRead, CanWrite};
use crate::consistency::ReadAfter;
use crate::db::{Batches, Database};
use crate::error::Error;
use crate::etag::{IfMatch, IfNoneMatch, Tagged};
use crate::extract::{ValidJson, ValidQuery};
use crate::json::Json;
use crate::models::fields::{After, Exact, Limit, Offset};
use crate::models::{Book, BookChanges, BookFilter, BookSort, NewBook, Page, PageRequest};

/// Query parameters of `GET /books`.
// offset and limit repeat `PageQuery`: serde's flatten reads numbers as
// strings from a query string, so the fields are spelled out here.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListBooks {
    /// How many matching books to skip: 0 to 10000. Default 0. Deeper pages follow `next` with `after`.
    #[serde(default)]
    #[param(inline)]
    pub offset: Offset,
    /// How many books a page holds: 1 to 100. Default 20; more than 100 is a 422.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
    /// Start after the last book of the page before: its `next`, as it is
    /// (same filters and sort); `offset` then counts from there.
    #[param(inline)]
    pub after: Option<After>,
    /// Only books by exactly this author.
    #[param(inline)]
    pub author: Option<Exact>,
    /// Only published (`true`) or unpublished (`false`) books.
    pub published: Option<bool>,
    /// Sort order: a field, `-` in front for descending. Default `id`.
    #[serde(default)]
    #[param(inline)]
    pub sort: BookSort,
}

/// List books, a page at a time, with the total count (exact up to 1000).
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(ListBooks, ReadAfterHeader),
    responses(
        (status = 200, description = "A page of books", body = Page<Book>),
        crate::error::responses::BadHeader,
        crate::error::responses::Common,
    )
)]
#[get("/books")]
pub async fn list_books(
    db: &State<Database>,
    _key: CanRead,
    seen: ReadAfter,
    query: ValidQuery<ListBooks>,
) -> Result<Json<Page<Book>>, Error> {
    let ValidQuery(query) = query;
    let page = PageRequest {
        offset: query.offset.get(),
        limit: query.limit.get(),
    };
    let after = match &query.after {
        Some(after) => Some(query.sort.after(after.cursor()).map_err(invalid_cursor)?),
        None => None,
    };
    let filter = BookFilter {
        author: query.author.map(Exact::into_string),
        published: query.published,
    };
    let page = db
        .read(seen.0, move |conn| {
            Book::list(conn, &filter, query.sort, page, after.clone())
        })
        .await?;
    Ok(Json(page))
}

/// Create a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    request_body = NewBook,
    responses(
        (status = 201, description = "Created; `Location` names the new book", body = Book,
            headers(("Location" = String, description = "The new book's URL"),
                ("ETag" = String, description = "The book's version, for `If-Match`"))),
        crate::error::responses::Body,
        crate::error::responses::Common,
    )
)]
#[post("/books", data = "<body>")]
pub async fn create_book(
    db: &State<Database>,
    batches: &State<Batches<NewBook, Book>>,
    _key: CanWrite,
    body: ValidJson<NewBook>,
) -> Result<Tagged<Created<Json<Book>>>, Error> {
    let ValidJson(new) = body;
    let book = db.batched_write(batches, new).await?;
    let version = book.version;
    Ok(Tagged::Fresh(
        Created::new(format!("/books/{}", book.id)).body(Json(book)),
        version,
    ))
}

/// Read a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), IfNoneMatchHeader, ReadAfterHeader),
    responses(
        (status = 200, description = "The book", body = Book,
            headers(("ETag" = String, description = "The book's version, for `If-Match` and `If-None-Match`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the book's current version",
            headers(("ETag" = String, description = "The book's version"))),
        crate::error::responses::Missing,
        crate::error::responses::BadHeader,
        crate::error::responses::Common,
    )
)]
#[get("/books/<id>")]
pub async fn get_book(
    db: &State<Database>,
    batches: &State<Batches<i32, Option<Book>>>,
    _key: CanRead,
    id: i32,
    held: IfNoneMatch,
    seen: ReadAfter,
) -> Result<Tagged<Json<Book>>, Error> {
    let book = db
        .batched_read(batches, id, seen.0)
        .await?
        .ok_or_else(|| Error::not_found("book", id))?;
    let version = book.version;
    Ok(match held.holds(version) {
        true => Tagged::NotModified(version),
        false => Tagged::Fresh(Json(book), version),
    })
}

/// Replace every field of a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), IfMatchHeader),
    request_body = NewBook,
    responses(
        (status = 200, description = "The book as replaced", body = Book,
            headers(("ETag" = String, description = "The book's new version"))),
        crate::error::responses::Body,
        crate::error::responses::Missing,
        crate::error::responses::Conditional,
        crate::error::responses::Common,
    )
)]
#[put("/books/<id>", data = "<body>")]
pub async fn replace_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    expected: IfMatch,
    body: ValidJson<NewBook>,
) -> Result<Tagged<Json<Book>>, Error> {
    let ValidJson(new) = body;
    let outcome = db
        .write(move |conn| Book::replace(conn, id, &new, &expected.0))
        .await?;
    let book = written(outcome, "book", id)?;
    let version = book.version;
    Ok(Tagged::Fresh(Json(book), version))
}

/// Change some fields of a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), IfMatchHeader),
    request_body = BookChanges,
    responses(
        (status = 200, description = "The book as changed", body = Book,
            headers(("ETag" = String, description = "The book's new version"))),
        crate::error::responses::Body,
        crate::error::responses::Missing,
        crate::error::responses::Conditional,
        crate::error::responses::Common,
    )
)]
#[patch("/books/<id>", data = "<body>")]
pub async fn update_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    expected: IfMatch,
    body: ValidJson<BookChanges>,
) -> Result<Tagged<Json<Book>>, Error> {
    let ValidJson(changes) = body;
    let outcome = db
        .write(move |conn| Book::update(conn, id, &changes, &expected.0))
        .await?;
    let book = written(outcome, "book", id)?;
    let version = book.version;
    Ok(Tagged::Fresh(Json(book), version))
}

/// Delete a book and its reviews.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        crate::error::responses::Missing,
        crate::error::responses::Conditional,
        crate::error::responses::Common,
    )
)]
#[delete("/books/<id>")]
pub async fn delete_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    expected: IfMatch,
) -> Result<NoContent, Error> {
    let outcome = db
        .write(move |conn| Book::delete(conn, id, &expected.0))
        .await?;
    written(outcome, "book", id).map(|()| NoContent)
}
