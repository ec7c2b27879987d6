//! Changes → SQL, per dialect. Each change is written against the database
//! as it is just before it (the scratch database that `migrate diff`
//! replays), so what the model does not describe (CHECKs, defaults, indexes,
//! triggers) is read from there and kept.

mod postgres;
pub(crate) mod sqlite;
mod statements;

pub use statements::{breaking_rows, duplicate_rows, null_reason, null_rows, orphan_rows, Step};

use crate::connection::{Backend, DbConn};
use crate::diff::Change;
use crate::error::Error;
use crate::idents::name;
use crate::model::{DefaultValue, Index};
use statements::{create_index, parent_key};

/// Which migration of a `migrate diff` a change's SQL goes into: the first
/// (everything in one transaction), one of its own, or the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    First,
    Own,
    Last,
}

/// Whether `change` is written as a migration of its own ([`Step`]), and
/// whether it has a part in the last migration; the same on both backends,
/// so that both folders hold the same versions.
pub fn phases(change: &Change) -> (bool, bool) {
    match change {
        Change::AddIndex { index, .. } => (true, index.unique),
        // A unique one is a constraint on PostgreSQL, dropped in a transaction.
        Change::DropIndex { index, .. } => (!index.unique, false),
        _ => (false, false),
    }
}

/// The SQL of `change` on the database `conn` holds now: the changes both
/// dialects write alike here, the rest in each dialect's module.
pub fn render(conn: &mut DbConn, change: &Change) -> Result<Step, Error> {
    render_with(conn, change, &[])
}

/// [`render`], with `checks` written into the column an `AddColumn` adds.
fn render_with(
    conn: &mut DbConn,
    change: &Change,
    checks: &[&crate::model::Check],
) -> Result<Step, Error> {
    let backend = crate::catalog::backend_of(conn);
    let simple = |up: String, down: String| Step {
        up: vec![up],
        down: vec![down],
        ..Step::default()
    };
    let step = match change {
        Change::CreateTable { .. } => {
            let schema = crate::catalog::read(conn)?;
            create_table(backend, change, |parent| parent_key(&schema, parent))
        }
        Change::RenameTable { from, to } => simple(
            format!("ALTER TABLE {} RENAME TO {};", name(from), name(to)),
            format!("ALTER TABLE {} RENAME TO {};", name(to), name(from)),
        ),
        Change::RenameColumn { table, from, to } => {
            let rename = |a: &str, b: &str| {
                format!(
                    "ALTER TABLE {} RENAME COLUMN {} TO {};",
                    name(table),
                    name(a),
                    name(b)
                )
            };
            simple(rename(from, to), rename(to, from))
        }
        Change::AddColumn {
            table,
            column,
            default,
        } => {
            let definition = column_definition(backend, column, default.as_ref(), checks);
            simple(
                format!("ALTER TABLE {} ADD COLUMN {definition};", name(table)),
                format!(
                    "ALTER TABLE {} DROP COLUMN {};",
                    name(table),
                    name(&column.name)
                ),
            )
        }
        _ => {
            let read_error = |source: diesel::result::Error| Error::Catalog {
                source: Box::new(source),
            };
            return match backend {
                Backend::Sqlite => sqlite::render(conn, change).map_err(read_error),
                Backend::Postgres => postgres::render(conn, change).map_err(read_error),
            };
        }
    };
    Ok(step)
}

/// A column's definition in CREATE TABLE or ADD COLUMN: name, type,
/// default, NOT NULL and `checks`.
fn column_definition(
    backend: Backend,
    column: &crate::model::Column,
    default: Option<&DefaultValue>,
    checks: &[&crate::model::Check],
) -> String {
    let mut definition = format!("{} {}", name(&column.name), column.sql_type.sql(backend));
    if let Some(value) = default {
        definition.push_str(&format!(" DEFAULT {}", value.sql(backend)));
    }
    if !column.nullable {
        definition.push_str(" NOT NULL");
    }
    for check in checks {
        definition.push_str(&format!(
            " CONSTRAINT {} CHECK ({})",
            name(&check.name),
            check.rule.sql()
        ));
    }
    definition
}

