//! The application's database layer: the r2d2 pool, the threads that run
//! Diesel off Rocket's async workers, and what their jobs fail with. The
//! connections themselves (either backend, named by `DATABASE_URL`) are the
//! engine's: see `bookshelf_migrate::connection`.

mod batch;
mod checkpoints;
mod database;
mod error;
mod in_flight;
pub mod metrics;
mod pool;
mod queue;
mod readers;
mod standbys;
mod startup;
mod write;
mod writer;

pub use batch::{Batches, Work};
pub use bookshelf_migrate::connection::{connect, mask, Backend, DatabaseUrl, DbBackend, DbConn};
pub use database::{standby_urls, Database};
pub use error::DbError;
pub use in_flight::{CountRequests, InFlight};
pub use pool::{Manager, Pool};
pub use standbys::{
    probe_once, wal_position, wal_positions, Health, Lsn, ReadAfter, Standby, Standbys, LSN_PATTERN,
};
pub use startup::{open_connection, StartupError};
pub use write::{write, write_one};
pub use writer::WriteTrouble;
