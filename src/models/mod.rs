//! The data: structs that map rows and request bodies, and the queries on
//! them. Nothing here knows about HTTP.

/// Runs `body` on the backend's own connection, `conn` bound to it: one
/// expression, typed for each backend in turn. Through the multi-backend
/// connection each execution writes the statement's SQL again (to look it
/// up) and wraps each field of each row (bench/results.md, issue 24).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

pub mod book;
pub mod fields;
mod order;
pub mod page;
pub mod review;
pub mod time;
pub mod versioned;

pub use book::{Book, BookAfter, BookChanges, BookFilter, BookSort, NewBook};
pub use fields::{NO_NUL_PATTERN, TEXT_PATTERN};
pub use page::{Cursor, Page, PageRequest, CURSOR_PATTERN, TOTAL_CAP};
pub use review::{NewReview, Review, ReviewChanges};
pub use time::now;
pub use versioned::{Expected, Written};
