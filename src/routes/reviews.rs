//! Reviews: listed and created under their book, read, changed and deleted
//! by their own id.

use rocket::response::status::{Created, NoContent};
use rocket::{delete, get, patch, post, State};

use super::{
    invalid_cursor, written, IfMatchHeader, IfNoneMatchHeader, PageQuery, ReadAfterHeader,
};
use crate::auth::{CanRead, CanWrite};
use crate::consistency::ReadAfter;
use crate::db::Database;
use crate::error::Error;
use crate::etag::{IfMatch, IfNoneMatch, Tagged};
use crate::extract::{ValidJson, ValidQuery};
use crate::json::Json;
use crate::models::{NewReview, Page, Review, ReviewChanges};

/// List a book's reviews, oldest first, a page at a time.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), PageQuery, ReadAfterHeader),
    responses(
        (status = 200, description = "A page of the book's reviews", body = Page<Review>),
        crate::error::responses::Missing,
        crate::error::responses::BadHeader,
        crate::error::responses::Common,
    )
)]
#[get("/books/<id>/reviews")]
pub async fn list_reviews(
    db: &State<Database>,
    _key: CanRead,
    id: i32,
    seen: ReadAfter,
    query: ValidQuery<PageQuery>,
) -> Result<Json<Page<Review>>, Error> {
    let page = query.0.page();
    let after = match &query.0.after {
        Some(after) => Some(
            after
                .cursor()
                .for_sort(Review::SORT)
                .map(|_| after.cursor().id)
                .map_err(invalid_cursor)?,
        ),
        None => None,
    };
    let page = db
        .read(seen.0, move |conn| {
            Review::list_for_book(conn, id, page, after)
        })
        .await?
        .ok_or_else(|| Error::not_found("book", id))?;
    Ok(Json(page))
}

/// Review a book.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id")),
    request_body = NewReview,
    responses(
        (status = 201, description = "Created; `Location` names the new review", body = Review,
            headers(("Location" = String, description = "The new review's URL"),
                ("ETag" = String, description = "The review's version, for `If-Match`"))),
        crate::error::responses::Body,
        crate::error::responses::Missing,
        crate::error::responses::Common,
    )
)]
#[post("/books/<id>/reviews", data = "<body>")]
pub async fn create_review(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    body: ValidJson<NewReview>,
) -> Result<Tagged<Created<Json<Review>>>, Error> {
    let ValidJson(new) = body;
    let review = db
        .write(move |conn| Review::create(conn, id, &new))
        .await?
        .ok_or_else(|| Error::not_found("book", id))?;
    let version = review.version;
    Ok(Tagged::Fresh(
        Created::new(format!("/reviews/{}", review.id)).body(Json(review)),
        version,
    ))
}

/// Read a review.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id"), IfNoneMatchHeader, ReadAfterHeader),
    responses(
        (status = 200, description = "The review", body = Review,
            headers(("ETag" = String, description = "The review's version, for `If-Match` and `If-None-Match`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the review's current version",
            headers(("ETag" = String, description = "The review's version"))),
        crate::error::responses::Missing,
        crate::error::responses::BadHeader,
        crate::error::responses::Common,
    )
)]
#[get("/reviews/<id>")]
pub async fn get_review(
    db: &State<Database>,
    _key: CanRead,
    id: i32,
    held: IfNoneMatch,
    seen: ReadAfter,
) -> Result<Tagged<Json<Review>>, Error> {
    let review = db
        .read(seen.0, move |conn| Review::find(conn, id))
        .await?
        .ok_or_else(|| Error::not_found("review", id))?;
    let version = review.version;
    Ok(match held.holds(version) {
        true => Tagged::NotModified(version),
        false => Tagged::Fresh(Json(review), version),
    })
}

/// Change a review's author or content.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id"), IfMatchHeader),
    request_body = ReviewChanges,
    responses(
        (status = 200, description = "The review as changed", body = Review,
            headers(("ETag" = String, description = "The review's new version"))),
        crate::error::responses::Body,
        crate::error::responses::Missing,
        crate::error::responses::Conditional,
        crate::error::responses::Common,
    )
)]
#[patch("/reviews/<id>", data = "<body>")]
pub async fn update_review(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    expected: IfMatch,
    body: ValidJson<ReviewChanges>,
) -> Result<Tagged<Json<Review>>, Error> {
    let ValidJson(changes) = body;
    let outcome = db
        .write(move |conn| Review::update(conn, id, &changes, &expected.0))
        .await?;
    let review = written(outcome, "review", id)?;
    let version = review.version;
    Ok(Tagged::Fresh(Json(review), version))
}

/// Delete a review.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id"), IfMatchHeader),
    responses(
        (status = 204, description = "Deleted"),
        crate::error::responses::Missing,
        crate::error::responses::Conditional,
        crate::error::responses::Common,
    )
)]
#[delete("/reviews/<id>")]
pub async fn delete_review(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    expected: IfMatch,
) -> Result<NoContent, Error> {
    let outcome = db
        .write(move |conn| Review::delete(conn, id, &expected.0))
        .await?;
    written(outcome, "review", id).map(|()| NoContent)
}
