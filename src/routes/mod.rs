//! HTTP handlers: parse the request, call a model function off the async
//! workers, respond. No queries here.

pub mod books;
pub mod catchers;
pub mod health;
pub mod reviews;

use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use crate::models::PageRequest;

/// How many items a page holds when the request does not say.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most items a page may hold; a larger `limit` is a 422.
pub const MAX_LIMIT: i64 = 100;

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}

/// Paging parameters of a list.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to skip. Default 0.
    #[serde(default)]
    #[validate(range(min = 0, message = "must be 0 or more"))]
    #[param(minimum = 0, default = 0)]
    pub offset: i64,
    /// How many items a page holds: 1 to 100. Default 20; more than 100 is a 422.
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 100, message = "must be from 1 to 100"))]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
}

impl From<&PageQuery> for PageRequest {
    fn from(query: &PageQuery) -> PageRequest {
        PageRequest {
            offset: query.offset,
            limit: query.limit,
        }
    }
}

/// Declares the API's routes once: [`all`] mounts them and [`Paths`]
/// documents them, so the two cannot drift apart.
macro_rules! api_routes {
    ($($module:ident :: $handler:ident),* $(,)?) => {
        /// Every route of the API (the docs are mounted by `crate::openapi`).
        pub fn all() -> Vec<rocket::Route> {
            rocket::routes![$($module::$handler),*]
        }

        /// The OpenAPI paths of [`all`]'s routes (`crate::openapi` adds the rest).
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),*))]
        pub struct Paths;
    };
}

api_routes![
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
];
