//! SQLite's SQL for each change. SQLite can add, rename and drop columns in
//! place, but not change one's type or nullability; for those (and for a
//! drop, so that down.sql can put the column back where it was) the table
//! is rebuilt from its own `CREATE TABLE` text, edited, so that CHECKs,
//! defaults, collations, foreign keys and AUTOINCREMENT stay as they were,
//! and its indexes and triggers are created again from their own text.

use diesel::QueryResult;

use super::statements::{
    breaking_rows, create_index, duplicate_rows, fill_nulls, null_reason, null_rows, orphan_rows,
    parent_key, Step,
};
use crate::catalog::{self, SqliteObject};
use crate::connection::{Backend, DbConn};
use crate::diff::Change;
use crate::idents::literal;
use crate::idents::name;
use crate::model::{Check, Column, DefaultValue, ForeignKey, SqlType};
use crate::sqlite_ddl::Definition;

const REBUILT: &str = "_bookshelf_rebuild";

/// Dropped tables and columns, and altered columns (the changes the
/// dialects write differently).
pub(super) fn render(conn: &mut DbConn, change: &Change) -> QueryResult<Step> {
    Ok(match change {
        Change::DropTable { table } => {
            let objects = catalog::sqlite_objects(conn, &table.name)?;
            Step {
                up: vec![format!("DROP TABLE {};", name(&table.name))],
                down: objects.iter().map(|o| format!("{};", o.sql)).collect(),
                ..Step::default()
            }
        }
        Change::DropColumn { table, column } => {
            let changes = ColumnChanges {
                drops: vec![column],
                ..ColumnChanges::default()
            };
            rebuild_columns(conn, table, &changes)?
        }
        Change::AlterColumn {
            table,
            from,
            to,
            fill,
        } => {
            let changes = ColumnChanges {
                alters: vec![(from, to, fill.as_deref())],
                ..ColumnChanges::default()
            };
            rebuild_columns(conn, table, &changes)?
        }
        Change::AddIndex { table, index } => {
            let mut step = Step {
                up: vec![format!("{};", create_index(table, index, false))],
                down: vec![format!("DROP INDEX {};", name(&index.name))],
                ..Step::default()
            };
            if index.unique {
                step.guard.push(stop_if_rows(
                    &duplicate_rows(table, index),
                    &format!("{index} on {table}: they share their values with another row"),
                ));
            }
            step
        }
        Change::DropIndex { table, index } => {
            let objects = catalog::sqlite_objects(conn, table)?;
            let Some(made) = objects
                .iter()
                .find(|o| o.kind == "index" && o.name == index.name)
            else {
                return Err(diesel::result::Error::QueryBuilderError(
                    format!(
                        "{index} on {table} is a UNIQUE constraint of its CREATE TABLE; \
                         migrate diff does not drop that on SQLite: write it with `bookshelf migrate new`"
                    )
                    .into(),
                ));
            };
            Step {
                up: vec![format!("DROP INDEX {};", name(&index.name))],
                down: vec![format!("{};", made.sql)],
                ..Step::default()
            }
        }
        _ => unreachable!("sql::render writes {change} itself"),
    })
}

/// Statements that stop the migration, before anything after them runs,
/// when `count_sql` counts rows: the error says how many and `why`. SQL has
/// no assertion, but a trigger's RAISE does.
pub(super) fn stop_if_rows(count_sql: &str, why: &str) -> String {
    let table = format!("{REBUILT}_guard");
    format!(
        "-- Stop here, before anything changes, if rows break what comes next.\n\
         CREATE TEMP TABLE {table} (n INTEGER);\n\
         CREATE TEMP TRIGGER {table}_stop BEFORE INSERT ON {table} WHEN NEW.n > 0 BEGIN\n\
         \x20   SELECT RAISE(ABORT, NEW.n || ' row(s) break ' || {} || '; fix or delete them, then migrate again');\n\
         END;\n\
         INSERT INTO {table} (n) {count_sql};\n\
         DROP TABLE {table};",
        literal(why)
    )
}

/// What one table rebuild changes: columns altered (from, to, the value
/// for NULLs), columns dropped, defaults set (or dropped, `None`), CHECKs
/// and foreign keys added and dropped.
#[derive(Default)]
pub(super) struct ColumnChanges<'a> {
    /// Columns added by the rebuild (SQLite's ADD COLUMN takes no
    /// non-constant default, such as CURRENT_TIMESTAMP), each as its
    /// definition: the rows already there get its default as they are copied.
    pub adds: Vec<String>,
    pub alters: Vec<(&'a Column, &'a Column, Option<&'a str>)>,
    pub drops: Vec<&'a Column>,
    pub defaults: Vec<(&'a str, Option<&'a DefaultValue>)>,
    pub add_checks: Vec<&'a Check>,
    pub drop_checks: Vec<&'a Check>,
    pub add_fks: Vec<&'a ForeignKey>,
    pub drop_fks: Vec<&'a ForeignKey>,
}

