//! PostgreSQL's SQL for each change: everything is an ALTER in place; what a
//! down.sql re-creates (a dropped table or column) is read from the catalog
//! first, with its defaults, constraints and indexes.

use diesel::QueryResult;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::statements::{
    breaking_rows, create_index, duplicate_rows, fill_nulls, null_reason, null_rows, orphan_rows,
    parent_key, Step,
};
use crate::catalog;
use crate::connection::{Backend, DbConn};
use crate::diff::Change;
use crate::idents::literal;
use crate::idents::name;
use crate::model::{Column, SqlType};

/// Dropped tables and columns, and altered columns (the changes the
/// dialects write differently).
pub(super) fn render(conn: &mut DbConn, change: &Change) -> QueryResult<Step> {
    Ok(match change {
        Change::DropTable { table } => Step {
            up: vec![format!("DROP TABLE {};", name(&table.name))],
            down: catalog::postgres_table_definition(conn, &table.name)?,
            ..Step::default()
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
            ..Step::default()
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
            let mut down = alter(table, to, from);
            if from.sql_type != to.sql_type {
                down.extend(catalog::postgres_column_expressions(
                    conn, table, &from.name,
                )?);
            }
            if !from.nullable || to.nullable {
                up.extend(alter(table, from, to));
                return Ok(Step {
                    up,
                    down,
                    ..Step::default()
                });
            }
            // NOT NULL without a scan under the exclusive lock: a CHECK
            // added NOT VALID, validated in a transaction of its own (no
            // lock on reads or writes), then SET NOT NULL, which PostgreSQL
            // 12+ takes from the valid CHECK without scanning.
            let typed = Column {
                nullable: true,
                ..to.clone()
            };
            up.extend(alter(table, from, &typed));
            let check = format!("{table}_{}_not_null", to.name);
            let mut step = not_valid(
                table,
                &check,
                &format!("CHECK ({} IS NOT NULL)", name(&to.name)),
                stop_if_rows(&null_rows(table, &to.name), &null_reason(table, &to.name)),
            );
            up.append(&mut step.up);
            step.up = up;
            step.down = down;
            step.finally = vec![
                format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
                    name(table),
                    name(&to.name)
                ),
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT {};",
                    name(table),
                    name(&check)
                ),
            ];
            step
        }
        Change::SetDefault {
            table,
            column,
            from,
            to,
        } => {
            let set = |value: &Option<crate::model::DefaultValue>| {
                let what = value.as_ref().map_or("DROP DEFAULT".to_string(), |v| {
                    format!("SET DEFAULT {}", v.sql(Backend::Postgres))
                });
                format!(
                    "ALTER TABLE {} ALTER COLUMN {} {what};",
                    name(table),
                    name(column)
                )
            };
            Step {
                up: vec![set(to)],
                down: vec![set(from)],
                ..Step::default()
            }
        }
        Change::AddIndex { table, index } => {
            let mut step = Step {
                up: vec![format!("{};", create_index(table, index, true))],
                down: vec![format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {};",
                    name(&index.name)
                )],
                ..Step::default()
            };
            if index.unique {
                step.guard.push(stop_if_rows(
                    &duplicate_rows(table, index),
                    &format!("{index} on {table}: they share their values with another row"),
                ));
                step.then_up.push(format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {};",
                    name(table),
                    name(&index.name),
                    name(&index.name)
                ));
                // Dropping the constraint drops its index too: build it again
                // (in this transaction, as a down.sql may), so that the
                // migration before, which made it, still stands.
                step.then_down.push(format!(
                    "ALTER TABLE {} DROP CONSTRAINT {};",
                    name(table),
                    name(&index.name)
                ));
                step.then_down
                    .push(format!("{};", create_index(table, index, false)));
            }
            step
        }
        Change::DropIndex { table, index } if index.constraint => Step {
            up: vec![format!(
                "ALTER TABLE {} DROP CONSTRAINT {};",
                name(table),
                name(&index.name)
            )],
            down: vec![format!(
                "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({});",
                name(table),
                name(&index.name),
                index
                    .columns
                    .iter()
                    .map(|c| name(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            ..Step::default()
        },
        // A unique index no constraint owns (made by hand): in the
        // transaction, as sql::phases puts every unique one there.
        Change::DropIndex { table, index } if index.unique => Step {
            up: vec![format!("DROP INDEX {};", name(&index.name))],
            down: vec![format!("{};", create_index(table, index, false))],
            ..Step::default()
        },
        Change::DropIndex { table, index } => Step {
            up: vec![format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {};",
                name(&index.name)
            )],
            down: vec![format!("{};", create_index(table, index, true))],
            ..Step::default()
        },
        Change::AddCheck { table, check } => not_valid(
            table,
            &check.name,
            &format!("CHECK ({})", check.rule.sql()),
            stop_if_rows(
                &breaking_rows(table, &check.rule),
                &format!("{check} on {table}"),
            ),
        ),
        Change::DropCheck { table, check } => Step {
            up: vec![format!(
                "ALTER TABLE {} DROP CONSTRAINT {};",
                name(table),
                name(&check.name)
            )],
            down: vec![catalog::postgres_constraint(conn, table, &check.name)?],
            ..Step::default()
        },
        Change::AddForeignKey { table, foreign_key } => {
            let schema = catalog::read(conn)
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
            let key = parent_key(&schema, &foreign_key.parent);
            not_valid(
                table,
                &foreign_key.name(table),
                &format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                    name(&foreign_key.column),
                    name(&foreign_key.parent),
                    name(&key),
                    foreign_key.on_delete.sql()
                ),
                stop_if_rows(
                    &orphan_rows(table, &foreign_key.column, &foreign_key.parent, &key),
                    &format!(
                        "foreign key {table}.{} -> {p}: they refer to no row of {p}",
                        foreign_key.column,
                        p = foreign_key.parent
                    ),
                ),
            )
        }
        Change::DropForeignKey { table, foreign_key } => {
            let constraint = foreign_key_name(conn, table, &foreign_key.column)?;
            Step {
                up: vec![format!(
                    "ALTER TABLE {} DROP CONSTRAINT {};",
                    name(table),
                    name(&constraint)
                )],
                down: vec![catalog::postgres_constraint(conn, table, &constraint)?],
                ..Step::default()
            }
        }
        _ => unreachable!("sql::render writes {change} itself"),
    })
}

