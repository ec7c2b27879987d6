//! Migrations as a command: what is applied, what is pending, moving to a
//! version, and the SQL that would run. Start-up and `bookshelf migrate` use
//! the same functions, and every change runs under one lock, so several
//! processes never migrate one database at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use log::{info, warn};

use crate::config::{MigrateMode, Settings};
use crate::db::{open_connection, write, Backend, DatabaseUrl, DbBackend, DbConn, StartupError};

pub mod catalog;
pub mod constraints;
pub mod diff;
pub mod generate;
pub mod lint;
pub mod model;
pub mod replicas;
pub mod sql;

/// A migration's SQL as compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSql {
    /// The folder name: `<version>_<name>`.
    pub name: &'static str,
    pub up: &'static str,
    pub down: &'static str,
    /// Its metadata.toml, if it has one.
    pub metadata: Option<&'static str>,
}

impl MigrationSql {
    /// Whether its metadata.toml marks it `contract` (see [`is_contract`]).
    pub fn is_contract(&self) -> bool {
        self.metadata.is_some_and(is_contract)
    }
}

/// Whether a metadata.toml says `contract = true`: the migration removes
/// what the previous binary still uses (a column, a table, a constraint it
/// relies on). `serve --migrate=auto` and `migrate up` stop before it;
/// `migrate up --contract` applies it once no replica of an older binary is
/// alive. Diesel reads the same file and ignores the key.
pub fn is_contract(metadata_toml: &str) -> bool {
    metadata_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("contract").and_then(toml::Value::as_bool))
        .unwrap_or(false)
}

mod compiled {
    use super::MigrationSql;
    include!(concat!(env!("OUT_DIR"), "/migration_sql.rs"));
}

/// The text of src/schema.rs this binary was built with: what `verify`
/// compares the live schema with.
pub const SCHEMA_RS: &str = include_str!("../schema.rs");

/// The text of src/constraints.rs this binary was built with, read with
/// [`SCHEMA_RS`].
pub const CONSTRAINTS_RS: &str = include_str!("../constraints.rs");

/// The model this binary was built with: src/schema.rs and src/constraints.rs.
pub fn built_model() -> Result<model::Schema, StartupError> {
    model::parse_model(SCHEMA_RS, CONSTRAINTS_RS)
        .map_err(|e| StartupError::Target(format!("the model as built: {e}")))
}

impl Backend {
    /// Every migration of this backend, oldest first, with its SQL.
    pub fn migration_sql(self) -> &'static [MigrationSql] {
        match self {
            Backend::Sqlite => compiled::SQLITE,
            Backend::Postgres => compiled::POSTGRES,
        }
    }
}

/// The version diesel records for a migration folder name: the date part
/// without dashes (`2026-11-23-000001_create_books` → `20261123000001`).
pub fn version_of(name: &str) -> String {
    name.split('_').next().unwrap_or(name).replace('-', "")
}

// diesel CLI's own bookkeeping table, read here for the applied-at times.
diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
        run_on -> Timestamp,
    }
}

// bookshelf's own record of what it applied, beside diesel's table (which
// diesel CLI keeps using): the checksum of each migration's up.sql.
diesel::table! {
    bookshelf_migrations (version) {
        version -> Text,
        name -> Text,
        checksum -> Text,
        applied_at -> Timestamp,
    }
}

const CREATE_CHECKSUM_TABLE: &str = "CREATE TABLE IF NOT EXISTS bookshelf_migrations (\
    version TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, \
    applied_at TIMESTAMP NOT NULL)";

/// The SHA-256 of a script, in hex, with line endings normalised so that a
/// checkout with CRLF endings has the same checksum as one with LF. Lines
/// that are `migrate lint` allow comments (`-- lint: ...`) are left out: they
/// change nothing that runs, so accepting a lint finding in a migration that
/// is already applied does not make `verify` report it changed.
pub fn checksum(sql: &str) -> String {
    use sha2::{Digest, Sha256};
    let normalised = sql.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = normalised
        .split_inclusive('\n')
        .filter(|line| !lint::is_allow_comment(line))
        .collect();
    Sha256::digest(kept.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The compiled up.sql checksum of a migration, by name.
fn compiled_checksum(backend: Backend, name: &str) -> Option<String> {
    backend
        .migration_sql()
        .iter()
        .find(|m| m.name == name)
        .map(|m| checksum(m.up))
}

/// Records that bookshelf applied `name` with the up.sql compiled in now.
fn record(conn: &mut DbConn, backend: Backend, name: &str) -> QueryResult<()> {
    let version = version_of(name);
    diesel::delete(bookshelf_migrations::table.find(&version)).execute(conn)?;
    diesel::insert_into(bookshelf_migrations::table)
        .values((
            bookshelf_migrations::version.eq(&version),
            bookshelf_migrations::name.eq(name),
            bookshelf_migrations::checksum.eq(compiled_checksum(backend, name).unwrap_or_default()),
            bookshelf_migrations::applied_at.eq(crate::models::now()),
        ))
        .execute(conn)
        .map(drop)
}

/// What `verify` found wrong with an applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its up.sql changed since it was applied.
    Changed {
        name: String,
        expected: String,
        found: String,
    },
    /// The database has it applied, but this binary does not know it.
    Unknown { version: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed { name, expected, found } => write!(
                f,
                "{name} changed since it was applied: checksum expected {expected}, found {found} \
                 (restore the file, or run `bookshelf migrate accept {name}`)"
            ),
            Problem::Unknown { version } => write!(
                f,
                "version {version} is applied but unknown to this binary (a newer binary migrated this database?)"
            ),
        }
    }
}