/// One rebuild of `table` for all its column changes: up.sql fills NULLs,
/// checks that narrowed values convert, and rebuilds with the edited
/// definition; down.sql rebuilds with the original definition, casting back,
/// and gives a dropped NOT NULL column without a default a placeholder.
pub(super) fn rebuild_columns(
    conn: &mut DbConn,
    table: &str,
    changes: &ColumnChanges,
) -> QueryResult<Step> {
    let objects = catalog::sqlite_objects(conn, table)?;
    let original = &objects[0];
    let definition = Definition::parse(&original.sql);
    let dropped = |c: &str| changes.drops.iter().any(|d| d.name == c);
    let altered = |c: &str| changes.alters.iter().find(|(_, to, _)| to.name == c);
    let mut edited = definition.clone();
    for (from, to, _) in &changes.alters {
        let sql_type = (from.sql_type != to.sql_type).then_some(to.sql_type);
        edited = edited.with_column(&to.name, sql_type, to.nullable);
    }
    for column in &changes.drops {
        edited = edited.without_column(&column.name);
    }
    for added in &changes.adds {
        edited = edited.with_added_column(added);
    }
    for (column, value) in &changes.defaults {
        edited = edited.with_default(column, value.map(|v| v.sql(Backend::Sqlite)));
    }
    for check in &changes.drop_checks {
        edited = edited.without_check(check);
    }
    for fk in &changes.drop_fks {
        edited = edited.without_foreign_key(&fk.column);
    }
    for check in &changes.add_checks {
        edited.items.push(format!(
            "\n    CONSTRAINT {} CHECK ({})",
            name(&check.name),
            check.rule.sql()
        ));
    }
    // The parents' keys, read only when a foreign key is added.
    let keys = if changes.add_fks.is_empty() {
        crate::model::Schema::default()
    } else {
        catalog::read(conn)
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?
    };
    for fk in &changes.add_fks {
        let key = parent_key(&keys, &fk.parent);
        edited.items.push(format!(
            "\n    FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
            name(&fk.column),
            name(&fk.parent),
            name(&key),
            fk.on_delete.sql()
        ));
    }
    // Each kept column, cast to its new type (up) or back to its old (down).
    let copy = |up: bool| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in definition.columns() {
            let expr = match altered(&c) {
                Some((from, to, _)) if from.sql_type != to.sql_type => {
                    let target = if up { to.sql_type } else { from.sql_type };
                    format!("CAST({} AS {})", name(&c), target.sql(Backend::Sqlite))
                }
                _ => name(&c),
            };
            match changes.drops.iter().find(|d| d.name == c) {
                None => out.push((c, expr)),
                Some(_) if up => {}
                Some(d) if !d.nullable && !definition.has_default(&c) => {
                    let placeholder = d.sql_type.placeholder(Backend::Sqlite).to_string();
                    out.push((c, placeholder));
                }
                // Nullable or with a default: the column's own fills it.
                Some(_) => {}
            }
        }
        out
    };
    let (dependents, skipped): (Vec<&SqliteObject>, Vec<&SqliteObject>) = objects[1..]
        .iter()
        .partition(|o| !o.columns.split(',').any(dropped));
    let mut up = Vec::new();
    for index in skipped {
        up.push(format!(
            "-- Index {} is on a dropped column of {table}; it goes with it (down.sql puts it back).",
            index.name
        ));
    }
    for (from, to, fill) in &changes.alters {
        up.extend(fill.map(|value| fill_nulls(table, &to.name, value)));
        if from.nullable && !to.nullable {
            up.push(stop_if_rows(
                &null_rows(table, &to.name),
                &null_reason(table, &to.name),
            ));
        }
    }
    for check in &changes.add_checks {
        up.push(stop_if_rows(
            &breaking_rows(table, &check.rule),
            &format!("{check} on {table}"),
        ));
    }
    for fk in &changes.add_fks {
        let key = parent_key(&keys, &fk.parent);
        up.push(stop_if_rows(
            &orphan_rows(table, &fk.column, &fk.parent, &key),
            &format!(
                "foreign key {table}.{} -> {p}: they refer to no row of {p}",
                fk.column,
                p = fk.parent
            ),
        ));
    }
    let mut down = Vec::new();
    for (from, to, _) in &changes.alters {
        up.extend(guard(table, from, to));
        down.extend(guard(table, to, from));
    }
    up.extend(rebuild(
        table,
        &edited.text(),
        &copy(true),
        &dependents,
        &original.sql,
    ));
    let all: Vec<&SqliteObject> = objects[1..].iter().collect();
    down.extend(rebuild(
        table,
        &original.sql,
        &copy(false),
        &all,
        &original.sql,
    ));
    Ok(Step {
        up,
        down,
        rebuild: true,
        ..Step::default()
    })
}

