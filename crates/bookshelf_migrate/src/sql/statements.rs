//! The pieces of generated SQL both dialects share: a change's steps, the
//! counts of rows that would break a constraint, index and NULL-filling
//! statements.

use crate::idents::name;
use crate::model::{Index, Rule};

/// The SQL of one change: its up statements, and the down statements that
/// undo them. `rebuild` marks a SQLite table rebuild, which must run with
/// foreign keys off, so outside diesel's transaction (see [`script`]).
///
/// An index built or dropped on a table that exists is a migration of its
/// own ([`Phase::Own`]): on PostgreSQL `CONCURRENTLY`, alone in its file and
/// outside a transaction, so that writes go on while it is built. Its
/// `guard` (rows that would break a unique index) runs in the migration
/// before it, and `then_up`/`then_down` (making a unique index a constraint)
/// in the migration after.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub up: Vec<String>,
    pub down: Vec<String>,
    pub rebuild: bool,
    pub guard: Vec<String>,
    pub then_up: Vec<String>,
    pub then_down: Vec<String>,
    /// PostgreSQL: what runs in a transaction after `up`'s
    /// (`VALIDATE CONSTRAINT`), and in one after that.
    pub validate: Vec<String>,
    pub finally: Vec<String>,
}

/// The count of rows of `table` that break `rule` (NULL passes a CHECK).
pub fn breaking_rows(table: &str, rule: &Rule) -> String {
    format!(
        "SELECT count(*) FROM {} WHERE NOT ({})",
        name(table),
        rule.sql()
    )
}

/// The count of rows of `table` that share their values of a unique
/// index's columns with another row (NULLs are never equal).
pub fn duplicate_rows(table: &str, index: &Index) -> String {
    let columns: Vec<String> = index.columns.iter().map(|c| name(c)).collect();
    let not_null: Vec<String> = columns.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    format!(
        "SELECT COALESCE(sum(copies), 0) FROM (SELECT count(*) AS copies FROM {} WHERE {} \
         GROUP BY {} HAVING count(*) > 1) AS duplicates",
        name(table),
        not_null.join(" AND "),
        columns.join(", ")
    )
}

/// The count of rows of `table` whose `column` is NULL, and what they break
/// when it becomes NOT NULL.
pub fn null_rows(table: &str, column: &str) -> String {
    format!(
        "SELECT count(*) FROM {} WHERE {} IS NULL",
        name(table),
        name(column)
    )
}

pub fn null_reason(table: &str, column: &str) -> String {
    format!(
        "NOT NULL of {table}.{column}: they hold NULL (give them a value with --default \
         {table}.{column}=VALUE)"
    )
}

/// The count of rows of `table` whose `column` names no row of `parent`.
pub fn orphan_rows(table: &str, column: &str, parent: &str, key: &str) -> String {
    format!(
        "SELECT count(*) FROM {t} AS child WHERE child.{c} IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM {p} AS parent WHERE parent.{k} = child.{c})",
        t = name(table),
        c = name(column),
        p = name(parent),
        k = name(key)
    )
}

/// `CREATE [UNIQUE] INDEX name ON table (columns)`, without the `;`.
pub(crate) fn create_index(table: &str, index: &Index, concurrently: bool) -> String {
    let columns: Vec<String> = index.columns.iter().map(|c| name(c)).collect();
    format!(
        "CREATE {}INDEX {}{} ON {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        if concurrently {
            "CONCURRENTLY IF NOT EXISTS "
        } else {
            ""
        },
        name(&index.name),
        name(table),
        columns.join(", ")
    )
}

/// The statement that gives a column's NULLs a value, before it becomes NOT NULL.
pub(crate) fn fill_nulls(table: &str, column: &str, value: &str) -> String {
    format!(
        "UPDATE {} SET {} = {value} WHERE {} IS NULL;",
        name(table),
        name(column),
        name(column)
    )
}

/// The primary key a foreign key to `parent` refers to, read from the
/// database (the parent exists, or was created by an earlier step).
pub(crate) fn parent_key(schema: &crate::model::Schema, parent: &str) -> String {
    schema
        .table(parent)
        .and_then(|t| t.primary_key.first().cloned())
        .unwrap_or_else(|| "id".to_string())
}
