//! `verify`: whether every applied migration is the one this project has
//! now (checksums), whether the live schema is the model (drift), and the
//! indexes a failed concurrent build left INVALID.

use diesel::prelude::*;

use crate::connection::{DatabaseUrl, DbConn};
use crate::error::Error;
use crate::harness::locked;
use crate::history::{history, MigrationState};
use crate::records::{
    __diesel_schema_migrations, bookkeeping, bookshelf_migrations, checksum, record, unless_missing,
};
use crate::scripts::{version_of, Scripts};
use crate::{catalog, diff, model};

/// What `verify` found wrong with an applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its up.sql changed since it was applied.
    Changed {
        name: String,
        expected: String,
        found: String,
    },
    /// The database has it applied, but the project does not know it.
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
pub fn invalid_indexes(conn: &mut DbConn) -> Result<Vec<InvalidIndex>, Error> {
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
    .map_err(|source| Error::Catalog {
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

/// Compares every applied migration with the same migration in `source`.
pub fn verify(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
) -> Result<Verification, Error> {
    let known = source.list();
    let state_error = |source: diesel::result::Error| Error::MigrationState {
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
        let Some(known) = known.iter().find(|m| version_of(&m.name) == version) else {
            result.problems.push(Problem::Unknown { version });
            continue;
        };
        match recorded.iter().find(|(v, _)| *v == version) {
            None => result.unrecorded.push(known.name.to_string()),
            Some((_, expected)) => {
                let found = checksum(&known.up);
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

/// Records the checksum of `name`'s up.sql in `source` for an applied
/// migration, accepting that its file changed.
pub fn accept(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    name: &str,
) -> Result<(), Error> {
    locked(conn, url, |conn| {
        let applied = history(conn, url, source)?
            .into_iter()
            .any(|m| m.name == name && m.applied_at.is_some());
        if !applied {
            return Err(Error::Target(format!(
                "{name} is not applied; nothing to accept"
            )));
        }
        record(conn, source, name).map_err(bookkeeping)?;
        Ok(())
    })
}

/// The differences between the live database's tables and `model`
/// (missing or extra tables and columns, other types, nullability, keys,
/// indexes, CHECKs, defaults, foreign keys), or `None` while migrations of
/// `source` are pending, when differences are expected. A catalog scan:
/// only `migrate verify` asks for it, not start-up or `/ready`.
pub fn schema_drift(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    model: &model::Schema,
) -> Result<Option<Vec<String>>, Error> {
    // Contract migrations included: until they run, the old columns are there.
    if history(conn, url, source)?
        .iter()
        .any(|m| m.applied_at.is_none())
    {
        return Ok(None);
    }
    let live = catalog::read(conn)?;
    Ok(Some(diff::differences(&live, model)))
}

/// The migration state `/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    /// Pending, contract migrations left out (they wait while the binary serves).
    pub pending: usize,
    pub checksums_ok: bool,
    /// Tables found where no migration is recorded (see [`crate::unmanaged`]).
    pub unmanaged: Option<crate::error::Unmanaged>,
}

/// How many migrations are applied and pending, and whether the applied
/// ones are unchanged. Reads only.
pub fn summary(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
) -> Result<Summary, Error> {
    let history = history(conn, url, source)?;
    let count = |keep: fn(&MigrationState) -> bool| history.iter().filter(|m| keep(m)).count();
    Ok(Summary {
        applied: count(|m| m.applied_at.is_some()),
        pending: count(|m| m.applied_at.is_none() && !m.contract),
        checksums_ok: verify(conn, url, source)?.problems.is_empty(),
        unmanaged: crate::unmanaged::unmanaged(conn)?,
    })
}
