//! `/books`: list, create, read, replace, change and delete books.

use rocket::response::status::{Created, NoContent};
use rocket::serde::json::Json;
use rocket::{delete, get, patch, post, put, State};
use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use super::default_limit;
use crate::auth::{CanRead, CanWrite};
use crate::db::Database;
use crate::error::Error;
use crate::extract::{ValidJson, ValidQuery};
use crate::models::{Book, BookChanges, BookFilter, BookSort, NewBook, Page, PageRequest};

/// Query parameters of `GET /books`.
// offset and limit repeat `PageQuery`: serde's flatten reads numbers as
// strings from a query string, so the fields are spelled out here.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListBooks {
    /// How many matching books to skip. Default 0.
    #[serde(default)]
    #[validate(range(min = 0, message = "must be 0 or more"))]
    #[param(minimum = 0, default = 0)]
    pub offset: i64,
    /// How many books a page holds: 1 to 100. Default 20; more than 100 is a 422.
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 100, message = "must be from 1 to 100"))]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
    /// Only books by exactly this author.
    #[validate(custom(function = "crate::models::no_nul"))]
    #[param(pattern = r"^[^\x00]*$")]
    pub author: Option<String>,
    /// Only published (`true`) or unpublished (`false`) books.
    pub published: Option<bool>,
    /// Sort order: a field, `-` in front for descending. Default `id`.
    #[serde(default)]
    #[param(inline)]
    pub sort: BookSort,
}

/// List books, a page at a time, with the total count.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(ListBooks),
    responses(
        (status = 200, description = "A page of books", body = Page<Book>),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[get("/books")]
pub async fn list_books(
    db: &State<Database>,
    _key: CanRead,
    query: ValidQuery<ListBooks>,
) -> Result<Json<Page<Book>>, Error> {
    let ValidQuery(query) = query;
    let page = PageRequest {
        offset: query.offset,
        limit: query.limit,
    };
    let filter = BookFilter {
        author: query.author,
        published: query.published,
    };
    let (items, total) = db
        .run(move |conn| Book::list(conn, &filter, query.sort, page))
        .await?;
    Ok(Json(Page {
        items,
        total,
        offset: page.offset,
        limit: page.limit,
    }))
}

/// Create a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    request_body = NewBook,
    responses(
        (status = 201, description = "Created; `Location` names the new book", body = Book,
            headers(("Location" = String, description = "The new book's URL"))),
        (status = 400, response = crate::error::responses::BadRequest),
        (status = 413, response = crate::error::responses::PayloadTooLarge),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[post("/books", data = "<body>")]
pub async fn create_book(
    db: &State<Database>,
    _key: CanWrite,
    body: ValidJson<NewBook>,
) -> Result<Created<Json<Book>>, Error> {
    let ValidJson(new) = body;
    let book = db.write(move |conn| Book::create(conn, &new)).await?;
    Ok(Created::new(format!("/books/{}", book.id)).body(Json(book)))
}

/// Read a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id")),
    responses(
        (status = 200, description = "The book", body = Book),
        (status = 404, response = crate::error::responses::NotFound),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[get("/books/<id>")]
pub async fn get_book(db: &State<Database>, _key: CanRead, id: i32) -> Result<Json<Book>, Error> {
    db.run(move |conn| Book::find(conn, id))
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("book", id))
}

/// Replace every field of a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id")),
    request_body = NewBook,
    responses(
        (status = 200, description = "The book as replaced", body = Book),
        (status = 400, response = crate::error::responses::BadRequest),
        (status = 404, response = crate::error::responses::NotFound),
        (status = 413, response = crate::error::responses::PayloadTooLarge),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[put("/books/<id>", data = "<body>")]
pub async fn replace_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    body: ValidJson<NewBook>,
) -> Result<Json<Book>, Error> {
    let ValidJson(new) = body;
    db.write(move |conn| Book::replace(conn, id, &new))
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("book", id))
}

/// Change some fields of a book.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id")),
    request_body = BookChanges,
    responses(
        (status = 200, description = "The book as changed", body = Book),
        (status = 400, response = crate::error::responses::BadRequest),
        (status = 404, response = crate::error::responses::NotFound),
        (status = 413, response = crate::error::responses::PayloadTooLarge),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[patch("/books/<id>", data = "<body>")]
pub async fn update_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    body: ValidJson<BookChanges>,
) -> Result<Json<Book>, Error> {
    let ValidJson(changes) = body;
    db.write(move |conn| Book::update(conn, id, &changes))
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("book", id))
}

/// Delete a book and its reviews.
#[utoipa::path(
    tag = "books",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = crate::error::responses::NotFound),
        (status = 422, response = crate::error::responses::Invalid),
        (status = 401, response = crate::error::responses::Unauthorized),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[delete("/books/<id>")]
pub async fn delete_book(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
) -> Result<NoContent, Error> {
    match db.write(move |conn| Book::delete(conn, id)).await? {
        true => Ok(NoContent),
        false => Err(Error::not_found("book", id)),
    }
}