/// For a type change that is not a widening: stop before anything changes if
/// a value would not survive the cast (SQLite would convert 'abc' to 0).
fn guard(table: &str, from: &Column, to: &Column) -> Vec<String> {
    if from.sql_type == to.sql_type || from.sql_type.widens_to(to.sql_type) {
        return Vec::new();
    }
    let column = name(&to.name);
    let cast = format!("CAST({column} AS {})", to.sql_type.sql(Backend::Sqlite));
    let range = match to.sql_type {
        SqlType::SmallInt => format!(" OR {cast} NOT BETWEEN -32768 AND 32767"),
        SqlType::Integer => format!(" OR {cast} NOT BETWEEN -2147483648 AND 2147483647"),
        _ => String::new(),
    };
    vec![stop_if_rows(
        &format!(
            "SELECT count(*) FROM {} WHERE {column} IS NOT NULL AND ({cast} IS NOT {column}{range})",
            name(table)
        ),
        &format!(
            "the change of {table}.{} to {}: their values do not convert unchanged",
            to.name,
            to.sql_type.diesel_name()
        ),
    )]
}

/// SQLite's table rebuild: a new table from `create_sql`, the rows copied
/// (`copy`: column → expression over the old table), the old table dropped,
/// the new one renamed, its AUTOINCREMENT counter kept, and `dependents`
/// (indexes, triggers) created again from their own SQL.
fn rebuild(
    table: &str,
    create_sql: &str,
    copy: &[(String, String)],
    dependents: &[&SqliteObject],
    original_sql: &str,
) -> Vec<String> {
    let new_table = Definition::parse(create_sql).renamed(REBUILT);
    let targets: Vec<String> = copy.iter().map(|(c, _)| name(c)).collect();
    let exprs: Vec<&str> = copy.iter().map(|(_, e)| e.as_str()).collect();
    let mut out = vec![
        format!("-- Rebuild {table}: new table, copy, drop, rename."),
        format!("{new_table};"),
        format!(
            "INSERT INTO {REBUILT} ({}) SELECT {} FROM {};",
            targets.join(", "),
            exprs.join(", "),
            name(table)
        ),
    ];
    if original_sql.to_ascii_uppercase().contains("AUTOINCREMENT") {
        out.push(format!(
            "DELETE FROM sqlite_sequence WHERE name = '{REBUILT}';\n\
             INSERT INTO sqlite_sequence (name, seq) SELECT '{REBUILT}', seq FROM sqlite_sequence WHERE name = {};",
            literal(table)
        ));
    }
    out.push(format!("DROP TABLE {};", name(table)));
    out.push(format!("ALTER TABLE {REBUILT} RENAME TO {};", name(table)));
    for object in dependents {
        out.push(format!("{};", object.sql));
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    const BOOKS: &str = "CREATE TABLE books (\n    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,\n    \"title\" VARCHAR(200) NOT NULL CHECK (length(title) BETWEEN 1 AND 200), -- a, comment\n    price DOUBLE NOT NULL DEFAULT 0,\n    note TEXT COLLATE NOCASE,\n    CHECK (price < 1000000)\n)";

    #[test]
    fn a_create_table_is_split_into_its_columns_and_constraints() {
        let definition = Definition::parse(BOOKS);
        assert_eq!(definition.items.len(), 5);
        assert_eq!(definition.columns(), ["id", "title", "price", "note"]);
        assert!(definition.has_default("price"));
        assert!(!definition.has_default("title"));
    }

    #[test]
    fn a_column_changes_type_and_nullability_and_keeps_the_rest() {
        let definition = Definition::parse(BOOKS);
        let edited = definition
            .with_column("title", Some(SqlType::Text), true)
            .text();
        assert!(
            edited
                .contains("\"title\" TEXT CHECK (length(title) BETWEEN 1 AND 200), -- a, comment"),
            "{edited}"
        );
        let edited = definition
            .with_column("note", Some(SqlType::Integer), false)
            .text();
        assert!(
            edited.contains("note INTEGER NOT NULL COLLATE NOCASE"),
            "{edited}"
        );
        let edited = definition.with_column("price", None, true).text();
        assert!(edited.contains("price DOUBLE DEFAULT 0,"), "{edited}");
        let dropped = definition.without_column("note").text();
        assert!(!dropped.contains("note"), "{dropped}");
        assert!(dropped.contains("CHECK (price < 1000000)"), "{dropped}");
    }
}
