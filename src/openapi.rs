//! The OpenAPI document, generated from the handlers' annotations, and the
//! Swagger UI that shows it (its assets are compiled into the binary).

use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ErrorBody;
use crate::routes::{books, health, reviews};

/// The request body is not JSON (or not UTF-8).
#[derive(ToResponse)]
#[response(example = json!({"status": 400, "error": "bad_request",
    "message": "The request body is not valid JSON: EOF while parsing an object at line 1 column 12.",
    "fields": []}))]
pub struct BadRequest(pub ErrorBody);

/// An API key is needed (the server has `api_keys` configured) and was
/// missing or not valid.
#[derive(ToResponse)]
#[response(example = json!({"status": 401, "error": "unauthorized",
    "message": "This request needs an API key: Authorization: Bearer <key>.", "fields": []}))]
pub struct Unauthorized(pub ErrorBody);

/// No resource has this id.
#[derive(ToResponse)]
#[response(example = json!({"status": 404, "error": "not_found",
    "message": "no book with id 7", "fields": []}))]
pub struct NotFound(pub ErrorBody);

/// The request body is over the limit (`limits.json`, 64 KiB by default).
#[derive(ToResponse)]
#[response(example = json!({"status": 413, "error": "payload_too_large",
    "message": "The request body is larger than the limit of 64KiB.", "fields": []}))]
pub struct PayloadTooLarge(pub ErrorBody);

/// A field, parameter or id is missing, unknown, of the wrong type or out of range;
/// `fields` names each one and why.
#[derive(ToResponse)]
#[response(example = json!({"status": 422, "error": "validation_failed",
    "message": "The request has invalid values.",
    "fields": [{"field": "price", "message": "must be a number from 0 to 1000000"},
               {"field": "rating", "message": "must be a whole number from 1 to 5"}]}))]
pub struct Invalid(pub ErrorBody);

/// The database is unreachable, locked or busy, or migrations are pending; retry later.
#[derive(ToResponse)]
#[response(example = json!({"status": 503, "error": "service_unavailable",
    "message": "The database is unavailable or busy; try again shortly.", "fields": []}))]
pub struct Unavailable(pub ErrorBody);

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
    components(
        schemas(ErrorBody),
        responses(BadRequest, Unauthorized, NotFound, PayloadTooLarge, Invalid, Unavailable)
    ),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "books", description = "Books: title, author, price, rating, published, description"),
        (name = "reviews", description = "Reviews of a book"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// The `api_key` security scheme: `Authorization: Bearer <key>`. Needed only
/// when the server has `api_keys` configured (writes; reads too with
/// `protect_reads`), so operations list it as optional.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API key from the server's `api_keys` (BOOKSHELF_API_KEYS). Needed only when keys are configured.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// Swagger UI at `/docs`, reading the spec from `/openapi.json`. Its online
/// validator badge is off: it would send the spec's URL to an outside host.
pub fn docs() -> SwaggerUi {
    SwaggerUi::new("/docs/<_..>")
        .url("/openapi.json", ApiDoc::openapi())
        .config(Config::default().validator_url("none"))
}
