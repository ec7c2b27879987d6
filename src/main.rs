//! The `bookshelf` command: parse the command line and hand over to the library.

use std::process::ExitCode;

use bookshelf::config::{MigrateMode, Settings};
use bookshelf::db::{self, StartupError};
use bookshelf::migrate::{self, diff, generate, Direction, DownTo, UpTo};
use clap::{Args, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: a request allocates and frees many
/// small blocks on several threads, and glibc's arenas spent about 14% of the
/// server's CPU on a GET by id (perf; bench/results.md has the A/B).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
struct ServeArgs {
    /// What to do about pending migrations at start-up [default: the `migrate` setting, auto]
    #[arg(long, value_enum)]
    migrate: Option<MigrateMode>,
}

/// VERSION may be a migration's full name, its version (2026-11-23-000001 or
/// 20261123000001), a unique prefix of either, or the name after the version
/// (create_books).
#[derive(Debug, Subcommand)]
enum MigrateCommand {
    /// Show the current version and every migration, applied (with when) or pending.
    Status,
    /// Every migration compiled into this binary, marked applied or pending.
    History,
    /// Apply pending migrations: all of them, or up to a version.
    ///
    /// Stops before a contract migration (its metadata.toml says `contract = true`: it removes
    /// what the previous binary may still use). `--contract` applies those too, once no replica
    /// of an older binary is alive (each `bookshelf serve` records its heartbeat in the database).
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
        #[arg(value_enum, default_value_t = Direction::Up)]
        direction: Direction,
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
        /// A rename, never guessed: TABLE.OLD=NEW for a column, OLD=NEW for a table.
        #[arg(long, value_name = "OLD=NEW")]
        rename: Vec<String>,
        /// The value the NULLs of a column made NOT NULL get: TABLE.COLUMN=VALUE, VALUE an SQL
        /// literal such as '' or 0.
        #[arg(long, value_name = "TABLE.COLUMN=VALUE")]
        default: Vec<String>,
        /// Allow changes that lose data: dropping a table or column, narrowing a type.
        #[arg(long)]
        allow_data_loss: bool,
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

#[rocket::main]
async fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args).await,
        Command::Backup { path } => {
            let done = settings().and_then(|settings| bookshelf::backup::backup(&settings, &path));
            match done {
                Ok(backup) => {
                    println!(
                        "backup written to {} ({} bytes, integrity_check ok)",
                        path.display(),
                        backup.bytes
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate(command) => match run_migrate(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let mut figment = bookshelf::config::figment();
    if let Some(mode) = args.migrate {
        figment = figment.merge(("migrate", mode));
    }
    // The JSON log must be in place before Rocket installs its own logger;
    // a bad configuration is reported by Rocket, in its own format.
    if let (Ok(settings), Ok(config)) = (
        figment.extract::<Settings>(),
        figment.extract::<rocket::Config>(),
    ) {
        if settings.log_format == bookshelf::config::LogFormat::Json {
            if let Err(e) = bookshelf::logging::init_json(config.log_level.into()) {
                eprintln!("error: cannot set up the JSON log: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match bookshelf::rocket(figment).launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            // Marks the error handled; Rocket would panic on dropping it otherwise.
            e.pretty_print();
            ExitCode::FAILURE
        }
    }
}

fn settings() -> Result<Settings, StartupError> {
    bookshelf::config::figment()
        .extract()
        .map_err(|e| StartupError::Target(format!("invalid configuration: {e}")))
}

fn run_migrate(command: MigrateCommand) -> Result<(), StartupError> {
    if let MigrateCommand::Diff {
        name,
        check,
        rename,
        default,
        allow_data_loss,
        postgres,
        dir,
        schema,
        constraints,
    } = command
    {
        let mut options = diff::Options {
            allow_data_loss,
            ..diff::Options::default()
        };
        for hint in &rename {
            options.rename(hint).map_err(StartupError::Target)?;
        }
        for value in &default {
            options.default_value(value).map_err(StartupError::Target)?;
        }
        let request = generate::Request {
            dir,
            schema,
            constraints,
            name: name.unwrap_or_default(),
            options,
            postgres,
            backends: vec![db::Backend::Sqlite, db::Backend::Postgres],
        };
        return run_diff(&request, check);
    }
    if let MigrateCommand::Lint { versions, dir } = &command {
        let report = migrate::lint::lint_dir(dir, versions)?;
        for finding in &report.findings {
            println!("{finding}");
        }
        let summary = migrate::lint::summary(&report);
        if !report.findings.is_empty() {
            return Err(StartupError::Target(format!("lint: {summary}")));
        }
        println!("lint: {summary}");
        return Ok(());
    }
    let settings = settings()?;
    let say = |verb: &str, names: Vec<String>| {
        if names.is_empty() {
            println!("nothing to {verb}");
        }
        for name in names {
            println!("{verb} {name}");
        }
    };
    match command {
        // Without a database: the URL only chooses the SQL dialect.
        MigrateCommand::Sql { direction, to } => {
            let url = db::DatabaseUrl::parse(&settings.database_url, settings.timeout())?;
            let to = to
                .as_deref()
                .map(|v| migrate::resolve(url.backend(), v))
                .transpose()?;
            print!("{}", migrate::sql(url.backend(), direction, to));
        }
        MigrateCommand::Diff { .. } | MigrateCommand::Lint { .. } => {
            unreachable!("handled above")
        }
        MigrateCommand::New { name, dir } => {
            let created = migrate::new(&dir, &name, chrono::Utc::now().naive_utc())?;
            for folder in &created {
                println!("created {}/{{up.sql,down.sql}}", folder.display());
            }
            warn_lint(&created)?;
        }
        command @ (MigrateCommand::Status | MigrateCommand::History) => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let history = migrate::history(&mut conn, &url)?;
            let current = history.iter().rev().find(|m| m.applied_at.is_some());
            let pending = history.iter().filter(|m| m.applied_at.is_none()).count();
            let marker = |m: &migrate::MigrationState| if m.contract { " (contract)" } else { "" };
            println!("database: {url} ({})", url.backend().name());
            println!(
                "current:  {}",
                current.map_or("none (empty database)", |m| m.name)
            );
            println!("applied:  {}, pending: {pending}", history.len() - pending);
            for m in &history {
                match m.applied_at {
                    Some(at) => println!(
                        "  [applied {}] {}{}",
                        at.format("%Y-%m-%d %H:%M:%S"),
                        m.name,
                        marker(m)
                    ),
                    None => println!("  [pending]                     {}{}", m.name, marker(m)),
                }
            }
            for index in migrate::invalid_indexes(&mut conn)? {
                println!("WARNING: {index}");
            }
            if matches!(command, MigrateCommand::History) {
                return Ok(());
            }
            let replicas =
                migrate::replicas::list(&mut conn).map_err(|e| StartupError::MigrationState {
                    url: url.to_string(),
                    source: Box::new(e),
                })?;
            println!("replicas: {}", replicas.len());
            let now = bookshelf::models::now();
            for r in &replicas {
                let seen = (now - r.heartbeat_at).num_seconds();
                println!(
                    "  [{}] {} (pid {} on {}), knows up to {}, seen {seen} s ago",
                    if r.is_alive(now) { "alive" } else { "stale" },
                    r.id,
                    r.pid,
                    r.host,
                    r.newest_migration
                );
            }
        }
        MigrateCommand::Up {
            to,
            steps,
            contract,
        } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let to = match (to, steps) {
                (Some(v), _) => UpTo::Version(migrate::resolve(url.backend(), &v)?),
                (None, Some(n)) => UpTo::Steps(n),
                (None, None) => UpTo::Latest,
            };
            let applied = if contract {
                migrate::up_contract(&mut conn, &url, to)?
            } else {
                migrate::up(&mut conn, &url, to)?
            };
            say("applied", applied);
            let waiting: Vec<&str> = migrate::history(&mut conn, &url)?
                .into_iter()
                .filter(|m| m.applied_at.is_none() && m.contract)
                .map(|m| m.name)
                .collect();
            if !waiting.is_empty() {
                println!(
                    "waiting: contract migration(s) {}; run `bookshelf migrate up --contract` once every replica runs this binary",
                    waiting.join(", ")
                );
            }
        }
        MigrateCommand::Down { steps, to, all } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let to = match (to, all) {
                (_, true) => DownTo::All,
                (Some(v), false) => DownTo::Version(migrate::resolve(url.backend(), &v)?),
                (None, false) => DownTo::Steps(steps.unwrap_or(1)),
            };
            say("reverted", migrate::down(&mut conn, &url, to)?);
        }
        MigrateCommand::Verify => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let verification = migrate::verify(&mut conn, &url)?;
            for name in &verification.unrecorded {
                println!("note: {name} has no recorded checksum (applied outside bookshelf)");
            }
            for problem in &verification.problems {
                println!("FAIL: {problem}");
            }
            let drift = migrate::schema_drift(&mut conn, &url)?;
            for difference in drift.iter().flatten() {
                println!("FAIL: schema drift: {difference}");
            }
            if drift.is_none() {
                println!("note: migrations are pending, so the schema was not compared with src/schema.rs");
            }
            let invalid = migrate::invalid_indexes(&mut conn)?;
            for index in &invalid {
                println!("FAIL: {index}");
            }
            let failures =
                verification.problems.len() + drift.as_ref().map_or(0, Vec::len) + invalid.len();
            if failures > 0 {
                return Err(StartupError::Target(format!("{failures} problem(s) found")));
            }
            println!("ok: every applied migration matches this binary");
            if drift.is_some() {
                println!("ok: the database matches src/schema.rs and src/constraints.rs (tables, columns, indexes, CHECKs, defaults, foreign keys)");
            }
        }
        MigrateCommand::Accept { version } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let name = migrate::resolve(url.backend(), &version)?;
            migrate::accept(&mut conn, &url, name)?;
            println!("accepted {name}: its checksum is now the compiled one");
        }
        MigrateCommand::Redo { steps } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            say(
                "reverted",
                migrate::down(&mut conn, &url, DownTo::Steps(steps))?,
            );
            say("applied", migrate::up(&mut conn, &url, UpTo::Steps(steps))?);
        }
    }
    Ok(())
}

/// `bookshelf migrate diff`: one line per change, then the folders written.
fn run_diff(request: &generate::Request, check: bool) -> Result<(), StartupError> {
    let schema = if request.constraints.exists() {
        format!(
            "the model ({}, {})",
            request.schema.display(),
            request.constraints.display()
        )
    } else {
        format!("the model ({})", request.schema.display())
    };
    if check {
        let changes = generate::check(request)?;
        if changes.is_empty() {
            println!("ok: {schema} matches the migrations (sqlite and postgres)");
            return Ok(());
        }
        for change in &changes {
            println!("{change}");
        }
        return Err(StartupError::Target(format!(
            "{schema} and the migrations disagree ({} change(s) above); \
             write them with `bookshelf migrate diff NAME`",
            changes.len()
        )));
    }
    let outcome = generate::diff(request, chrono::Utc::now().naive_utc())?;
    if outcome.changes.is_empty() {
        println!(
            "no changes: {schema} matches the migrations (sqlite and postgres); nothing written"
        );
        return Ok(());
    }
    for change in &outcome.changes {
        println!("{change}");
    }
    for folder in &outcome.created {
        println!("created {}/{{up.sql,down.sql}}", folder.display());
    }
    for note in &outcome.notes {
        println!("note: {note}");
    }
    warn_lint(&outcome.created)
}

/// Lints migrations just written and prints what it finds; the files stay
/// written either way (`migrate lint`, in CI, is the gate).
fn warn_lint(folders: &[std::path::PathBuf]) -> Result<(), StartupError> {
    let report = migrate::lint::lint_folders(folders)?;
    for finding in &report.findings {
        println!("warning: {finding}");
    }
    if !report.findings.is_empty() {
        println!(
            "lint: {}; change the SQL or add `-- lint: allow RULE: REASON` before the statement",
            migrate::lint::summary(&report)
        );
    }
    Ok(())
}
