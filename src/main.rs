//! The `bookshelf` command: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A books and reviews JSON API, on SQLite (the default) or PostgreSQL.
#[derive(Debug, Parser)]
#[command(
    name = "bookshelf",
    version,
    about,
    after_help = "\
Configuration (environment, .env, or Rocket.toml; see README.md):
  DATABASE_URL               SQLite file or sqlite://PATH (default: bookshelf.db),
                             or postgres://USER:PASSWORD@HOST/DB
  ROCKET_ADDRESS, ROCKET_PORT  where to listen (default 127.0.0.1:8000)
  ROCKET_DATABASE_POOL_SIZE  pooled connections (default 8)
  ROCKET_DATABASE_TIMEOUT    seconds to wait for the database (default 3)
  ROCKET_MIGRATE             apply pending migrations at start-up (default true)

Examples:
  bookshelf                                   serve on ./bookshelf.db
  DATABASE_URL=postgres://postgres@localhost/bookshelf bookshelf serve"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve,
}

#[rocket::main]
async fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
    }
}

async fn serve() -> ExitCode {
    match bookshelf::rocket(bookshelf::config::figment())
        .launch()
        .await
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            // Marks the error handled; Rocket would panic on dropping it otherwise.
            e.pretty_print();
            ExitCode::FAILURE
        }
    }
}
