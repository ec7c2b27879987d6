//! The command line: its subcommands and their options, as clap reads them.

use clap::{Args, Parser, Subcommand};

use crate::config::MigrateMode;

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
  ROCKET_MIGRATE             auto, check or off (default auto)

Examples:
  bookshelf                                   serve on ./bookshelf.db
  DATABASE_URL=postgres://postgres@localhost/bookshelf bookshelf serve
  bookshelf migrate status"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default), applying pending migrations first.
    Serve(ServeArgs),
    /// Inspect and move the database's schema version.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Copy the SQLite database to PATH while the service runs (online, consistent).
    ///
    /// The copy holds every write committed before the backup started, and is checked with
    /// PRAGMA integrity_check. To restore: stop the service, copy the backup over the database
    /// file, delete its -wal and -shm files, start the service. For PostgreSQL use pg_dump.
    #[command(after_help = "Example:\n  bookshelf backup backups/bookshelf-$(date +%F).db")]
    Backup {
        /// Where to write the copy; the file must not exist.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// What to do about pending migrations at start-up [default: the `migrate` setting, auto]
    #[arg(long, value_enum)]
    pub migrate: Option<MigrateMode>,
}

/// VERSION may be a migration's full name, its version (2026-11-23-000001 or
/// 20261123000001), a unique prefix of either, or the name after the version
/// (create_books).
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Show the current version and every migration, applied (with when) or pending.
    Status,
    /// Every migration compiled into this binary, marked applied or pending.
    History,
    /// Apply pending migrations: all of them, or up to a version.
    ///
    /// Stops before a contract migration (its metadata.toml says `contract = true`: it removes
    /// what the previous binary may still use). `--contract` applies those too, once no replica
    /// of an older binary is alive (each `bookshelf serve` records its heartbeat in the database).
    /// A pending migration older than the newest applied one (a branch merged late) is refused
    /// unless `--out-of-order` is given.
    #[command(
        after_help = "Examples:\n  bookshelf migrate up\n  bookshelf migrate up --steps 1\n  bookshelf migrate up --to create_reviews\n  bookshelf migrate up --contract        after every replica runs this binary"
    )]
    Up {
        /// Apply contract migrations too; refused while a replica of an older binary is alive.
        #[arg(long)]
        contract: bool,
        /// Apply up to and including this migration.
        #[arg(long, value_name = "VERSION", conflicts_with = "steps")]
        to: Option<String>,
        /// Apply the next N pending migrations.
        #[arg(long, value_name = "N")]
        steps: Option<usize>,
        /// Apply pending migrations older than the newest applied one (merged late from another
        /// branch), which `up` refuses otherwise.
        #[arg(long)]
        out_of_order: bool,
    },
    /// Revert applied migrations: the last one, N, down to a version, or all.
    #[command(
        after_help = "Examples:\n  bookshelf migrate down\n  bookshelf migrate down --steps 2\n  bookshelf migrate down --to create_books\n  bookshelf migrate down --all"
    )]
    Down {
        /// Revert the last N applied migrations [default: 1].
        #[arg(long, value_name = "N", conflicts_with_all = ["to", "all"])]
        steps: Option<usize>,
        /// Revert back to this migration, which stays applied.
        #[arg(long, value_name = "VERSION", conflicts_with = "all")]
        to: Option<String>,
        /// Revert every applied migration.
        #[arg(long)]
        all: bool,
    },
    /// Revert the last N applied migrations and apply them again.
    Redo {
        /// How many [default: 1].
        #[arg(long, value_name = "N", default_value_t = 1)]
        steps: usize,
    },
    /// Print the SQL that `up` (from empty) or `down` (from latest) would run, without a database.
    #[command(
        after_help = "Examples:\n  bookshelf migrate sql up > schema.sql\n  bookshelf migrate sql down --to create_books"
    )]
    Sql {
        #[arg(value_enum, default_value_t = SqlDirection::Up)]
        direction: SqlDirection,
        /// Stop at this migration (up: include it; down: keep it).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
    },
    /// Check that every applied migration is the one compiled into this binary (exit 1 if not).
    Verify,
    /// Accept that an applied migration's up.sql changed: record its new checksum.
    Accept {
        /// The changed migration.
        version: String,
    },
    /// Record migrations as applied without running them (Alembic's `stamp`, Flyway's `baseline`).
    ///
    /// For a database that already has the schema of VERSION, built by other means: every
    /// migration up to VERSION is recorded (with its checksum) once the live schema equals the
    /// schema those migrations build, replayed on a scratch database (SQLite in memory,
    /// PostgreSQL in a throwaway database on the same server). It refuses when they differ and
    /// lists each difference. `migrate down` never reverts a stamped migration.
    #[command(after_help = "\
Examples:
  bookshelf migrate stamp create_reviews
  bookshelf migrate stamp 2026-11-23-000003 --force    record over a schema that differs

A database whose schema is no bookshelf version's is taken with `bookshelf migrate adopt`.")]
    Stamp {
        /// The newest migration the database already has.
        version: String,
        /// Record even though the schema differs; the records are marked forced.
        #[arg(long)]
        force: bool,
    },
    /// Bring a database bookshelf did not create to the newest version, keeping its rows.
    ///
    /// For a database made by another tool (SQLAlchemy's create_all, Alembic): its tables are
    /// compared with the newest version's (replayed on a scratch database) by the same diff
    /// engine as `migrate diff`, with the same hints and refusals. The bridging SQL runs in one
    /// transaction (on SQLite a table rebuild keeps the rows), is checked to leave no
    /// difference, and every migration is then stamped (see `migrate stamp`). An
    /// `alembic_version` table is reported and left alone. Stop the old application first.
    #[command(after_help = "\
