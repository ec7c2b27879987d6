//! PostgreSQL's SQL for each change: everything is an ALTER in place; what a
//! down.sql re-creates (a dropped table or column) is read from the catalog
//! first, with its defaults, constraints and indexes.

use diesel::QueryResult;

use super::{create_table, name, parent_key, Step};
use crate::db::{Backend, DbConn};
use crate::migrate::catalog;
use crate::migrate::diff::Change;
use crate::migrate::model::Column;

pub(super) fn render(conn: &mut DbConn, change: &Change) -> QueryResult<Step> {
    let simple = |up: String, down: String| Step {
        up: vec![up],
        down: vec![down],
        rebuild: false,
    };
    Ok(match change {
        Change::CreateTable { .. } => {
            let schema = catalog::read(conn).map_err(|_| diesel::result::Error::NotFound)?;
            create_table(Backend::Postgres, change, |parent| {
                parent_key(&schema, parent)
            })
        }
        Change::DropTable { table } => Step {
            up: vec![format!("DROP TABLE {};", name(&table.name))],
            down: catalog::postgres_table_definition(conn, &table.name)?,
            rebuild: false,
        },
        Change::RenameTable { from, to } => simple(
            format!("ALTER TABLE {} RENAME TO {};", name(from), name(to)),
            format!("ALTER TABLE {} RENAME TO {};", name(to), name(from)),
        ),
        Change::RenameColumn { table, from, to } => simple(
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                name(table),
                name(from),
                name(to)
            ),
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                name(table),
                name(to),
                name(from)
            ),
        ),
        Change::AddColumn {
            table,
            column,
            default,
        } => {
            let mut definition = format!(
                "{} {}",
                name(&column.name),
                column.sql_type.sql(Backend::Postgres)
            );
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
            let mut up = Vec::new();
            if let Some(value) = fill {
                up.push(format!(
                    "UPDATE {} SET {} = {value} WHERE {} IS NULL;",
                    name(table),
                    name(&to.name),
                    name(&to.name)
                ));
            }
            up.extend(alter(table, from, to));
            Step {
                up,
                down: alter(table, to, from),
                rebuild: false,
            }
        }
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