/// The changes grouped into steps, in order: on SQLite every column change
/// and drop of one table is one group (one table rebuild, one copy of its
/// rows); everything else is a group of its own.
pub fn groups(backend: Backend, changes: &[Change]) -> Vec<Vec<&Change>> {
    let mut groups: Vec<Vec<&Change>> = Vec::new();
    for change in changes {
        // SQLite: a CHECK on a column this migration adds goes into its ADD
        // COLUMN (every row holds NULL there, which passes), not a rebuild.
        if let (Backend::Sqlite, Change::AddCheck { table, check }) = (backend, change) {
            let added = groups.iter_mut().find(|g| {
                matches!(g[0], Change::AddColumn { table: t, column, .. }
                    if t == table && check.rule.column() == Some(column.name.as_str()))
            });
            if let Some(group) = added {
                group.push(change);
                continue;
            }
        }
        let rebuilt = (backend == Backend::Sqlite && rebuilds(change)).then(|| change.table());
        let same_table = |group: &&mut Vec<&Change>| {
            group
                .first()
                .is_some_and(|first| rebuilds(first) && Some(first.table()) == rebuilt)
        };
        match groups
            .iter_mut()
            .find(|g| rebuilt.is_some() && same_table(g))
        {
            Some(group) => group.push(change),
            None => groups.push(vec![change]),
        }
    }
    groups
}

/// The changes SQLite makes by rebuilding their table: a new column whose
/// default is not a constant (ADD COLUMN refuses `DEFAULT CURRENT_TIMESTAMP`)
/// is one of them.
fn rebuilds(change: &Change) -> bool {
    matches!(
        change,
        Change::AddColumn {
            default: Some(DefaultValue::Now),
            ..
        } | Change::AlterColumn { .. }
            | Change::DropColumn { .. }
            | Change::SetDefault { .. }
            | Change::AddCheck { .. }
            | Change::DropCheck { .. }
            | Change::AddForeignKey { .. }
            | Change::DropForeignKey { .. }
    )
}

/// The SQL of a group from [`groups`] on the database `conn` holds now.
pub fn render_group(conn: &mut DbConn, group: &[&Change]) -> Result<Step, Error> {
    let backend = crate::catalog::backend_of(conn);
    if let Change::AddColumn { .. } = group[0] {
        if backend == Backend::Sqlite && rebuilds(group[0]) {
            return rebuild_group(conn, group);
        }
        let checks: Vec<&crate::model::Check> = group[1..]
            .iter()
            .filter_map(|c| match c {
                Change::AddCheck { check, .. } => Some(check),
                _ => None,
            })
            .collect();
        return render_with(conn, group[0], &checks);
    }
    if backend == Backend::Postgres || !rebuilds(group[0]) {
        return render(conn, group[0]);
    }
    rebuild_group(conn, group)
}

/// One SQLite table rebuild for every change of a group.
fn rebuild_group(conn: &mut DbConn, group: &[&Change]) -> Result<Step, Error> {
    let mut changes = sqlite::ColumnChanges::default();
    for change in group {
        match change {
            Change::AddColumn {
                column, default, ..
            } => changes.adds.push(column_definition(
                Backend::Sqlite,
                column,
                default.as_ref(),
                &[],
            )),
            Change::AlterColumn { from, to, fill, .. } => {
                changes.alters.push((from, to, fill.as_deref()))
            }
            Change::DropColumn { column, .. } => changes.drops.push(column),
            Change::SetDefault { column, to, .. } => changes.defaults.push((column, to.as_ref())),
            Change::AddCheck { check, .. } => changes.add_checks.push(check),
            Change::DropCheck { check, .. } => changes.drop_checks.push(check),
            Change::AddForeignKey { foreign_key, .. } => changes.add_fks.push(foreign_key),
            Change::DropForeignKey { foreign_key, .. } => changes.drop_fks.push(foreign_key),
            _ => unreachable!("groups() puts only changes SQLite rebuilds for together"),
        }
    }
    sqlite::rebuild_columns(conn, group[0].table(), &changes).map_err(|source| Error::Catalog {
        source: Box::new(source),
    })
}