Examples:
  bookshelf migrate adopt --sql                        show the SQL, change nothing
  bookshelf migrate adopt --rename reviews.timestamp=created_at --default books.rating=3")]
    Adopt {
        #[command(flatten)]
        hints: Hints,
        /// Print the bridging SQL and change nothing (it runs and is rolled back).
        #[arg(long)]
        sql: bool,
    },
    /// Write the migration that takes both backends from their migrations to the model.
    ///
    /// Alembic's `revision --autogenerate`: edit src/schema.rs (tables, columns) and
    /// src/constraints.rs (CHECKs, lengths, defaults, indexes, ON DELETE), then run this. Each
    /// backend's migrations are replayed on a scratch database (SQLite in memory, PostgreSQL in
    /// a throwaway database), compared with the model, and a migration is written to
    /// migrations/sqlite and migrations/postgres under one version, up.sql and down.sql, after
    /// trying it there (up, down, up). An index on a table that exists gets a migration of its
    /// own (CONCURRENTLY, outside a transaction, on PostgreSQL). Renames are never guessed, and
    /// data is never dropped without --allow-data-loss.
    #[command(after_help = "\
Examples:
  bookshelf migrate diff add_isbn_to_books
  bookshelf migrate diff rename_blurb --rename books.blurb=description
  bookshelf migrate diff require_isbn --default books.isbn=\"''\"
  bookshelf migrate diff --check            exit 1 if the model needs a migration

A new NOT NULL column takes its value for the rows already there from its declared default
(default(column, VALUE) in src/constraints.rs). A foreign key from joinable! deletes the
child rows with their parent (ON DELETE CASCADE) unless src/constraints.rs declares
on_delete(column, restrict|set_null|no_action).")]
    Diff {
        /// The new migration's name: lowercase letters, digits and _.
        #[arg(required_unless_present = "check")]
        name: Option<String>,
        /// Write nothing; exit 1 if src/schema.rs and the migrations disagree.
        #[arg(long, conflicts_with = "name")]
        check: bool,
        #[command(flatten)]
        hints: Hints,
        /// The PostgreSQL server to replay migrations/postgres on [default: TEST_DATABASE_URL, else a postgres:// DATABASE_URL].
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// The folder holding sqlite/ and postgres/.
        #[arg(long, default_value = "migrations")]
        dir: std::path::PathBuf,
        /// The model's tables and columns.
        #[arg(long, default_value = "src/schema.rs")]
        schema: std::path::PathBuf,
        /// The model's constraints, indexes and defaults (none, if the file does not exist).
        #[arg(long, default_value = "src/constraints.rs")]
        constraints: std::path::PathBuf,
    },
    /// Check migrations for locks and data loss that would hurt a live fleet (exit 1 on any finding).
    ///
    /// Reads the up.sql of every migration under DIR from disk, without a database or a build:
    /// postgres/ with squawk's default rules (index builds without CONCURRENTLY, NOT NULL
    /// columns without a default, constraints without NOT VALID, type changes, drops and
    /// renames, no lock_timeout, ...), sqlite/ with bookshelf's (table rebuilds, PRAGMA
    /// foreign_keys inside a transaction, dropping an indexed or constrained column, drops and
    /// renames, statements SQLite refuses). Each finding names its file:line and rule, why it is
    /// dangerous and what to do instead. To accept one, put a comment naming the rule and the
    /// reason on the line before its statement:
    ///   -- lint: allow RULE: REASON
    #[command(after_help = "\
Examples:
  bookshelf migrate lint
  bookshelf migrate lint 2026-11-23-000002 create_reviews
  bookshelf migrate lint --dir ../other/migrations")]
    Lint {
        /// Only these migrations: a folder name, its version, a prefix, or the name after the version.
        #[arg(value_name = "VERSION")]
        versions: Vec<String>,
        /// The folder holding sqlite/ and postgres/.
        #[arg(long, default_value = "migrations")]
        dir: std::path::PathBuf,
    },
    /// Create <version>_<name>/{up.sql,down.sql} in every backend's folder, one version for all.
    New {
        /// Lowercase letters, digits and _, e.g. add_isbn_to_books.
        name: String,
        /// The folder holding sqlite/ and postgres/.
        #[arg(long, default_value = "migrations")]
        dir: std::path::PathBuf,
    },
}

/// What `migrate diff` and `migrate adopt` are told: renames, values for
/// NULLs, and whether data may be lost.
#[derive(Debug, Args)]
pub struct Hints {
    /// A rename, never guessed: TABLE.OLD=NEW for a column, OLD=NEW for a table.
    #[arg(long, value_name = "OLD=NEW")]
    pub rename: Vec<String>,
    /// The value the NULLs of a column made NOT NULL get: TABLE.COLUMN=VALUE, VALUE an SQL
    /// literal such as '' or 0.
    #[arg(long, value_name = "TABLE.COLUMN=VALUE")]
    pub default: Vec<String>,
    /// Allow changes that lose data: dropping a table or column, narrowing a type.
    #[arg(long)]
    pub allow_data_loss: bool,
}

/// Which way `migrate sql` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlDirection {
    // No doc comments: clap would list them in --help.
    Up,
    Down,
}

impl From<SqlDirection> for bookshelf_migrate::Direction {
    fn from(direction: SqlDirection) -> Self {
        match direction {
            SqlDirection::Up => bookshelf_migrate::Direction::Up,
            SqlDirection::Down => bookshelf_migrate::Direction::Down,
        }
    }
}
