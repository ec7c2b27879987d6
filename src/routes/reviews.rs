//! Reviews: listed and created under their book, read, changed and deleted
//! by their own id.

use rocket::response::status::{Created, NoContent};
use rocket::serde::json::Json;
use rocket::{delete, get, patch, post, State};

use super::{invalid_cursor, PageQuery};
use crate::auth::{CanRead, CanWrite};
use crate::db::Database;
use crate::error::Error;
use crate::extract::{ValidJson, ValidQuery};
use crate::models::{NewReview, Page, Review, ReviewChanges};

/// List a book's reviews, oldest first, a page at a time.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The book's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the book's reviews", body = Page<Review>),
        crate::error::responses::Missing,
        crate::error::responses::Common,
    )
)]
#[get("/books/<id>/reviews")]
pub async fn list_reviews(
    db: &State<Database>,
    _key: CanRead,
    id: i32,
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
        .run(move |conn| Review::list_for_book(conn, id, page, after))
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
            headers(("Location" = String, description = "The new review's URL"))),
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
) -> Result<Created<Json<Review>>, Error> {
    let ValidJson(new) = body;
    let review = db
        .write(move |conn| Review::create(conn, id, &new))
        .await?
        .ok_or_else(|| Error::not_found("book", id))?;
    Ok(Created::new(format!("/reviews/{}", review.id)).body(Json(review)))
}

/// Read a review.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id")),
    responses(
        (status = 200, description = "The review", body = Review),
        crate::error::responses::Missing,
        crate::error::responses::Common,
    )
)]
#[get("/reviews/<id>")]
pub async fn get_review(
    db: &State<Database>,
    _key: CanRead,
    id: i32,
) -> Result<Json<Review>, Error> {
    db.run(move |conn| Review::find(conn, id))
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("review", id))
}

/// Change a review's author or content.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id")),
    request_body = ReviewChanges,
    responses(
        (status = 200, description = "The review as changed", body = Review),
        crate::error::responses::Body,
        crate::error::responses::Missing,
        crate::error::responses::Common,
    )
)]
#[patch("/reviews/<id>", data = "<body>")]
pub async fn update_review(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
    body: ValidJson<ReviewChanges>,
) -> Result<Json<Review>, Error> {
    let ValidJson(changes) = body;
    db.write(move |conn| Review::update(conn, id, &changes))
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("review", id))
}

/// Delete a review.
#[utoipa::path(
    tag = "reviews",
    security((), ("api_key" = [])),
    params(("id" = i32, Path, description = "The review's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::error::responses::Missing,
        crate::error::responses::Common,
    )
)]
#[delete("/reviews/<id>")]
pub async fn delete_review(
    db: &State<Database>,
    _key: CanWrite,
    id: i32,
) -> Result<NoContent, Error> {
    match db.write(move |conn| Review::delete(conn, id)).await? {
        true => Ok(NoContent),
        false => Err(Error::not_found("review", id)),
    }
}
