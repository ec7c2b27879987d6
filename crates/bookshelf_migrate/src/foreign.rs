//! A database the project's migrations did not build: telling it from an
//! empty one, `stamp` (record versions as applied, without running them,
//! once the live schema is that version's), and `adopt` (bring it to the
//! newest version with the SQL `diff` writes, then stamp).

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::connection::{write, Backend, DatabaseUrl, DbConn};
use crate::diff::{self, Change, Options};
use crate::error::Error;
use crate::harness::locked;
use crate::history::history;
use crate::model::Schema;
use crate::records::{bookkeeping, bookshelf_stamps, record, record_version, CREATE_STAMPS_TABLE};
use crate::scratch::Scratch;
use crate::scripts::{version_of, Direction, Scripts};
use crate::unmanaged::unmanaged;
use crate::{catalog, sql};

/// The schema `source` builds up to `upto` (the newest when `None`), replayed
/// on a scratch database beside the live one: SQLite in memory, PostgreSQL
/// in a throwaway database on the live server.
fn schema_at(
    url: &DatabaseUrl,
    source: &impl Scripts,
    upto: Option<&str>,
) -> Result<Schema, Error> {
    let server = (url.backend() == Backend::Postgres).then(|| url.target());
    let mut scratch = Scratch::open(url.backend(), server)?;
    scratch.schema_at(source, upto)
}

/// What `stamp` recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamped {
    pub names: Vec<String>,
    /// The differences `--force` recorded over (empty without it).
    pub differences: Vec<String>,
}

/// `migrate stamp`: records every migration of `source` up to `target` as
/// applied, without running it, once the live schema equals the schema
/// those migrations build (replayed on a scratch database). With `force`,
/// records anyway and marks the records forced. Checksums are recorded as
/// for applied migrations.
pub fn stamp(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    target: &str,
    force: bool,
) -> Result<Stamped, Error> {
    let states = history(conn, url, source)?;
    let target_version = version_of(target);
    if let Some(newer) = states
        .iter()
        .find(|m| m.applied_at.is_some() && m.version > target_version)
    {
        return Err(Error::Target(format!(
            "{} is applied, and it is newer than {target}: stamp records versions a database \
             has without running them, it never moves back (that is `bookshelf migrate down --to`)",
            newer.name
        )));
    }
    let names: Vec<String> = states
        .iter()
        .filter(|m| m.applied_at.is_none() && m.version <= target_version)
        .map(|m| m.name.clone())
        .collect();
    if names.is_empty() {
        return Err(Error::Target(format!(
            "{target} and every migration before it are applied already; nothing to stamp"
        )));
    }
    let live = catalog::read(conn)?;
    let expected = schema_at(url, source, Some(target))?;
    // diff's words are about src/schema.rs; here the model is `target`'s schema.
    let differences: Vec<String> = diff::differences(&live, &expected)
        .into_iter()
        .map(|d| d.replace("src/schema.rs", &format!("{target}'s schema")))
        .collect();
    if !differences.is_empty() && !force {
        return Err(Error::StampRefused {
            target: target.to_string(),
            differences,
        });
    }
    locked(conn, url, |conn| {
        // What was compared may have changed while no lock was held.
        let applied: Vec<String> = history(conn, url, source)?
            .into_iter()
            .filter(|m| m.applied_at.is_some() && names.contains(&m.name))
            .map(|m| m.name)
            .collect();
        if !applied.is_empty() {
            return Err(Error::Target(format!(
                "{} got applied while stamp compared the schema (another migrator?); \
                 nothing was recorded, run `bookshelf migrate status`",
                applied.join(", ")
            )));
        }
        record_stamps(conn, source, &names, force)
    })?;
    Ok(Stamped {
        names,
        differences: if force { differences } else { Vec::new() },
    })
}

/// Records `names` as applied without running them: diesel's record, the
/// checksum, and the stamp.
fn record_stamps(
    conn: &mut DbConn,
    source: &impl Scripts,
    names: &[String],
    forced: bool,
) -> Result<(), Error> {
    conn.batch_execute(CREATE_STAMPS_TABLE)
        .map_err(bookkeeping)?;
    let at: NaiveDateTime = crate::connection::now();
    for name in names {
        record_version(conn, name, Direction::Up).map_err(bookkeeping)?;
        record(conn, source, name).map_err(bookkeeping)?;
        diesel::insert_into(bookshelf_stamps::table)
            .values((
                bookshelf_stamps::version.eq(version_of(name)),
                bookshelf_stamps::forced.eq(forced),
                bookshelf_stamps::stamped_at.eq(at),
            ))
            .execute(conn)
            .map_err(bookkeeping)?;
    }
    Ok(())
}

/// What `adopt` found, and did or would do.
#[derive(Debug, Clone, Default)]
pub struct Adoption {
    /// The changes that take the live schema to the newest version.
    pub changes: Vec<Change>,
    /// The bridging SQL, in the order it runs.
    pub sql: Vec<String>,
    /// The migrations recorded (none with `--sql`).
    pub stamped: Vec<String>,
    /// Alembic's revision, when the database came from Alembic.
    pub alembic: Option<String>,
}