/// A migration file: a header, then the statements. On SQLite, when a step
/// rebuilds a table, the file runs the rebuild as SQLite documents it
/// (<https://www.sqlite.org/lang_altertable.html#otheralter>): foreign keys
/// off, one transaction, `foreign_key_check` before the commit, foreign keys
/// back on. Such a migration has `run_in_transaction = false` in its
/// metadata.toml (see [`needs_own_transaction`]).
///
/// A PostgreSQL file that runs `concurrently` holds its one statement and no
/// timeouts: diesel sends a file whole, and PostgreSQL runs
/// `CREATE INDEX CONCURRENTLY` only as a statement on its own.
pub fn script(
    backend: Backend,
    header: &[String],
    transactions: &[Vec<String>],
    rebuild: bool,
    layout: Layout,
) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str(&format!("-- {line}\n"));
    }
    if backend == Backend::Postgres && layout == Layout::Explicit {
        out.push_str(
            "-- This migration runs outside diesel's transaction (metadata.toml), in transactions\n\
             -- of its own: up.sql adds a constraint NOT VALID in one (a moment's lock) and\n\
             -- validates it in the next (a scan that blocks neither reads nor writes).\n",
        );
        for statements in transactions.iter().filter(|t| !t.is_empty()) {
            out.push_str("BEGIN;\n");
            out.push_str(POSTGRES_TIMEOUTS);
            for statement in statements {
                out.push_str(statement.trim_end());
                out.push('\n');
            }
            out.push_str("COMMIT;\n");
        }
        return out;
    }
    if backend == Backend::Postgres && layout == Layout::InDiesels {
        out.push_str(POSTGRES_TIMEOUTS);
    }
    let statements: Vec<&String> = transactions.iter().flatten().collect();
    let own_transaction = backend == Backend::Sqlite && rebuild;
    if own_transaction {
        out.push_str(
            "-- SQLite rebuilds a table to change a column. Foreign keys are off while it does\n\
             -- (dropping the old table must not delete or check its children's rows), so\n\
             -- this migration runs outside diesel's transaction (metadata.toml) in its own.\n\
             PRAGMA foreign_keys = OFF;\nBEGIN IMMEDIATE;\n",
        );
    }
    for statement in statements {
        out.push_str(statement.trim_end());
        out.push('\n');
    }
    if own_transaction {
        out.push_str(&sqlite::stop_if_rows(
            "SELECT count(*) FROM pragma_foreign_key_check",
            "a foreign key (PRAGMA foreign_key_check): they refer to a row that is not there",
        ));
        out.push('\n');
        out.push_str("COMMIT;\nPRAGMA foreign_keys = ON;\n");
    }
    out
}

/// How a migration file runs its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// In diesel's transaction (PostgreSQL: with [`POSTGRES_TIMEOUTS`]).
    InDiesels,
    /// Outside any transaction, one statement: an index built CONCURRENTLY.
    Concurrent,
    /// PostgreSQL: outside diesel's transaction, each group of statements
    /// in a transaction of its own (`BEGIN`, the timeouts, …, `COMMIT`).
    Explicit,
}

/// What a PostgreSQL migration starts with, so that on a live fleet it fails
/// fast instead of queueing every other query behind the lock it waits for
/// (`bookshelf migrate lint` asks for both). `LOCAL`: for its transaction only.
pub const POSTGRES_TIMEOUTS: &str = "\
-- Give up rather than make every other query wait behind this migration's locks;
-- raise statement_timeout for a long backfill.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
";

/// The metadata.toml of a PostgreSQL migration that builds or drops an
/// index CONCURRENTLY.
pub const CONCURRENT_METADATA: &str =
    "# CONCURRENTLY: writes go on while the index is built; PostgreSQL does that only\n\
     # outside a transaction.\n\
     run_in_transaction = false\n";

