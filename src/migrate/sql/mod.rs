//! Changes → SQL, per dialect. Each change is written against the database
//! as it is just before it (the scratch database that `migrate diff`
//! replays), so what the model does not describe (CHECKs, defaults, indexes,
//! triggers) is read from there and kept.

mod postgres;
pub(crate) mod sqlite;

use super::diff::Change;
use crate::db::{Backend, DbConn, StartupError};

/// The SQL of one change: its up statements, and the down statements that
/// undo them. `rebuild` marks a SQLite table rebuild, which must run with
/// foreign keys off, so outside diesel's transaction (see [`script`]).
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub up: Vec<String>,
    pub down: Vec<String>,
    pub rebuild: bool,
}

/// The SQL of `change` on the database `conn` holds now: the changes both
/// dialects write alike here, the rest in each dialect's module.
pub fn render(conn: &mut DbConn, change: &Change) -> Result<Step, StartupError> {
    let backend = super::catalog::backend_of(conn);
    let simple = |up: String, down: String| Step {
        up: vec![up],
        down: vec![down],
        rebuild: false,
    };
    let step = match change {
        Change::CreateTable { .. } => {
            let schema = super::catalog::read(conn)?;
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
            let mut definition = format!("{} {}", name(&column.name), column.sql_type.sql(backend));
            if let Some(value) = default {
                definition.push_str(&format!(" DEFAULT {value}"));
            }
            if !column.nullable {
                definition.push_str(" NOT NULL");
            }
            simple(
                format!("ALTER TABLE {} ADD COLUMN {definition};", name(table)),
                format!(
                    "ALTER TABLE {} DROP COLUMN {};",
                    name(table),
                    name(&column.name)
                ),
            )
        }
        Change::DropTable { .. } | Change::DropColumn { .. } | Change::AlterColumn { .. } => {
            let read_error = |source: diesel::result::Error| StartupError::Catalog {
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

/// The statement that gives a column's NULLs a value, before it becomes NOT NULL.
fn fill_nulls(table: &str, column: &str, value: &str) -> String {
    format!(
        "UPDATE {} SET {} = {value} WHERE {} IS NULL;",
        name(table),
        name(column),
        name(column)
    )
}

/// The changes grouped into steps, in order: on SQLite every column change
/// and drop of one table is one group (one table rebuild, one copy of its
/// rows); everything else is a group of its own.
pub fn groups(backend: Backend, changes: &[Change]) -> Vec<Vec<&Change>> {
    let mut groups: Vec<Vec<&Change>> = Vec::new();
    for change in changes {
        let rebuilt = match change {
            Change::AlterColumn { table, .. } | Change::DropColumn { table, .. }
                if backend == Backend::Sqlite =>
            {
                Some(table)
            }
            _ => None,
        };
        let same_table = |group: &&mut Vec<&Change>| {
            matches!(group.first(),
                Some(Change::AlterColumn { table, .. } | Change::DropColumn { table, .. })
                    if Some(table) == rebuilt)
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

/// The SQL of a group from [`groups`] on the database `conn` holds now.
pub fn render_group(conn: &mut DbConn, group: &[&Change]) -> Result<Step, StartupError> {
    let [Change::AlterColumn { table, .. } | Change::DropColumn { table, .. }, _, ..] = group
    else {
        return render(conn, group[0]);
    };
    let mut changes = sqlite::ColumnChanges::default();
    for change in group {
        match change {
            Change::AlterColumn { from, to, fill, .. } => {
                changes.alters.push((from, to, fill.as_deref()))
            }
            Change::DropColumn { column, .. } => changes.drops.push(column),
            _ => unreachable!("groups() puts only column changes together"),
        }
    }
    sqlite::rebuild_columns(conn, table, &changes).map_err(|source| StartupError::Catalog {
        source: Box::new(source),
    })
}

/// A migration file: a header, then the statements. On SQLite, when a step
/// rebuilds a table, the file runs the rebuild as SQLite documents it
/// (<https://www.sqlite.org/lang_altertable.html#otheralter>): foreign keys
/// off, one transaction, `foreign_key_check` before the commit, foreign keys
/// back on. Such a migration has `run_in_transaction = false` in its
/// metadata.toml (see [`needs_own_transaction`]).
pub fn script(backend: Backend, header: &[String], statements: &[String], rebuild: bool) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str(&format!("-- {line}\n"));
    }
    if backend == Backend::Postgres {
        out.push_str(POSTGRES_TIMEOUTS);
    }
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
        out.push_str(&sqlite::expect_none(
            "every foreign key still holds (PRAGMA foreign_key_check)",
            "SELECT count(*) FROM pragma_foreign_key_check",
        ));
        out.push_str("COMMIT;\nPRAGMA foreign_keys = ON;\n");
    }
    out
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

/// An identifier as written in generated SQL: bare when that is safe,
/// double-quoted otherwise.
pub fn name(identifier: &str) -> String {
    const RESERVED: &[&str] = &[
        "all",
        "alter",
        "and",
        "as",
        "by",
        "case",
        "check",
        "column",
        "constraint",
        "create",
        "default",
        "delete",
        "desc",
        "distinct",
        "drop",
        "else",
        "end",
        "from",
        "group",
        "in",
        "index",
        "insert",
        "into",
        "is",
        "join",
        "key",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "or",
        "order",
        "primary",
        "references",
        "select",
        "set",
        "table",
        "then",
        "to",
        "union",
        "unique",
        "update",
        "user",
        "using",
        "values",
        "when",
        "where",
        "with",
    ];
    let plain = identifier
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && identifier
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&identifier);
    if plain {
        identifier.to_string()
    } else {
        super::catalog::ident(identifier)
    }
}

/// The column list of a new table, in both dialects: each column's type and
/// NOT NULL, a single integer key made the backend's auto-increment, and
/// each foreign key with its ON DELETE action. Then an index per foreign key.
fn create_table(backend: Backend, change: &Change, parent_key: impl Fn(&str) -> String) -> Step {
    let Change::CreateTable { table, on_delete } = change else {
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
            super::model::SqlType::Integer | super::model::SqlType::BigInt
        );
        if single_key == Some(column.name.as_str()) {
            line.push_str(match (backend, auto) {
                (Backend::Sqlite, true) if column.sql_type == super::model::SqlType::Integer => {
                    " PRIMARY KEY AUTOINCREMENT NOT NULL"
                }
                (Backend::Postgres, true) => " PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY",
                _ => " PRIMARY KEY NOT NULL",
            });
        } else if !column.nullable {
            line.push_str(" NOT NULL");
        }
        if let Some(i) = table
            .foreign_keys
            .iter()
            .position(|fk| fk.column == column.name)
        {
            let parent = &table.foreign_keys[i].parent;
            line.push_str(&format!(
                " REFERENCES {} ({}) ON DELETE {}",
                name(parent),
                name(&parent_key(parent)),
                on_delete.get(i).copied().unwrap_or_default().sql()
            ));
        }
        lines.push(line);
    }
    if single_key.is_none() {
        let keys: Vec<String> = table.primary_key.iter().map(|k| name(k)).collect();
        lines.push(format!("    PRIMARY KEY ({})", keys.join(", ")));
    }
    let mut up = vec![format!(
        "CREATE TABLE {} (\n{}\n);",
        name(&table.name),
        lines.join(",\n")
    )];
    for fk in &table.foreign_keys {
        up.push(format!(
            "CREATE INDEX {} ON {} ({});",
            name(&format!("{}_{}_idx", table.name, fk.column)),
            name(&table.name),
            name(&fk.column)
        ));
    }
    Step {
        up,
        down: vec![format!("DROP TABLE {};", name(&table.name))],
        rebuild: false,
    }
}

/// The primary key a foreign key to `parent` refers to, read from the
/// database (the parent exists, or was created by an earlier step).
fn parent_key(schema: &super::model::Schema, parent: &str) -> String {
    schema
        .table(parent)
        .and_then(|t| t.primary_key.first().cloned())
        .unwrap_or_else(|| "id".to_string())
}