/// `migrate adopt`: takes a database no migration of `source` built to the
/// newest version. The live catalog is compared with the newest version's
/// (replayed on a scratch database) by the diff engine, with `options`'
/// hints and refusals exactly as `migrate diff`; the bridging SQL runs in
/// one transaction (on SQLite a table rebuild keeps the rows), is checked
/// to leave no difference, and every version is stamped in the same
/// transaction. With `apply` false the same runs and is rolled back, so the
/// SQL shown is the SQL that would run.
pub fn adopt(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    options: &Options,
    apply: bool,
) -> Result<Adoption, Error> {
    let Some(found) = unmanaged(conn)? else {
        let applied = history(conn, url, source)?
            .iter()
            .any(|m| m.applied_at.is_some());
        return Err(Error::Target(if applied {
            "migrations are recorded in this database already: bookshelf manages it, there is \
             nothing to adopt (`bookshelf migrate up` applies what is pending)"
                .to_string()
        } else {
            "the database is empty: there is nothing to adopt (`bookshelf migrate up`, or \
             `bookshelf serve`, builds it)"
                .to_string()
        }));
    };
    let live = catalog::read(conn)?;
    let target = schema_at(url, source, None)?;
    // diff's words are about src/schema.rs; here the model is the newest version.
    let changes = diff::changes(&live, &target, options).map_err(|refused| {
        Error::Target(
            refused
                .to_string()
                .replace("src/schema.rs", "the newest version"),
        )
    })?;
    let names: Vec<String> = source.list().iter().map(|m| m.name.to_string()).collect();
    let backend = url.backend();
    let mut adoption = Adoption {
        changes: changes.clone(),
        alembic: found.alembic,
        ..Adoption::default()
    };
    if backend == Backend::Sqlite {
        // A rebuild renames tables: foreign keys off (outside the
        // transaction, where SQLite takes the pragma), checked before commit.
        conn.batch_execute("PRAGMA foreign_keys = OFF")
            .map_err(bookkeeping)?;
    }
    let outcome = if apply {
        locked(conn, url, |conn| {
            // Another adopt or migrator may have got here first.
            if unmanaged(conn)?.is_none() {
                return Err(Error::Target(
                    "the database got migration records while adopt compared it (another \
                     migrator?); nothing was changed, run `bookshelf migrate status`"
                        .to_string(),
                ));
            }
            let sql = bridge(conn, backend, &changes, &target)?;
            record_stamps(conn, source, &names, false)?;
            Ok(sql)
        })
    } else {
        // The same SQL in a transaction that is always rolled back.
        let rolled_back = write(conn, |conn| {
            Err::<(), _>(match bridge(conn, backend, &changes, &target) {
                Ok(sql) => RolledBack::Sql(sql),
                Err(error) => RolledBack::Failed(error),
            })
        });
        match rolled_back {
            Err(RolledBack::Sql(sql)) => Ok(sql),
            Err(RolledBack::Failed(error)) => Err(error),
            Err(RolledBack::Database(error)) => Err(bookkeeping(error)),
            Ok(()) => unreachable!("the dry run always rolls back"),
        }
    };
    if backend == Backend::Sqlite {
        conn.batch_execute("PRAGMA foreign_keys = ON")
            .map_err(bookkeeping)?;
    }
    adoption.sql = outcome?;
    if apply {
        adoption.stamped = names;
    }
    Ok(adoption)
}

/// Why `adopt --sql`'s transaction ended (always rolled back).
enum RolledBack {
    Sql(Vec<String>),
    Failed(Error),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for RolledBack {
    fn from(error: diesel::result::Error) -> RolledBack {
        RolledBack::Database(error)
    }
}

/// Runs the changes' SQL on the live database, group by group, each
/// rendered from the database as the groups before it left it, checks that
/// the result is `target`, and returns the statements. Everything runs in
/// the caller's transaction: an index PostgreSQL would build CONCURRENTLY
/// on a live fleet is built plainly.
fn bridge(
    conn: &mut DbConn,
    backend: Backend,
    changes: &[Change],
    target: &Schema,
) -> Result<Vec<String>, Error> {
    let mut ran = Vec::new();
    for group in sql::groups(backend, changes) {
        let step = sql::render_group(conn, &group)?;
        let all = (step.guard.iter().chain(&step.up).chain(&step.validate))
            .chain(&step.finally)
            .chain(&step.then_up);
        for statement in all {
            let statement = statement.replace(" CONCURRENTLY", "");
            if statement.trim().is_empty() {
                continue;
            }
            conn.batch_execute(&statement).map_err(|e| {
                let what: Vec<String> = group.iter().map(ToString::to_string).collect();
                Error::Target(format!(
                    "adopting failed at `{}`, so nothing was changed: {e}\n{statement}",
                    what.join("`, `")
                ))
            })?;
            ran.push(statement);
        }
    }
    let left = diff::differences(&catalog::read(conn)?, target);
    if !left.is_empty() {
        return Err(Error::Target(format!(
            "the bridging SQL leaves differences, so nothing was changed (please report this \
             with the output of `bookshelf migrate adopt --sql`): {}",
            left.join("; ")
        )));
    }
    if backend == Backend::Sqlite {
        foreign_key_check(conn)?;
    }
    Ok(ran)
}

#[derive(QueryableByName)]
struct Violation {
    #[diesel(sql_type = Text)]
    table: String,
}

/// SQLite: refuses a rebuild that left a row pointing at no parent.
fn foreign_key_check(conn: &mut DbConn) -> Result<(), Error> {
    let violations: Vec<Violation> =
        diesel::sql_query("SELECT \"table\" FROM pragma_foreign_key_check")
            .load(conn)
            .map_err(bookkeeping)?;
    if violations.is_empty() {
        return Ok(());
    }
    let tables: Vec<String> = violations.into_iter().map(|v| v.table).collect();
    Err(Error::Target(format!(
        "rows of {} refer to rows that do not exist, so nothing was changed",
        tables.join(", ")
    )))
}
