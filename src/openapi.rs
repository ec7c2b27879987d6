//! The OpenAPI document, generated from the handlers' annotations, and the
//! Swagger UI that shows it (its assets are compiled into the binary).

use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::routes::{books, health, reviews};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookshelf",
        description = "A books and reviews JSON API. Every error has the same JSON shape (`ErrorBody`).",
    ),
    paths(
        books::list_books,
        books::create_book,
        books::get_book,
        books::replace_book,
        books::update_book,
        books::delete_book,
        reviews::list_reviews,
        reviews::create_review,
        reviews::get_review,
        reviews::update_review,
        reviews::delete_review,
        health::health,
        health::ready,
    ),
    tags(
        (name = "books", description = "Books: title, author, price, rating, published, description"),
        (name = "reviews", description = "Reviews of a book"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Swagger UI at `/docs`, reading the spec from `/openapi.json`. Its online
/// validator badge is off: it would send the spec's URL to an outside host.
pub fn docs() -> SwaggerUi {
    SwaggerUi::new("/docs/<_..>")
        .url("/openapi.json", ApiDoc::openapi())
        .config(Config::default().validator_url("none"))
}
