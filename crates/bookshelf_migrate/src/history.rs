//! What a database has applied, what is pending, and finding the migration
//! a user means.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::connection::{DatabaseUrl, DbConn};
use crate::error::Error;
use crate::records::{__diesel_schema_migrations, unless_missing};
use crate::records::{stamps, Stamp};
use crate::scripts::{version_of, Scripts};

/// One migration of a project, and when it was applied, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub version: String,
    pub applied_at: Option<NaiveDateTime>,
    /// A contract migration (see [`crate::is_contract`]).
    pub contract: bool,
    /// Pending, and older than the newest applied migration: `up` refuses
    /// it without `--out-of-order` (see [`crate::Error::OutOfOrder`]).
    pub out_of_order: bool,
    /// Recorded without running, by `stamp` or `adopt` (see [`crate::stamp`]).
    pub stamped: Option<Stamp>,
}

/// Every migration of `source`, oldest first, with its state in the database.
pub fn history(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
) -> Result<Vec<MigrationState>, Error> {
    let state_error = |source| Error::MigrationState {
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
    let stamps = stamps(conn).map_err(|e| state_error(Box::new(e)))?;
    let newest = applied.iter().map(|(v, _)| v.as_str()).max().unwrap_or("");
    Ok(source
        .list()
        .iter()
        .map(|m| {
            let version = version_of(&m.name);
            let applied_at = applied
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, at)| *at);
            MigrationState {
                name: m.name.to_string(),
                out_of_order: applied_at.is_none() && version.as_str() < newest,
                applied_at,
                contract: m.is_contract(),
                stamped: stamps
                    .iter()
                    .find(|(v, _)| *v == version)
                    .map(|(_, how)| *how),
                version,
            }
        })
        .collect())
}

/// The names of the migrations not applied yet, oldest first.
/// Contract migrations are left out: they wait for `migrate up --contract`
/// while the binary serves (see [`crate::is_contract`]).
pub fn pending_names(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
) -> Result<Vec<String>, Error> {
    Ok(history(conn, url, source)?
        .into_iter()
        .filter(|m| m.applied_at.is_none() && !m.contract)
        .map(|m| m.name)
        .collect())
}

/// Finds the one migration a user means: its full name, its version (with or
/// without dashes), a unique prefix of either, or its name after the version.
pub fn resolve(source: &impl Scripts, query: &str) -> Result<String, Error> {
    let known = source.list();
    let compact = query.replace('-', "");
    let matches: Vec<&str> = known
        .iter()
        .map(|m| &*m.name)
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
        [one] => Ok(one.to_string()),
        [] => Err(Error::Target(format!(
            "no migration matches {query:?}; known: {}",
            known
                .iter()
                .map(|m| &*m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        many => Err(Error::Target(format!(
            "{query:?} matches several migrations: {}; give more of the name",
            many.join(", ")
        ))),
    }
}
