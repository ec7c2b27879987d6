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
use crate::models::{PageRequest, Written};

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

/// The answer to a write of one resource: the row, or 404 when there is no
/// such `kind`, or 412 when `If-Match` names none of its current version.
pub fn written<T>(outcome: Written<T>, kind: &str, id: i32) -> Result<T, Error> {
    match outcome {
        Written::Done(row) => Ok(row),
        Written::Missing => Err(Error::not_found(kind, id)),
        Written::Stale => Err(Error::stale(kind, id)),
    }
}

/// `If-Match`, as the OpenAPI document describes it (read by [`crate::etag::IfMatch`]).
#[derive(IntoParams)]
#[into_params(names("If-Match"), parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatchHeader(
    /// Change only if the resource is still at this version: its `ETag`, as
    /// GET, POST, PUT or PATCH gave it (`"3"`), or `*`. Otherwise 412, and
    /// nothing changes. Without it the change applies to whatever version
    /// is current (unless the server sets `require_if_match`: then 428).
    #[param(nullable = false)]
    Option<String>,
);

/// `If-None-Match`, as the OpenAPI document describes it (read by [`crate::etag::IfNoneMatch`]).
#[derive(IntoParams)]
#[into_params(names("If-None-Match"), parameter_in = Header)]
#[allow(dead_code)]
pub struct IfNoneMatchHeader(
    /// The `ETag` of the copy the client holds: 304 and no body while it is current.
    #[param(nullable = false)]
    Option<String>,
);

/// `Bookshelf-Lsn`, as the OpenAPI document describes it (read by [`crate::consistency::ReadAfter`]).
#[derive(IntoParams)]
#[into_params(names("Bookshelf-Lsn"), parameter_in = Header)]
#[allow(dead_code)]
pub struct ReadAfterHeader(
    /// Read-your-writes when reads may go to standbys: the `Bookshelf-Lsn`
    /// a write answered with (`0/3000148`). The read is served by a standby
    /// that has replayed at least that far, or by the primary, so it sees
    /// that write. Without it a standby up to `replica_max_lag` behind may
    /// answer. Malformed: 400.
    // The pattern is crate::db::LSN_PATTERN (utoipa takes a literal; tests/api/openapi.rs checks).
    #[param(nullable = false, pattern = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")]
    Option<String>,
);

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
    health::metrics,
];
