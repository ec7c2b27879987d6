//! PostgreSQL's SQL for each change: everything is an ALTER in place; what a
//! down.sql re-creates (a dropped table or column) is read from the catalog
//! first, with its defaults, constraints and indexes.

use diesel::QueryResult;

use super::{fill_nulls, name, Step};
use crate::db::{Backend, DbConn};
use crate::migrate::catalog;
use crate::migrate::diff::Change;
use crate::migrate::model::Column;

/// Dropped tables and columns, and altered columns (the changes the
/// dialects write differently).
pub(super) fn render(conn: &mut DbConn, change: &Change) -> QueryResult<Step> {
    Ok(match change {
        Change::DropTable { table } => Step {
            up: vec![format!("DROP TABLE {};", name(&table.name))],
            down: catalog::postgres_table_definition(conn, &table.name)?,
            rebuild: false,
        },
        Change::DropColumn { table, column } => Step {
            up: vec![format!(
                "ALTER TABLE {} DROP COLUMN {};",
                name(table),
                name(&column.name)
            )],
            down: catalog::postgres_column_definition(
                conn,
                table,
                &column.name,
                column.sql_type.placeholder(Backend::Postgres),
            )?,
            rebuild: false,
        },
        Change::AlterColumn {
            table,
            from,
            to,
            fill,
        } => {
            let mut up: Vec<String> = fill
                .iter()
                .map(|value| fill_nulls(table, &to.name, value))
                .collect();
            up.extend(alter(table, from, to));
            let mut down = alter(table, to, from);
            if from.sql_type != to.sql_type {
                down.extend(catalog::postgres_column_expressions(
                    conn, table, &from.name,
                )?);
            }
            Step {
                up,
                down,
                rebuild: false,
            }
        }
        _ => unreachable!("sql::render writes {change} itself"),
    })
}

/// `ALTER COLUMN` statements from one column definition to another: the type
/// with an explicit cast (a value that does not convert stops the migration),
/// then NOT NULL set or dropped.
fn alter(table: &str, from: &Column, to: &Column) -> Vec<String> {
    let column = name(&to.name);
    let mut out = Vec::new();
    if from.sql_type != to.sql_type {
        let sql_type = to.sql_type.sql(Backend::Postgres);
        out.push(format!(
            "ALTER TABLE {} ALTER COLUMN {column} TYPE {sql_type} USING {column}::{sql_type};",
            name(table)
        ));
    }
    if from.nullable != to.nullable {
        let verb = if to.nullable { "DROP" } else { "SET" };
        out.push(format!(
            "ALTER TABLE {} ALTER COLUMN {column} {verb} NOT NULL;",
            name(table)
        ));
    }
    out
}
