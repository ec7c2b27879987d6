//! Schema evolution for a Diesel project on SQLite and PostgreSQL.
//!
//! The model is the project's `src/schema.rs` (diesel's `table!`) and a
//! `src/constraints.rs` for what `table!` cannot say (CHECKs, lengths,
//! defaults, indexes, ON DELETE). From them and the project's migration
//! folders (`migrations/<backend>/<version>_<name>/`) the engine:
//! - writes the migration that takes both backends to the model
//!   ([`generate`], over [`model`], [`catalog`], [`diff`] and [`sql`]);
//! - lints migrations for locks and data loss on a live fleet ([`lint`]),
//!   and for migrations merged out of order ([`arrivals`]);
//! - moves a database between versions under one lock, with checksums,
//!   migrations outside a transaction and a contract gate ([`harness`],
//!   [`records`], [`history`], [`startup`]);
//! - checks a live database against the migrations and the model ([`verify`]);
//! - keeps the registry of serving processes that the contract gate reads
//!   ([`replicas`]).
//!
//! Everything it reads comes in as arguments: the schema text, the
//! migration folders (or the project's compiled [`Scripts`]), a connection.

pub mod arrivals;
pub mod catalog;
pub mod conditions;
pub mod connection;
pub mod constraints;
pub mod diff;
pub mod error;
pub mod folders;
pub mod foreign;
pub mod generate;
pub mod harness;
pub mod history;
pub mod idents;
pub mod lint;
pub mod model;
pub mod pooler;
pub mod records;
pub mod replicas;
pub(crate) mod scratch;
pub mod scripts;
pub mod sql;
pub mod sql_tokens;
pub mod sqlite_ddl;
pub mod startup;
pub mod unmanaged;
pub mod verify;

pub use connection::{now, open, Backend, DatabaseUrl, DbBackend, DbConn};
pub use constraints::parse_model;
pub use error::Error;
pub use error::Unmanaged;
pub use folders::{folder_name, new, version_time};
pub use foreign::{adopt, stamp, Adoption, Stamped};
pub use harness::{down, up, up_contract, up_with_options, DownTo, UpOptions, UpTo};
pub use history::{history, pending_names, resolve, MigrationState};
pub use records::checksum;
pub use records::Stamp;
pub use scripts::{is_contract, sql, version_of, Compiled, Direction, MigrationSql, Scripts};
pub use startup::{at_startup, Pending};
pub use unmanaged::unmanaged;
pub use verify::{
    accept, invalid_indexes, schema_drift, summary, verify, InvalidIndex, Problem, Summary,
    Verification,
};
