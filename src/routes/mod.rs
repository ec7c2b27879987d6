//! HTTP handlers: parse the request, call a model function off the async
//! workers, respond. No queries here.

pub mod books;
pub mod catchers;
pub mod health;
pub mod reviews;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{Error, FieldError};
use crate::models::fields::{After, Limit, Offset};
use crate::models::PageRequest;

/// Paging parameters of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to skip: 0 to 10000. Default 0. Deeper pages follow `next` with `after`.
    #[serde(default)]
    #[param(inline)]
    pub offset: Offset,
    /// How many items a page holds: 1 to 100. Default 20; more than 100 is a 422.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
    /// Start after the last item of the page before: its `next`, as it is (`offset` then counts from there).
    #[param(inline)]
    pub after: Option<After>,
}

impl PageQuery {
    pub fn page(&self) -> PageRequest {
        PageRequest {
            offset: self.offset.get(),
            limit: self.limit.get(),
        }
    }
}

/// The 422 for a cursor that is not one of the list asked for.
pub fn invalid_cursor(message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new("after", message)])
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