/// A constraint (`definition`: `CHECK (…)`, `FOREIGN KEY …`) added NOT VALID
/// after `guard` has found no row that breaks it, then validated in a
/// transaction of its own; down drops it. `DROP … IF EXISTS` first: a run
/// whose VALIDATE failed left it NOT VALID, and this one starts again.
fn not_valid(table: &str, constraint: &str, definition: &str, guard: String) -> Step {
    let (table, constraint) = (name(table), name(constraint));
    Step {
        up: vec![
            guard,
            format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint};"),
            format!("ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition} NOT VALID;"),
        ],
        validate: vec![format!(
            "ALTER TABLE {table} VALIDATE CONSTRAINT {constraint};"
        )],
        down: vec![format!("ALTER TABLE {table} DROP CONSTRAINT {constraint};")],
        ..Step::default()
    }
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    text: String,
}

/// The name of the foreign key on `table.column`.
fn foreign_key_name(conn: &mut DbConn, table: &str, column: &str) -> QueryResult<String> {
    let found: Found = diesel::sql_query(format!(
        "SELECT c.conname::text AS text FROM pg_constraint c JOIN pg_attribute a \
           ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND c.conrelid = {}::regclass AND a.attname = {} \
           AND cardinality(c.conkey) = 1",
        literal(table),
        literal(column)
    ))
    .get_result(conn)?;
    Ok(found.text)
}

/// A `DO` block that raises an error naming `why` and the count, when
/// `count_sql` counts any rows: the migration stops before it changes
/// anything.
pub(super) fn stop_if_rows(count_sql: &str, why: &str) -> String {
    format!(
        "-- Stop here, before anything changes, if rows break what comes next.\n\
         DO $bookshelf$ DECLARE breaking bigint; BEGIN\n\
         \x20   SELECT ({count_sql}) INTO breaking;\n\
         \x20   IF breaking > 0 THEN\n\
         \x20       RAISE EXCEPTION '% row(s) break %; fix or delete them, then migrate again', breaking, {};\n\
         \x20   END IF;\n\
         END $bookshelf$;",
        literal(why)
    )
}

/// `ALTER COLUMN` statements from one column definition to another: the type
/// with an explicit cast (a value that does not convert stops the migration),
/// then NOT NULL set or dropped.
fn alter(table: &str, from: &Column, to: &Column) -> Vec<String> {
    let column = name(&to.name);
    let mut out = Vec::new();
    if from.sql_type != to.sql_type {
        let sql_type = to.sql_type.sql(Backend::Postgres);
        // A timestamptz holds an instant; bookshelf's timestamps are UTC.
        let using = if from.sql_type == SqlType::Timestamptz && to.sql_type == SqlType::Timestamp {
            format!("{column} AT TIME ZONE 'UTC'")
        } else {
            format!("{column}::{sql_type}")
        };
        out.push(format!(
            "ALTER TABLE {} ALTER COLUMN {column} TYPE {sql_type} USING {using};",
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
