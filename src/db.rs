//! The application's database layer: the r2d2 pool, the threads that run
//! Diesel off Rocket's async workers, and what their jobs fail with. The
//! connections themselves (either backend, named by `DATABASE_URL`) are the
//! engine's: see `bookshelf_migrate::connection`.

mod batch;
mod database;
mod error;
pub mod metrics;
mod pool;
mod startup;
mod threads;
mod write;

pub use batch::{Batches, Work};
pub use bookshelf_migrate::connection::{connect, mask, Backend, DatabaseUrl, DbBackend, DbConn};
pub use database::Database;
pub use error::DbError;
pub use pool::{Manager, Pool};
pub use startup::{open_connection, StartupError};
pub use threads::WriteTrouble;
pub use write::{write, write_one};
