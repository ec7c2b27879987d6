//! Moving a database between versions: `up` and `down` under one lock, so
//! several processes never migrate one database at once, with migrations
//! that run outside a transaction run on their own, and contract migrations
//! held back while replicas of an older binary are alive.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use log::info;

use crate::connection::{write, DatabaseUrl, DbConn};
use crate::error::Error;
use crate::history::{history, MigrationState};
use crate::records::{
    __diesel_schema_migrations, bookkeeping, bookshelf_migrations, checksum_record, record,
    record_version, CREATE_CHECKSUM_TABLE,
};
use crate::scripts::{in_transaction, version_of, Borrowed, Direction, Scripts};
use crate::unmanaged::refuse_unmanaged;
use crate::{lint, replicas};

/// The PostgreSQL advisory lock that makes migrators take turns (an
/// arbitrary constant: "bookshel" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x626f_6f6b_7368_656c;

/// Runs `f` holding the migration lock (PostgreSQL: an advisory lock,
/// taken before the transaction and released after it, see
/// [`MigrationLock`]; SQLite: the write lock of `BEGIN IMMEDIATE`). Everything
/// `f` reads, it reads after the lock is taken; what it does is committed when
/// it returns `Ok`, so `f` reports a failure after partial progress inside `Ok`.
pub(crate) fn locked<T>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    f: impl FnOnce(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    let lock = MigrationLock::take(conn, url)?;
    let result = write(conn, |conn| {
        // Both bookkeeping tables, created under the lock (diesel creates its own).
        conn.applied_migrations()
            .map_err(|source| Error::MigrationState {
                url: url.to_string(),
                source,
            })?;
        conn.batch_execute(CREATE_CHECKSUM_TABLE)
            .map_err(bookkeeping)?;
        f(conn).map_err(UnderLock)
    });
    let unlocked = lock.release();
    if result.is_ok() {
        unlocked?;
    }
    result.map_err(|UnderLock(error)| error)
}

/// The migration lock on PostgreSQL: an advisory lock held by a transaction
/// of its own, on a connection of its own to the same URL, for as long as
/// the migration work runs on the caller's connection. A transaction-level
/// lock is what a transaction-pooling PgBouncer keeps (a session-level one
/// would stay on whichever server connection took it), and a lock outside
/// the work's own transaction also covers migrations that run outside a
/// transaction. The lock is tried every 50 ms for as long as the caller's
/// `lock_timeout` (0: no limit): waiting in `pg_advisory_xact_lock` instead
/// would hold a snapshot all the while, and a `CREATE INDEX CONCURRENTLY`
/// the holder runs waits for every older snapshot to go. The holder's
/// transaction itself keeps no snapshot between its statements, because
/// they go over the simple query protocol (READ COMMITTED); over diesel's
/// extended protocol the idle transaction kept an xmin, and such an index
/// build waited on it.
struct MigrationLock(Option<diesel::PgConnection>);