/// The metadata.toml of a PostgreSQL migration with transactions of its own.
pub const EXPLICIT_METADATA: &str =
    "# up.sql and down.sql run transactions of their own (a constraint added NOT VALID,\n\
     # then validated); diesel must not wrap them in one.\n\
     run_in_transaction = false\n";

/// The metadata.toml of a migration that runs in its own transaction.
pub const OWN_TRANSACTION_METADATA: &str =
    "# up.sql and down.sql turn foreign keys off and run their own transaction\n\
     # (a SQLite table rebuild); diesel must not wrap them in one.\n\
     run_in_transaction = false\n";

/// Whether a migration of `backend` with these steps needs
/// [`OWN_TRANSACTION_METADATA`].
pub fn needs_own_transaction(backend: Backend, steps: &[Step]) -> bool {
    backend == Backend::Sqlite && steps.iter().any(|s| s.rebuild)
}

/// The column list of a new table, in both dialects: each column's type and
/// NOT NULL, a single integer key made the backend's auto-increment, and
/// each foreign key with its ON DELETE action. Then an index per foreign key.
fn create_table(backend: Backend, change: &Change, parent_key: impl Fn(&str) -> String) -> Step {
    let Change::CreateTable { table } = change else {
        unreachable!("create_table is given a CreateTable");
    };
    let single_key = match table.primary_key.as_slice() {
        [key] => Some(key.as_str()),
        _ => None,
    };
    let mut lines = Vec::new();
    for column in &table.columns {
        let mut line = format!(
            "    {} {}",
            name(&column.name),
            column.sql_type.sql(backend)
        );
        let auto = matches!(
            column.sql_type,
            crate::model::SqlType::Integer | crate::model::SqlType::BigInt
        );
        if single_key == Some(column.name.as_str()) {
            line.push_str(match (backend, auto) {
                (Backend::Sqlite, true) if column.sql_type == crate::model::SqlType::Integer => {
                    " PRIMARY KEY AUTOINCREMENT NOT NULL"
                }
                (Backend::Postgres, true) => " PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY",
                _ => " PRIMARY KEY NOT NULL",
            });
        } else if !column.nullable {
            line.push_str(" NOT NULL");
        }
        if let Some(default) = table.default_of(&column.name) {
            line.push_str(&format!(" DEFAULT {}", default.sql(backend)));
        }
        if let Some(fk) = table.foreign_key(&column.name) {
            line.push_str(&format!(
                " REFERENCES {} ({}) ON DELETE {}",
                name(&fk.parent),
                name(&parent_key(&fk.parent)),
                fk.on_delete.sql()
            ));
        }
        lines.push(line);
    }
    if single_key.is_none() {
        let keys: Vec<String> = table.primary_key.iter().map(|k| name(k)).collect();
        lines.push(format!("    PRIMARY KEY ({})", keys.join(", ")));
    }
    for check in &table.checks {
        lines.push(format!(
            "    CONSTRAINT {} CHECK ({})",
            name(&check.name),
            check.rule.sql()
        ));
    }
    // PostgreSQL: a unique index is a UNIQUE constraint; SQLite cannot drop
    // a table's constraint without a rebuild, so it is an index there.
    let (constraints, indexes): (Vec<&Index>, Vec<&Index>) = table
        .indexes
        .iter()
        .partition(|i| i.unique && backend == Backend::Postgres);
    for index in constraints {
        let columns: Vec<String> = index.columns.iter().map(|c| name(c)).collect();
        lines.push(format!(
            "    CONSTRAINT {} UNIQUE ({})",
            name(&index.name),
            columns.join(", ")
        ));
    }
    let mut up = vec![format!(
        "CREATE TABLE {} (\n{}\n);",
        name(&table.name),
        lines.join(",\n")
    )];
    for index in indexes {
        up.push(format!("{};", create_index(&table.name, index, false)));
    }
    Step {
        up,
        down: vec![format!("DROP TABLE {};", name(&table.name))],
        ..Step::default()
    }
}
