//! The OpenAPI document, generated from the handlers' annotations, and the
//! Swagger UI that shows it (its assets are compiled into the binary).

use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::responses::{
    BadRequest, Invalid, NotFound, PayloadTooLarge, PreconditionFailed, PreconditionRequired,
    Unauthorized, Unavailable,
};
use crate::error::ErrorBody;

/// The API's OpenAPI description, without its paths: [`document`] adds them
/// from the one list of routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookshelf",
        description = "A books and reviews JSON API. Every error has the same JSON shape (`ErrorBody`). \
            Every response carries `X-Request-Id`: the client's own (1 to 128 characters of \
            `A-Za-z0-9._:-`) or a new one; error bodies repeat it as `request_id`.",
    ),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            NotFound,
            PreconditionFailed,
            PayloadTooLarge,
            Invalid,
            PreconditionRequired,
            Unavailable
        )
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

/// The OpenAPI document: [`ApiDoc`] with the paths of every mounted route.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(crate::routes::Paths::openapi());
    refer_page_items(&mut document);
    document
}

/// utoipa writes the item schema of a generic `Page<T>` inline into each
/// `Page_T` (juhaku/utoipa#1586), so a generated client would get a second
/// type beside `T`. Each page's items refer to `T`'s own schema instead.
fn refer_page_items(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    use utoipa::openapi::{Ref, RefOr};
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let names: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !names.iter().any(|n| n == item) {
            continue;
        }
        let RefOr::T(Schema::Object(page)) = schema else {
            continue;
        };
        if let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") {
            items.items =
                ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(item))));
        }
    }
}

/// Swagger UI at `/docs`, reading the spec from `/openapi.json`. Its online
/// validator badge is off: it would send the spec's URL to an outside host.
pub fn docs() -> SwaggerUi {
    SwaggerUi::new("/docs/<_..>")
        .url("/openapi.json", document())
        .config(Config::default().validator_url("none"))
}
