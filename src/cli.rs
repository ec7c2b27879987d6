//! The `bookshelf` command line: what it accepts (clap) and the `migrate`
//! subcommands that run on it. src/main.rs parses and dispatches.

mod args;
mod migrate;

pub use args::{Cli, Command, MigrateCommand, ServeArgs, SqlDirection};
pub use migrate::{run as run_migrate, settings};