/// An index a `CREATE INDEX CONCURRENTLY` left INVALID when it failed
/// (PostgreSQL): it slows every write and serves no read, and
/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS` would keep it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIndex {
    pub index: String,
    pub table: String,
}

impl std::fmt::Display for InvalidIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "index {} on {} is INVALID (left by a CREATE INDEX CONCURRENTLY that failed); \
             drop it with `DROP INDEX CONCURRENTLY {};`, then run `bookshelf migrate up` again",
            self.index, self.table, self.index
        )
    }
}

/// The INVALID indexes of the current schema (always none on SQLite).
pub fn invalid_indexes(conn: &mut DbConn) -> Result<Vec<InvalidIndex>, StartupError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        index: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
    }
    let DbConn::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT c.relname::text AS index, t.relname::text AS table \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND n.nspname = current_schema() ORDER BY 1",
    )
    .load(pg)
    .map_err(|source| StartupError::Catalog {
        source: Box::new(source),
    })?;
    Ok(rows
        .into_iter()
        .map(|r| InvalidIndex {
            index: r.index,
            table: r.table,
        })
        .collect())
}

/// What `verify` found: problems, and applied migrations with no recorded
/// checksum (applied by diesel CLI, say), which are reported but allowed.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub problems: Vec<Problem>,
    pub unrecorded: Vec<String>,
}

/// Compares every applied migration with the one compiled into this binary.
pub fn verify(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Verification, StartupError> {
    let backend = url.backend();
    let state_error = |source: diesel::result::Error| StartupError::MigrationState {
        url: url.to_string(),
        source: Box::new(source),
    };
    let applied: Vec<String> = unless_missing(
        __diesel_schema_migrations::table
            .select(__diesel_schema_migrations::version)
            .order(__diesel_schema_migrations::version.asc())
            .load(conn),
    )
    .map_err(state_error)?;
    let recorded: Vec<(String, String)> = unless_missing(
        bookshelf_migrations::table
            .select((
                bookshelf_migrations::version,
                bookshelf_migrations::checksum,
            ))
            .load(conn),
    )
    .map_err(state_error)?;
    let mut result = Verification::default();
    for version in applied {
        let Some(known) = backend
            .migration_sql()
            .iter()
            .find(|m| version_of(m.name) == version)
        else {
            result.problems.push(Problem::Unknown { version });
            continue;
        };
        match recorded.iter().find(|(v, _)| *v == version) {
            None => result.unrecorded.push(known.name.to_string()),
            Some((_, expected)) => {
                let found = checksum(known.up);
                if *expected != found {
                    result.problems.push(Problem::Changed {
                        name: known.name.to_string(),
                        expected: expected.clone(),
                        found,
                    });
                }
            }
        }
    }
    Ok(result)
}

/// Records the checksum of the up.sql compiled in now for an applied
/// migration, accepting that its file changed.
pub fn accept(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &'static str,
) -> Result<(), StartupError> {
    locked(conn, url, |conn| {
        let applied = history(conn, url)?
            .into_iter()
            .any(|m| m.name == name && m.applied_at.is_some());
        if !applied {
            return Err(StartupError::Target(format!(
                "{name} is not applied; nothing to accept"
            )));
        }
        record(conn, url.backend(), name).map_err(bookkeeping)?;
        Ok(())
    })
}

/// What start-up does about migrations, as `settings.migrate` says: with
/// `auto` or `check`, refuse applied migrations that changed; then `auto`
/// applies the pending ones and `check` refuses to start while any is
/// pending. Runs on a connection of its own, before the pool opens.
pub fn at_startup(settings: &Settings) -> Result<(), StartupError> {
    let (mut conn, url) = open_connection(settings)?;
    if settings.migrate != MigrateMode::Off {
        let verification = verify(&mut conn, &url)?;
        if !verification.problems.is_empty() {
            let problems: Vec<String> = verification
                .problems
                .iter()
                .map(|p| p.to_string())
                .collect();
            return Err(StartupError::Target(format!(
                "refusing to start: {}",
                problems.join("; ")
            )));
        }
        for name in verification.unrecorded {
            warn!("migration {name} has no recorded checksum (applied outside bookshelf)");
        }
    }
    match settings.migrate {
        MigrateMode::Auto => {
            let applied = up(&mut conn, &url, UpTo::Latest)?;
            if applied.is_empty() {
                info!("database {url} is up to date");
            }
        }
        MigrateMode::Check => {
            let pending = pending_names(&mut conn, &url)?;
            if !pending.is_empty() {
                return Err(StartupError::Pending { names: pending });
            }
        }
        MigrateMode::Off => {}
    }
    Ok(())
}

/// The PostgreSQL advisory lock that makes migrators take turns (an
/// arbitrary constant: "bookshel" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x626f_6f6b_7368_656c;

/// Runs `f` holding the migration lock (PostgreSQL: an advisory lock,
/// taken before the transaction and released after it, see
/// [`lock_migrations`]; SQLite: the write lock of `BEGIN IMMEDIATE`). Everything
/// `f` reads, it reads after the lock is taken; what it does is committed when
/// it returns `Ok`, so `f` reports a failure after partial progress inside `Ok`.
fn locked<T>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    f: impl FnOnce(&mut DbConn) -> Result<T, StartupError>,
) -> Result<T, StartupError> {
    if let DbConn::Postgres(pg) = conn {
        lock_migrations(pg).map_err(|source| StartupError::MigrationLock { source })?;
    }
    let result = write(conn, |conn| {
        // Both bookkeeping tables, created under the lock (diesel creates its own).
        conn.applied_migrations()
            .map_err(|source| StartupError::MigrationState {
                url: url.to_string(),
                source,
            })?;
        conn.batch_execute(CREATE_CHECKSUM_TABLE)
            .map_err(bookkeeping)?;
        f(conn).map_err(UnderLock)
    });
    if let DbConn::Postgres(pg) = conn {
        let unlocked = unlock_migrations(pg);
        if result.is_ok() {
            unlocked.map_err(|source| StartupError::MigrationLock { source })?;
        }
    }
    result.map_err(|UnderLock(error)| error)
}

/// Takes the (session-level) migration lock on PostgreSQL, trying every
/// 50 ms for as long as the connection's `lock_timeout` (0: no limit).
/// Waiting in `pg_advisory_lock` instead would hold a snapshot all the while,
/// and a `CREATE INDEX CONCURRENTLY` that the lock's holder runs waits for
/// every older snapshot to go: PostgreSQL would find the two waiting on each
/// other and cancel one as a deadlock.
fn lock_migrations(pg: &mut diesel::PgConnection) -> QueryResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Double};
    let limit: f64 = diesel::select(sql::<Double>(
        "EXTRACT(EPOCH FROM current_setting('lock_timeout')::interval)::float8",
    ))
    .get_result(pg)?;
    let deadline = (limit > 0.0).then(|| Instant::now() + Duration::from_secs_f64(limit));
    let try_lock = format!("pg_try_advisory_lock({MIGRATION_LOCK_KEY})");
    while !diesel::select(sql::<Bool>(&try_lock)).get_result::<bool>(pg)? {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new(format!(
                    "another migrator held it for the whole lock timeout ({limit} s)"
                )),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn unlock_migrations(pg: &mut diesel::PgConnection) -> QueryResult<()> {
    pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
}

/// An error of [`locked`]: from the lock's own transaction (SQLite's
/// `BEGIN IMMEDIATE` or the commit), or from the work done under it.
struct UnderLock(StartupError);

impl From<diesel::result::Error> for UnderLock {
    fn from(source: diesel::result::Error) -> UnderLock {
        UnderLock(StartupError::MigrationTransaction { source })
    }
}

impl From<StartupError> for UnderLock {
    fn from(error: StartupError) -> UnderLock {
        UnderLock(error)
    }
}

/// A failure to read or write bookshelf's own migration records.
fn bookkeeping(source: diesel::result::Error) -> StartupError {
    StartupError::Bookkeeping { source }
}

/// The rows of a bookkeeping table, or none when the table does not exist
/// yet (a database never migrated). Reading never creates it: status, verify
/// and `/ready` only read, and creating it outside the migration lock races
/// with other processes on PostgreSQL.
fn unless_missing<T>(rows: QueryResult<Vec<T>>) -> QueryResult<Vec<T>> {
    match rows {
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("no such table")
                || (info.message().contains("relation")
                    && info.message().contains("does not exist")) =>
        {
            Ok(Vec::new())
        }
        rows => rows,
    }
}

/// One migration known to the binary, and when it was applied, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: &'static str,
    pub version: String,
    pub applied_at: Option<NaiveDateTime>,
    /// A contract migration (see [`is_contract`]).
    pub contract: bool,
}

/// Every migration known to the binary, oldest first, with its state.
pub fn history(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Vec<MigrationState>, StartupError> {
    let state_error = |source| StartupError::MigrationState {
        url: url.to_string(),
        source,
    };
    let applied: Vec<(String, NaiveDateTime)> = unless_missing(
        __diesel_schema_migrations::table
            .select((
                __diesel_schema_migrations::version,
                __diesel_schema_migrations::run_on,
            ))
            .load(conn),
    )
    .map_err(|e| state_error(Box::new(e)))?;
    Ok(url
        .backend()
        .migration_sql()
        .iter()
        .map(|m| {
            let version = version_of(m.name);
            let applied_at = applied
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, at)| *at);
            MigrationState {
                name: m.name,
                version,
                applied_at,
                contract: m.is_contract(),
            }
        })
        .collect())
}

/// How many of the `planned` pending migrations `up` applies. Without
/// `contract`: those before the first contract migration (`up` to the
/// latest stops there; a target past it is refused). With `contract`: all
/// of them, unless a replica of a binary that does not know the last
/// contract migration among them is alive.
fn gate<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &S,
    planned: &[String],
    to: UpTo,
    contract: bool,
) -> Result<usize, StartupError> {
    let backend = url.backend();
    let is_contract = |name: &&String| source.is_contract(backend, name);
    let Some(first) = planned.iter().position(|n| is_contract(&n)) else {
        return Ok(planned.len());
    };
    if !contract {
        if to == UpTo::Latest {
            let waiting = planned.len() - first;
            info!(
                "{} is a contract migration: it and the {} after it wait for \
                 `bookshelf migrate up --contract`, once every replica runs this binary",
                planned[first],
                waiting - 1
            );
            return Ok(first);
        }
        return Err(StartupError::Target(format!(
            "{} is a contract migration (it removes what the previous binary may still use): \
             apply it with `bookshelf migrate up --contract` once every replica runs this binary",
            planned[first]
        )));
    }
    let last = planned.iter().rfind(is_contract).unwrap_or(&planned[first]);
    let older = replicas::alive_before(conn, last).map_err(|e| StartupError::MigrationState {
        url: url.to_string(),
        source: Box::new(e),
    })?;
    if older.is_empty() {
        return Ok(planned.len());
    }
    let list: Vec<String> = older
        .iter()
        .map(|r| {
            format!(
                "{} (pid {} on {}, knows up to {})",
                r.id, r.pid, r.host, r.newest_migration
            )
        })
        .collect();
    Err(StartupError::Target(format!(
        "refusing to apply contract migration {last}: {} replica(s) of an older binary are alive: {}; \
         upgrade them first (a replica not heard from for {} s is not counted)",
        older.len(),
        list.join(", "),
        replicas::STALE_AFTER.as_secs()
    )))
}

/// The names of the migrations not applied yet, oldest first.
/// Contract migrations are left out: they wait for `migrate up --contract`
/// while the binary serves (see [`is_contract`]).
pub fn pending_names(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Vec<String>, StartupError> {
    Ok(history(conn, url)?
        .into_iter()
        .filter(|m| m.applied_at.is_none() && !m.contract)
        .map(|m| m.name.to_string())
        .collect())
}

/// Finds the one migration a user means: its full name, its version (with or
/// without dashes), a unique prefix of either, or its name after the version.
pub fn resolve(backend: Backend, query: &str) -> Result<&'static str, StartupError> {
    let known = backend.migration_sql();
    let compact = query.replace('-', "");
    let matches: Vec<&'static str> = known
        .iter()
        .map(|m| m.name)
        .filter(|name| {
            let label = name.split_once('_').map_or("", |(_, label)| label);
            *name == query
                || label == query
                || (!query.is_empty() && name.starts_with(query))
                || (!compact.is_empty()
                    && compact.chars().all(|c| c.is_ascii_digit())
                    && version_of(name).starts_with(&compact))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(StartupError::Target(format!(
            "no migration matches {query:?}; known: {}",
            known.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
        ))),
        many => Err(StartupError::Target(format!(
            "{query:?} matches several migrations: {}; give more of the name",
            many.join(", ")
        ))),
    }
}

/// How far `up` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpTo {
    /// Every pending migration.
    Latest,
    /// The next N pending migrations.
    Steps(usize),
    /// Up to and including this migration (a name from [`resolve`]).
    Version(&'static str),
}

/// Applies pending migrations, as far as `to` says, logging one line per
/// migration applied, and returns their names. Each migration runs in a
/// savepoint of its own: when one fails it is undone, the ones before it are
/// kept, and the error names it. A migration whose metadata.toml says
/// `run_in_transaction = false` runs on its own, outside the transaction
/// (see [`alone`]).
pub fn up(conn: &mut DbConn, url: &DatabaseUrl, to: UpTo) -> Result<Vec<String>, StartupError> {
    up_with(conn, url, to, &url.backend().migrations(), false)
}

/// [`up`], contract migrations included, once no replica of an older binary
/// is alive (see [`is_contract`] and [`replicas`]).
pub fn up_contract(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    to: UpTo,
) -> Result<Vec<String>, StartupError> {
    up_with(conn, url, to, &url.backend().migrations(), true)
}

/// [`up`] with the migrations of `source` (the compiled-in ones, or in
/// tests files on disk).
pub fn up_from<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    to: UpTo,
    source: &S,
) -> Result<Vec<String>, StartupError> {
    up_with(conn, url, to, source, false)
}

/// [`up_contract`] with the migrations of `source`.
pub fn up_from_contract<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    to: UpTo,
    source: &S,
) -> Result<Vec<String>, StartupError> {
    up_with(conn, url, to, source, true)
}

fn up_with<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    to: UpTo,
    source: &S,
    contract: bool,
) -> Result<Vec<String>, StartupError> {
    in_batches(conn, url, Direction::Up, source, |conn, remaining| {
        let pending = conn
            .pending_migrations(Borrowed(source))
            .map_err(|source| StartupError::MigrationState {
                url: url.to_string(),
                source,
            })?;
        let planned = match (remaining, to) {
            (Some(n), _) => n.min(pending.len()),
            (None, UpTo::Latest) => pending.len(),
            (None, UpTo::Steps(n)) => n.min(pending.len()),
            (None, UpTo::Version(target)) => {
                match pending.iter().position(|m| m.name().to_string() == target) {
                    Some(i) => i + 1,
                    None => {
                        return Err(StartupError::Target(format!(
                            "{target} is already applied; `up` only moves forward (use `down --to`)"
                        )))
                    }
                }
            }
        };
        let planned = match remaining {
            Some(_) => planned,
            None => {
                let names: Vec<String> = pending.iter().map(|m| m.name().to_string()).collect();
                gate(conn, url, source, &names[..planned], to, contract)?
            }
        };
        let mut batch = Batch {
            planned,
            ..Batch::default()
        };
        for migration in pending.into_iter().take(planned) {
            let name = migration.name().to_string();
            if !migration.metadata().run_in_transaction() {
                batch.alone = Some(name);
                break;
            }
            if let Err(source) = conn.run_migration(&*migration) {
                batch.failure = Some(StartupError::Migration {
                    name,
                    url: url.to_string(),
                    source,
                });
                break;
            }
            record(conn, url.backend(), &name).map_err(bookkeeping)?;
            info!("applied migration {name}");
            batch.done.push(name);
        }
        Ok(batch)
    })
}

/// What one turn under the migration lock did.
#[derive(Default)]
struct Batch {
    /// How many migrations the whole command moves (its first turn decides).
    planned: usize,
    /// The migrations applied or reverted in this turn.
    done: Vec<String>,
    /// The one that failed, after which nothing more is done.
    failure: Option<StartupError>,
    /// The next one, which must run outside the lock's transaction.
    alone: Option<String>,
}

/// Runs `turn` under the migration lock (given how many are still to move,
/// `None` the first time) until the plan is done, a migration fails, or it
/// stops before one that must run on its own, which [`alone`] then runs.
fn in_batches<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    direction: Direction,
    source: &S,
    mut turn: impl FnMut(&mut DbConn, Option<usize>) -> Result<Batch, StartupError>,
) -> Result<Vec<String>, StartupError> {
    let mut done = Vec::new();
    let mut remaining = None;
    loop {
        let batch = locked(conn, url, |conn| turn(conn, remaining))?;
        let left = batch.planned - batch.done.len();
        done.extend(batch.done);
        if let Some(error) = batch.failure {
            return Err(error);
        }
        let Some(name) = batch.alone else {
            return Ok(done);
        };
        if alone(conn, url, &name, direction, source)? {
            let verb = match direction {
                Direction::Up => "applied",
                Direction::Down => "reverted",
            };
            info!("{verb} migration {name} (in its own transaction)");
            done.push(name);
        }
        if left <= 1 {
            return Ok(done);
        }
        remaining = Some(left - 1);
    }
}

/// Runs a migration whose metadata says `run_in_transaction = false`: its
/// script manages its own transaction (a SQLite table rebuild turns foreign
/// keys off first, which a transaction would make a no-op). On PostgreSQL the
/// session-level migration lock is held throughout; on SQLite the script's
/// own `BEGIN IMMEDIATE` is the lock, and a migrator that ran it first makes
/// this one a no-op. Returns whether it ran (false: another process had
/// already done it).
fn alone<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &str,
    direction: Direction,
    source: &S,
) -> Result<bool, StartupError> {
    let lock_error = |source| StartupError::MigrationLock { source };
    let state_error = |source| StartupError::MigrationState {
        url: url.to_string(),
        source,
    };
    if let DbConn::Postgres(pg) = conn {
        lock_migrations(pg).map_err(lock_error)?;
    }
    let result = (|| {
        let migrations = source.migrations().map_err(state_error)?;
        let migration = migrations
            .into_iter()
            .find(|m| m.name().to_string() == name)
            .ok_or_else(|| {
                StartupError::Target(format!("{name} is not compiled into this binary"))
            })?;
        let is_applied = conn
            .applied_migrations()
            .map_err(state_error)?
            .contains(&migration.name().version());
        let statements = match (&*conn, source.script(url.backend(), name, direction)) {
            (DbConn::Postgres(_), Some(sql)) => lint::postgres_statements(&sql)
                .into_iter()
                .map(|range| sql[range].to_string())
                .collect(),
            _ => Vec::new(),
        };
        let script = source.script(url.backend(), name, direction);
        if let (DbConn::Sqlite(_), Some(body)) =
            (&*conn, script.as_deref().and_then(sqlite_rebuild_body))
        {
            if !run_sqlite_rebuild(conn, url, name, direction, body)? {
                return Ok(false);
            }
            checksum_record(conn, url, name, direction)?;
            return Ok(true);
        }
        let ran = match direction {
            _ if statements.len() > 1 && (direction == Direction::Up) != is_applied => {
                run_each(conn, url, name, direction, &statements)
            }
            Direction::Up if !is_applied => {
                conn.run_migration(&*migration).map(drop).map_err(|source| {
                    StartupError::Migration {
                        name: name.to_string(),
                        url: url.to_string(),
                        source,
                    }
                })
            }
            Direction::Down if is_applied => {
                conn.revert_migration(&*migration)
                    .map(drop)
                    .map_err(|source| StartupError::Revert {
                        name: name.to_string(),
                        url: url.to_string(),
                        source,
                    })
            }
            _ => return Ok(false),
        };
        if let Err(error) = ran {
            // A script that failed inside its own BEGIN leaves it open.
            if let DbConn::Sqlite(sqlite) = conn {
                let _ = sqlite.batch_execute("ROLLBACK; PRAGMA foreign_keys = ON;");
            }
            return Err(error);
        }
        checksum_record(conn, url, name, direction)?;
        Ok(true)
    })();
    if let DbConn::Postgres(pg) = conn {
        unlock_migrations(pg).map_err(lock_error)?;
    }
    result
}

/// bookshelf's record of `name` (its checksum): added when it was applied,
/// removed when reverted.
fn checksum_record(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &str,
    direction: Direction,
) -> Result<(), StartupError> {
    write(conn, |conn| {
        conn.batch_execute(CREATE_CHECKSUM_TABLE)?;
        match direction {
            Direction::Up => record(conn, url.backend(), name),
            Direction::Down => diesel::delete(bookshelf_migrations::table.find(version_of(name)))
                .execute(conn)
                .map(drop),
        }
    })
    .map_err(bookkeeping)
}

/// A migration source whose scripts bookshelf can read as text. PostgreSQL
/// runs a string of several statements as one implicit transaction, where
/// `CREATE INDEX CONCURRENTLY` is refused (even after a `SET lock_timeout`
/// that `migrate lint` asks for), so a migration that runs outside a
/// transaction is run there one statement at a time.
pub trait Scripts: MigrationSource<DbBackend> {
    /// The text of `name`'s up.sql or down.sql, if this source has it.
    fn script(&self, backend: Backend, name: &str, direction: Direction) -> Option<String>;
    /// Whether `name` is a contract migration (its metadata.toml says so).
    fn is_contract(&self, backend: Backend, name: &str) -> bool;
}

impl Scripts for diesel_migrations::EmbeddedMigrations {
    fn script(&self, backend: Backend, name: &str, direction: Direction) -> Option<String> {
        let migration = backend.migration_sql().iter().find(|m| m.name == name)?;
        Some(match direction {
            Direction::Up => migration.up.to_string(),
            Direction::Down => migration.down.to_string(),
        })
    }

    fn is_contract(&self, backend: Backend, name: &str) -> bool {
        backend
            .migration_sql()
            .iter()
            .any(|m| m.name == name && m.is_contract())
    }
}

impl Scripts for diesel_migrations::FileBasedMigrations {
    fn script(&self, _: Backend, name: &str, direction: Direction) -> Option<String> {
        let file = match direction {
            Direction::Up => "up.sql",
            Direction::Down => "down.sql",
        };
        std::fs::read_to_string(self.path().join(name).join(file)).ok()
    }

    fn is_contract(&self, _: Backend, name: &str) -> bool {
        std::fs::read_to_string(self.path().join(name).join("metadata.toml"))
            .is_ok_and(|text| is_contract(&text))
    }
}

/// Runs a PostgreSQL migration that is outside a transaction one statement
/// at a time, then records it as diesel would. A statement that fails leaves
/// the ones before it done, as any migration outside a transaction does.
fn run_each(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &str,
    direction: Direction,
    statements: &[String],
) -> Result<(), StartupError> {
    let failed = |source: diesel::result::Error| {
        let (name, url, source) = (name.to_string(), url.to_string(), Box::new(source));
        match direction {
            Direction::Up => StartupError::Migration { name, url, source },
            Direction::Down => StartupError::Revert { name, url, source },
        }
    };
    // A script's own SET lasts for the session: put the connection's
    // timeouts back afterwards, whatever happens.
    let saved = timeouts(conn).map_err(failed)?;
    let ran = statements
        .iter()
        .try_for_each(|statement| conn.batch_execute(statement));
    if ran.is_err() {
        // A script's own BEGIN left open by the statement that failed (a
        // no-op, with a warning, when there is none).
        let _ = conn.batch_execute("ROLLBACK");
    }
    conn.batch_execute(&saved).map_err(failed)?;
    ran.map_err(failed)?;
    record_version(conn, name, direction).map_err(failed)
}

/// diesel's record of `name`: added when it was applied, removed when reverted.
fn record_version(conn: &mut DbConn, name: &str, direction: Direction) -> QueryResult<()> {
    let version = version_of(name);
    match direction {
        Direction::Up => diesel::insert_into(__diesel_schema_migrations::table)
            .values(__diesel_schema_migrations::version.eq(&version))
            .execute(conn),
        Direction::Down => {
            diesel::delete(__diesel_schema_migrations::table.find(&version)).execute(conn)
        }
    }
    .map(drop)
}

/// The statements between a SQLite rebuild script's own `BEGIN IMMEDIATE`
/// and its `COMMIT` (as `migrate diff` writes it: foreign keys off, begin,
/// the rebuild, commit, foreign keys on), or `None` for another script.
fn sqlite_rebuild_body(script: &str) -> Option<&str> {
    const BEGIN: &str = "PRAGMA foreign_keys = OFF;\nBEGIN IMMEDIATE;\n";
    const END: &str = "COMMIT;\nPRAGMA foreign_keys = ON;\n";
    let start = script.find(BEGIN)? + BEGIN.len();
    let body = script[start..].strip_suffix(END)?;
    let before = &script[..start - BEGIN.len()];
    let only_comments = before
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with("--"));
    (only_comments && !body.contains(BEGIN)).then_some(body)
}

/// Runs a SQLite rebuild migration ([`sqlite_rebuild_body`]) itself, with
/// diesel's record of it inside the script's own transaction: the first
/// migrator to take `BEGIN IMMEDIATE` runs it, and one that waited there
/// finds it done and does nothing. Returns whether it ran.
fn run_sqlite_rebuild(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &str,
    direction: Direction,
    body: &str,
) -> Result<bool, StartupError> {
    let failed = |source: diesel::result::Error| {
        let (name, url, source) = (name.to_string(), url.to_string(), Box::new(source));
        match direction {
            Direction::Up => StartupError::Migration { name, url, source },
            Direction::Down => StartupError::Revert { name, url, source },
        }
    };
    conn.batch_execute("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE;")
        .map_err(failed)?;
    let ran = (|| {
        let applied: Vec<String> = __diesel_schema_migrations::table
            .select(__diesel_schema_migrations::version)
            .load(conn)?;
        if applied.contains(&version_of(name)) == (direction == Direction::Up) {
            return Ok(false);
        }
        conn.batch_execute(body)?;
        record_version(conn, name, direction)?;
        Ok(true)
    })();
    let end = match ran {
        Ok(true) => "COMMIT; PRAGMA foreign_keys = ON;",
        _ => "ROLLBACK; PRAGMA foreign_keys = ON;",
    };
    let ended = conn.batch_execute(end);
    let ran = ran.map_err(failed)?;
    ended.map_err(failed)?;
    Ok(ran)
}

/// SQL that sets this PostgreSQL session's lock and statement timeouts back
/// to what they are now.
fn timeouts(conn: &mut DbConn) -> QueryResult<String> {
    let now: (String, String) = diesel::select((
        diesel::dsl::sql::<diesel::sql_types::Text>("current_setting('lock_timeout')"),
        diesel::dsl::sql::<diesel::sql_types::Text>("current_setting('statement_timeout')"),
    ))
    .get_result(conn)?;
    let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
    Ok(format!(
        "SET lock_timeout = {}; SET statement_timeout = {}",
        quote(&now.0),
        quote(&now.1)
    ))
}

/// A borrowed migration source, for diesel's harness, which takes sources by
/// value.
struct Borrowed<'a, S>(&'a S);

impl<S: MigrationSource<DbBackend>> MigrationSource<DbBackend> for Borrowed<'_, S> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DbBackend>>>> {
        self.0.migrations()
    }
}

/// Whether the migration `name` of `source` runs inside a transaction (its
/// metadata.toml does not say `run_in_transaction = false`).
fn in_transaction<S: MigrationSource<DbBackend>>(source: &S, name: &str) -> bool {
    source
        .migrations()
        .map(|all| {
            all.iter()
                .find(|m| m.name().to_string() == name)
                .is_none_or(|m| m.metadata().run_in_transaction())
        })
        .unwrap_or(true)
}

/// How far `down` goes.
#[derive(Debug, Clone, Copy)]
pub enum DownTo {
    /// The last N applied migrations.
    Steps(usize),
    /// Back to this migration, which stays applied.
    Version(&'static str),
    /// Every applied migration.
    All,
}

/// Reverts applied migrations, newest first, as far as `to` says, and
/// returns their names. Asking for more than is applied changes nothing. A
/// migration that runs outside a transaction is reverted on its own.
pub fn down(conn: &mut DbConn, url: &DatabaseUrl, to: DownTo) -> Result<Vec<String>, StartupError> {
    down_from(conn, url, to, &url.backend().migrations())
}

/// [`down`] with the migrations of `source`.
pub fn down_from<S>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    to: DownTo,
    source: &S,
) -> Result<Vec<String>, StartupError>
where
    S: Scripts,
{
    let state_error = |source| StartupError::MigrationState {
        url: url.to_string(),
        source,
    };
    in_batches(conn, url, Direction::Down, source, |conn, remaining| {
        // Reading the state creates diesel's table, as `history` would not.
        let done = conn.applied_migrations().map_err(state_error)?;
        let mut applied: Vec<String> = source
            .migrations()
            .map_err(state_error)?
            .iter()
            .filter(|m| done.contains(&m.name().version()))
            .map(|m| m.name().to_string())
            .collect();
        // Newest first (a source on disk lists them in directory order).
        applied.sort_by_key(|name| std::cmp::Reverse(version_of(name)));
        let planned = match (remaining, to) {
            (Some(n), _) => n.min(applied.len()),
            (None, DownTo::All) => applied.len(),
            (None, DownTo::Steps(n)) if n <= applied.len() => n,
            (None, DownTo::Steps(n)) => {
                return Err(StartupError::Target(format!(
                    "cannot revert {n} migrations: {} applied",
                    applied.len()
                )))
            }
            (None, DownTo::Version(target)) => {
                match applied.iter().position(|name| name == target) {
                    Some(i) => i,
                    None => {
                        return Err(StartupError::Target(format!(
                            "{target} is not applied; `down --to` names a migration to keep"
                        )))
                    }
                }
            }
        };
        let mut batch = Batch {
            planned,
            ..Batch::default()
        };
        for name in applied.into_iter().take(planned) {
            if !in_transaction(source, &name) {
                batch.alone = Some(name);
                break;
            }
            if let Err(error) = conn.revert_last_migration(Borrowed(source)) {
                batch.failure = Some(StartupError::Revert {
                    name,
                    url: url.to_string(),
                    source: error,
                });
                break;
            }
            diesel::delete(bookshelf_migrations::table.find(version_of(&name)))
                .execute(conn)
                .map_err(bookkeeping)?;
            info!("reverted migration {name}");
            batch.done.push(name);
        }
        Ok(batch)
    })
}

/// Which way `sql` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    Up,
    Down,
}

/// The SQL that moving between versions runs, without a database (Alembic's
/// `--sql`): `Up` from an empty database to `to` (default: the latest);
/// `Down` from the latest back to `to` (default: empty), newest first.
pub fn sql(backend: Backend, direction: Direction, to: Option<&'static str>) -> String {
    let all = backend.migration_sql();
    let position = to.and_then(|to| all.iter().position(|m| m.name == to));
    let (chosen, script): (Vec<&MigrationSql>, fn(&MigrationSql) -> &str) = match direction {
        Direction::Up => (
            all[..position.map_or(all.len(), |i| i + 1)]
                .iter()
                .collect(),
            |m| m.up,
        ),
        Direction::Down => (
            all[position.map_or(0, |i| i + 1)..].iter().rev().collect(),
            |m| m.down,
        ),
    };
    let mut out = String::new();
    for migration in chosen {
        let verb = match direction {
            Direction::Up => "apply",
            Direction::Down => "revert",
        };
        out.push_str(&format!(
            "-- {verb} {} ({})\n",
            migration.name,
            backend.name()
        ));
        out.push_str(script(migration).trim_end());
        out.push_str("\n\n");
    }
    out
}

/// The time a migration folder's version names.
pub fn version_time(folder: &str) -> Option<NaiveDateTime> {
    let version = folder.split('_').next()?;
    NaiveDateTime::parse_from_str(version, "%Y-%m-%d-%H%M%S").ok()
}

/// The folder name of a new migration in `dir`: `<version>_<name>`, the
/// version from `now` (as diesel CLI writes it), or one second after the
/// newest migration there if that is later, so versions stay unique and in
/// order.
pub fn folder_name(dir: &Path, name: &str, now: NaiveDateTime) -> Result<String, StartupError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(StartupError::Target(format!(
            "invalid migration name {name:?}: use lowercase letters, digits and _"
        )));
    }
    let newest = ["sqlite", "postgres"]
        .iter()
        .filter_map(|backend| std::fs::read_dir(dir.join(backend)).ok())
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version = name.split('_').next()?.to_string();
            NaiveDateTime::parse_from_str(&version, "%Y-%m-%d-%H%M%S").ok()
        })
        .max();
    // Versions name whole seconds.
    let now = chrono::Timelike::with_nanosecond(&now, 0).unwrap_or(now);
    let version = match newest {
        Some(newest) if newest >= now => newest + chrono::Duration::seconds(1),
        _ => now,
    };
    Ok(format!("{}_{name}", version.format("%Y-%m-%d-%H%M%S")))
}

/// Creates `<version>_<name>/{up.sql,down.sql}` in every backend's folder
/// under `dir` (normally `migrations`), with one version for all, and returns
/// the folders created.
pub fn new(dir: &Path, name: &str, now: NaiveDateTime) -> Result<Vec<PathBuf>, StartupError> {
    let folder = folder_name(dir, name, now)?;
    let mut created = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let parent = dir.join(backend);
        if !parent.is_dir() {
            return Err(StartupError::Target(format!(
                "{} is not a folder: run this from the project's root or give --dir",
                parent.display()
            )));
        }
        created.push(parent.join(&folder));
    }
    for path in &created {
        let write_file = |file: &str, text: String| {
            std::fs::create_dir_all(path)
                .and_then(|()| std::fs::write(path.join(file), text))
                .map_err(|e| {
                    StartupError::Target(format!("cannot write {}: {e}", path.join(file).display()))
                })
        };
        write_file("up.sql", format!("-- {folder}: the change.\n"))?;
        write_file("down.sql", format!("-- {folder}: undo up.sql exactly.\n"))?;
    }
    Ok(created)
}

/// The migration state `/ready` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    /// Pending, contract migrations left out (they wait while the binary serves).
    pub pending: usize,
    pub checksums_ok: bool,
}

/// How many migrations are applied and pending, and whether the applied
/// ones are unchanged. Reads only.
pub fn summary(conn: &mut DbConn, url: &DatabaseUrl) -> Result<Summary, StartupError> {
    let history = history(conn, url)?;
    let count = |keep: fn(&MigrationState) -> bool| history.iter().filter(|m| keep(m)).count();
    Ok(Summary {
        applied: count(|m| m.applied_at.is_some()),
        pending: count(|m| m.applied_at.is_none() && !m.contract),
        checksums_ok: verify(conn, url)?.problems.is_empty(),
    })
}

/// The differences between the live database's tables and those of
/// `src/schema.rs` compiled into this binary (missing or extra tables and
/// columns, other types, nullability, keys), or `None` while migrations are
/// pending, when differences are expected. A catalog scan: only `bookshelf
/// migrate verify` asks for it, not start-up or `/ready`.
pub fn schema_drift(
    conn: &mut DbConn,
    url: &DatabaseUrl,
) -> Result<Option<Vec<String>>, StartupError> {
    // Contract migrations included: until they run, the old columns are there.
    if history(conn, url)?.iter().any(|m| m.applied_at.is_none()) {
        return Ok(None);
    }
    let model = built_model()?;
    let live = catalog::read(conn)?;
    Ok(Some(diff::differences(&live, &model)))
}