impl MigrationLock {
    /// Takes the lock (a no-op on SQLite, whose `BEGIN IMMEDIATE` locks).
    fn take(conn: &mut DbConn, url: &DatabaseUrl) -> Result<MigrationLock, Error> {
        use diesel::dsl::sql;
        use diesel::sql_types::Double;
        let DbConn::Postgres(pg) = conn else {
            return Ok(MigrationLock(None));
        };
        let lock_error = |source| Error::MigrationLock { source };
        let limit: f64 = diesel::select(sql::<Double>(
            "EXTRACT(EPOCH FROM current_setting('lock_timeout')::interval)::float8",
        ))
        .get_result(pg)
        .map_err(lock_error)?;
        let wait = Duration::from_secs_f64(limit.max(0.0));
        let DbConn::Postgres(mut holder) =
            crate::connection::connect(url, wait).map_err(|source| Error::Connect {
                url: url.to_string(),
                source,
            })?
        else {
            unreachable!("a PostgreSQL URL connects to PostgreSQL");
        };
        let deadline = (limit > 0.0).then(|| Instant::now() + wait);
        // The simple query protocol: a statement of the extended protocol
        // would leave the idle transaction holding a snapshot (its xmin),
        // and a CREATE INDEX CONCURRENTLY would wait for it.
        let try_lock = format!(
            "BEGIN; DO $$ BEGIN IF NOT pg_try_advisory_xact_lock({MIGRATION_LOCK_KEY}) THEN \
             RAISE EXCEPTION 'bookshelf migration lock busy'; END IF; END $$;"
        );
        while let Err(error) = holder.batch_execute(&try_lock) {
            let busy = error.to_string().contains("bookshelf migration lock busy");
            holder.batch_execute("ROLLBACK").map_err(lock_error)?;
            if !busy {
                return Err(lock_error(error));
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(lock_error(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::Unknown,
                    Box::new(format!(
                        "another migrator held it for the whole lock timeout ({limit} s)"
                    )),
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(MigrationLock(Some(holder)))
    }

    /// Releases the lock: its transaction ends. (Dropped unreleased, the
    /// connection closes, which ends it too.)
    fn release(mut self) -> Result<(), Error> {
        match self.0.take() {
            Some(mut holder) => holder
                .batch_execute("COMMIT")
                .map_err(|source| Error::MigrationLock { source }),
            None => Ok(()),
        }
    }
}

/// An error of [`locked`]: from the lock's own transaction (SQLite's
/// `BEGIN IMMEDIATE` or the commit), or from the work done under it.
struct UnderLock(Error);

impl From<diesel::result::Error> for UnderLock {
    fn from(source: diesel::result::Error) -> UnderLock {
        UnderLock(Error::MigrationTransaction { source })
    }
}

impl From<Error> for UnderLock {
    fn from(error: Error) -> UnderLock {
        UnderLock(error)
    }
}

/// Refuses `planned` when one of them is older than the newest migration
/// the database has applied: diesel would apply it silently, and its
/// `revert` would then undo the newest first, not it.
fn refuse_out_of_order(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    planned: &[String],
) -> Result<(), Error> {
    let Some(newest) = newest_applied(conn).map_err(|source| Error::MigrationState {
        url: url.to_string(),
        source,
    })?
    else {
        return Ok(());
    };
    let older: Vec<String> = planned
        .iter()
        .filter(|name| version_of(name) < newest)
        .cloned()
        .collect();
    if older.is_empty() {
        return Ok(());
    }
    let newest = source
        .list()
        .iter()
        .find(|m| version_of(&m.name) == newest)
        .map_or_else(|| format!("version {newest}"), |m| m.name.to_string());
    Err(Error::OutOfOrder { older, newest })
}

/// The newest version the database has applied (diesel's versions are
/// digits of one length, so they sort as text), if any.
pub(crate) fn newest_applied(
    conn: &mut DbConn,
) -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(conn
        .applied_migrations()?
        .iter()
        .map(|v| v.to_string())
        .max())
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
    to: &UpTo,
    contract: bool,
) -> Result<usize, Error> {
    let is_contract = |name: &&String| source.is_contract(name);
    let Some(first) = planned.iter().position(|n| is_contract(&n)) else {
        return Ok(planned.len());
    };
    if !contract {
        if *to == UpTo::Latest {
            let waiting = planned.len() - first;
            info!(
                "{} is a contract migration: it and the {} after it wait for \
                 `bookshelf migrate up --contract`, once every replica runs this binary",
                planned[first],
                waiting - 1
            );
            return Ok(first);
        }
        return Err(Error::Target(format!(
            "{} is a contract migration (it removes what the previous binary may still use): \
             apply it with `bookshelf migrate up --contract` once every replica runs this binary",
            planned[first]
        )));
    }
    let last = planned.iter().rfind(is_contract).unwrap_or(&planned[first]);
    let older = replicas::alive_before(conn, last).map_err(|e| Error::MigrationState {
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
    Err(Error::Target(format!(
        "refusing to apply contract migration {last}: {} replica(s) of an older binary are alive: {}; \
         upgrade them first (a replica not heard from for {} s is not counted)",
        older.len(),
        list.join(", "),
        replicas::STALE_AFTER.as_secs()
    )))
}

/// How far `up` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpTo {
    /// Every pending migration.
    Latest,
    /// The next N pending migrations.
    Steps(usize),
    /// Up to and including this migration (a name from [`resolve`]).
    Version(String),
}

/// How `up` goes, besides how far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpOptions {
    /// Apply contract migrations too, once no replica of an older binary is
    /// alive (see [`crate::is_contract`] and [`replicas`]).
    pub contract: bool,
    /// Apply pending migrations older than the newest applied one (merged
    /// late, from another branch); refused otherwise.
    pub out_of_order: bool,
}

/// Applies the pending migrations of `source`, as far as `to` says, logging
/// one line per migration applied, and returns their names. Stops before a
/// contract migration (see [`crate::is_contract`]), and refuses a pending
/// migration older than the newest applied one ([`Error::OutOfOrder`]).
/// Each migration runs in a savepoint of its own: when one fails it is
/// undone, the ones before it are kept, and the error names it. A migration
/// whose metadata.toml says `run_in_transaction = false` runs on its own,
/// outside the transaction (see [`alone`]).
pub fn up(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    to: UpTo,
) -> Result<Vec<String>, Error> {
    up_with_options(conn, url, source, to, UpOptions::default())
}

/// [`up`], contract migrations included, once no replica of an older binary
/// is alive (see [`crate::is_contract`] and [`replicas`]).
pub fn up_contract(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    to: UpTo,
) -> Result<Vec<String>, Error> {
    let options = UpOptions {
        contract: true,
        ..UpOptions::default()
    };
    up_with_options(conn, url, source, to, options)
}

/// [`up`] as `options` say.
pub fn up_with_options<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &S,
    to: UpTo,
    options: UpOptions,
) -> Result<Vec<String>, Error> {
    refuse_unmanaged(conn)?;
    in_batches(conn, url, Direction::Up, source, |conn, remaining| {
        let pending = conn
            .pending_migrations(Borrowed(source))
            .map_err(|source| Error::MigrationState {
                url: url.to_string(),
                source,
            })?;
        let planned = match (remaining, &to) {
            (Some(n), _) => n.min(pending.len()),
            (None, UpTo::Latest) => pending.len(),
            (None, &UpTo::Steps(n)) => n.min(pending.len()),
            (None, UpTo::Version(target)) => {
                match pending.iter().position(|m| m.name().to_string() == *target) {
                    Some(i) => i + 1,
                    None => {
                        return Err(Error::Target(format!(
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
                if !options.out_of_order {
                    refuse_out_of_order(conn, url, source, &names[..planned])?;
                }
                gate(conn, url, source, &names[..planned], &to, options.contract)?
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
                batch.failure = Some(Error::Migration {
                    name,
                    url: url.to_string(),
                    source,
                });
                break;
            }
            record(conn, source, &name).map_err(bookkeeping)?;
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
    failure: Option<Error>,
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
    mut turn: impl FnMut(&mut DbConn, Option<usize>) -> Result<Batch, Error>,
) -> Result<Vec<String>, Error> {
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
/// migration lock ([`MigrationLock`]) is held throughout; on SQLite the script's
/// own `BEGIN IMMEDIATE` is the lock, and a migrator that ran it first makes
/// this one a no-op. Returns whether it ran (false: another process had
/// already done it).
fn alone<S: Scripts>(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    name: &str,
    direction: Direction,
    source: &S,
) -> Result<bool, Error> {
    let state_error = |source| Error::MigrationState {
        url: url.to_string(),
        source,
    };
    let lock = MigrationLock::take(conn, url)?;
    let result = (|| {
        let migrations = source.migrations().map_err(state_error)?;
        let migration = migrations
            .into_iter()
            .find(|m| m.name().to_string() == name)
            .ok_or_else(|| {
                Error::Target(format!("{name} is not one of the project's migrations"))
            })?;
        let is_applied = conn
            .applied_migrations()
            .map_err(state_error)?
            .contains(&migration.name().version());
        let script = source.script(name, direction);
        let statements = match (&*conn, &script) {
            (DbConn::Postgres(_), Some(sql)) => lint::postgres_statements(sql)
                .into_iter()
                .map(|range| sql[range].to_string())
                .collect(),
            _ => Vec::new(),
        };
        if let (DbConn::Sqlite(_), Some(body)) =
            (&*conn, script.as_deref().and_then(sqlite_rebuild_body))
        {
            if !run_sqlite_rebuild(conn, url, name, direction, body)? {
                return Ok(false);
            }
            checksum_record(conn, source, name, direction)?;
            return Ok(true);
        }
        let ran = match direction {
            _ if statements.len() > 1 && (direction == Direction::Up) != is_applied => {
                run_each(conn, url, name, direction, &statements)
            }
            Direction::Up if !is_applied => {
                conn.run_migration(&*migration)
                    .map(drop)
                    .map_err(|source| Error::Migration {
                        name: name.to_string(),
                        url: url.to_string(),
                        source,
                    })
            }
            Direction::Down if is_applied => {
                conn.revert_migration(&*migration)
                    .map(drop)
                    .map_err(|source| Error::Revert {
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
        checksum_record(conn, source, name, direction)?;
        Ok(true)
    })();
    lock.release()?;
    result
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
) -> Result<(), Error> {
    let failed = |source: diesel::result::Error| {
        let (name, url, source) = (name.to_string(), url.to_string(), Box::new(source));
        match direction {
            Direction::Up => Error::Migration { name, url, source },
            Direction::Down => Error::Revert { name, url, source },
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
) -> Result<bool, Error> {
    let failed = |source: diesel::result::Error| {
        let (name, url, source) = (name.to_string(), url.to_string(), Box::new(source));
        match direction {
            Direction::Up => Error::Migration { name, url, source },
            Direction::Down => Error::Revert { name, url, source },
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

/// How far `down` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownTo {
    /// The last N applied migrations.
    Steps(usize),
    /// Back to this migration, which stays applied.
    Version(String),
    /// Every applied migration.
    All,
}

/// Reverts applied migrations of `source`, newest first, as far as `to`
/// says, and returns their names. Asking for more than is applied changes
/// nothing. A migration that runs outside a transaction is reverted on its
/// own.
pub fn down(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    to: DownTo,
) -> Result<Vec<String>, Error> {
    let (to, floor) = stamp_floor(conn, url, source, to)?;
    let reverted = revert(conn, url, source, to)?;
    match floor {
        Some(stamped) => Err(Error::StampedFloor { stamped, reverted }),
        None => Ok(reverted),
    }
}

/// `to`, unless it goes below a stamped migration (see [`crate::stamp`]):
/// then down to that one, which is kept and returned.
fn stamp_floor(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    to: DownTo,
) -> Result<(DownTo, Option<String>), Error> {
    let mut applied: Vec<MigrationState> = history(conn, url, source)?
        .into_iter()
        .filter(|m| m.applied_at.is_some())
        .collect();
    applied.sort_by(|a, b| b.version.cmp(&a.version));
    let Some(floor) = applied.iter().position(|m| m.stamped.is_some()) else {
        return Ok((to, None));
    };
    let planned = match &to {
        DownTo::All => applied.len(),
        DownTo::Steps(n) => *n,
        DownTo::Version(name) => applied.iter().position(|m| m.name == *name).unwrap_or(0),
    };
    if planned <= floor {
        return Ok((to, None));
    }
    let stamped = applied[floor].name.clone();
    Ok((DownTo::Steps(floor), Some(stamped)))
}

/// [`down`] without the stamp floor.
fn revert(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    to: DownTo,
) -> Result<Vec<String>, Error> {
    let state_error = |source| Error::MigrationState {
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
        let planned = match (remaining, &to) {
            (Some(n), _) => n.min(applied.len()),
            (None, DownTo::All) => applied.len(),
            (None, &DownTo::Steps(n)) if n <= applied.len() => n,
            (None, DownTo::Steps(n)) => {
                return Err(Error::Target(format!(
                    "cannot revert {n} migrations: {} applied",
                    applied.len()
                )))
            }
            (None, DownTo::Version(target)) => {
                match applied.iter().position(|name| name == target) {
                    Some(i) => i,
                    None => {
                        return Err(Error::Target(format!(
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
                batch.failure = Some(Error::Revert {
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
