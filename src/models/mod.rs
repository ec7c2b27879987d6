//! The data: structs that map rows and request bodies, and the queries on
//! them. Nothing here knows about HTTP.

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
