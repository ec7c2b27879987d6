//! The changes that take a schema (the database's, after its migrations) to
//! another (src/schema.rs). Backend-free: [`super::sql`] writes the SQL.
//!
//! What is never guessed: a rename (only from a `--rename` hint; otherwise a
//! column that went away is a drop, refused without `--allow-data-loss`), a
//! value for existing rows of a new NOT NULL column (`--default`), and
//! whether a lossy change may lose data (`--allow-data-loss`).

use std::collections::BTreeMap;
use std::fmt;

use super::model::{Column, ForeignKey, Schema, Table};

/// What a foreign key does when its parent row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDelete {
    /// Delete the child rows too (the default, as reviews go with their book).
    #[default]
    Cascade,
    /// Refuse to delete a parent that has children.
    Restrict,
    /// Set the child's column to NULL.
    SetNull,
    /// Like RESTRICT, checked at the end of the statement.
    NoAction,
}

impl OnDelete {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Cascade => "CASCADE",
            OnDelete::Restrict => "RESTRICT",
            OnDelete::SetNull => "SET NULL",
            OnDelete::NoAction => "NO ACTION",
        }
    }

    fn parse(text: &str) -> Option<OnDelete> {
        match text.to_ascii_lowercase().replace(['_', ' '], "-").as_str() {
            "cascade" => Some(OnDelete::Cascade),
            "restrict" => Some(OnDelete::Restrict),
            "set-null" => Some(OnDelete::SetNull),
            "no-action" => Some(OnDelete::NoAction),
            _ => None,
        }
    }
}

/// What the command line says about the changes: renames, values for
/// existing rows, foreign-key actions, and whether data may be lost.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Old table name → new.
    pub table_renames: BTreeMap<String, String>,
    /// (table, old column) → new column. The table is named as in src/schema.rs.
    pub column_renames: BTreeMap<(String, String), String>,
    /// (table, column) → an SQL literal for rows that have no value.
    pub defaults: BTreeMap<(String, String), String>,
    /// (table, column) → the action of that column's new foreign key.
    pub on_delete: BTreeMap<(String, String), OnDelete>,
    pub allow_data_loss: bool,
}

/// `TABLE.COLUMN`, checked.
fn table_column(text: &str) -> Result<(String, String), String> {
    match text.split_once('.') {
        Some((table, column)) if is_name(table) && is_name(column) => {
            Ok((table.to_string(), column.to_string()))
        }
        _ => Err(format!("{text:?} is not TABLE.COLUMN")),
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Options {
    /// `--rename books.blurb=description` (a column) or `--rename old=new` (a table).
    pub fn rename(&mut self, hint: &str) -> Result<(), String> {
        let Some((from, to)) = hint.split_once('=') else {
            return Err(format!(
                "--rename {hint:?}: write TABLE.OLD=NEW for a column or OLD=NEW for a table"
            ));
        };
        if from.contains('.') {
            let key = table_column(from).map_err(|e| format!("--rename: {e}"))?;
            if !is_name(to) {
                return Err(format!("--rename {hint:?}: {to:?} is not a column name"));
            }
            self.column_renames.insert(key, to.to_string());
        } else {
            if !is_name(from) || !is_name(to) {
                return Err(format!(
                    "--rename {hint:?}: OLD and NEW must be table names"
                ));
            }
            self.table_renames.insert(from.to_string(), to.to_string());
        }
        Ok(())
    }

    /// `--default books.isbn="''"`: the value given to existing rows.
    pub fn default_value(&mut self, assignment: &str) -> Result<(), String> {
        let (target, value) = assignment.split_once('=').ok_or_else(|| {
            format!("--default {assignment:?}: write TABLE.COLUMN=VALUE (an SQL literal)")
        })?;
        let key = table_column(target).map_err(|e| format!("--default: {e}"))?;
        if value.trim().is_empty() || value.contains(';') {
            return Err(format!(
                "--default {assignment:?}: VALUE must be one SQL literal, such as '' or 0"
            ));
        }
        self.defaults.insert(key, value.trim().to_string());
        Ok(())
    }

    /// `--on-delete tags.book_id=restrict`.
    pub fn on_delete(&mut self, assignment: &str) -> Result<(), String> {
        let parsed = assignment.split_once('=').and_then(|(target, action)| {
            Some((table_column(target).ok()?, OnDelete::parse(action)?))
        });
        let (key, action) = parsed.ok_or_else(|| {
            format!(
                "--on-delete {assignment:?}: write TABLE.COLUMN=ACTION, \
                 ACTION one of cascade, restrict, set-null, no-action"
            )
        })?;
        self.on_delete.insert(key, action);
        Ok(())
    }
}

/// One change of the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateTable {
        table: Table,
        on_delete: Vec<OnDelete>,
    },
    DropTable {
        table: Table,
    },
    RenameTable {
        from: String,
        to: String,
    },
    AddColumn {
        table: String,
        column: Column,
        default: Option<String>,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// A new type and/or nullability; `fill` is the value for NULLs when it
    /// becomes NOT NULL.
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
        fill: Option<String>,
    },
}

impl Change {
    /// What data this change can lose, if any: it is then refused without
    /// `--allow-data-loss`, and up.sql says it in a comment.
    pub fn data_loss(&self) -> Option<String> {
        match self {
            Change::DropTable { table } => Some(format!("every row of {}", table.name)),
            Change::DropColumn { table, column } => {
                Some(format!("every value of {table}.{}", column.name))
            }
            Change::AlterColumn {
                table, from, to, ..
            } if from.sql_type != to.sql_type && !from.sql_type.widens_to(to.sql_type) => {
                Some(format!(
                    "values of {table}.{} that {} cannot hold exactly (a value that does not \
                     convert stops the migration on both backends; a fraction or precision may \
                     be rounded away)",
                    to.name,
                    to.sql_type.diesel_name()
                ))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateTable { table, .. } => {
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| format!("{} {c}", c.name))
                    .collect();
                write!(f, "create table {} ({})", table.name, columns.join(", "))?;
                for fk in &table.foreign_keys {
                    write!(f, ", {} -> {}", fk.column, fk.parent)?;
                }
                Ok(())
            }
            Change::DropTable { table } => write!(f, "drop table {}", table.name),
            Change::RenameTable { from, to } => write!(f, "rename table {from} to {to}"),
            Change::AddColumn {
                table,
                column,
                default,
            } => {
                write!(f, "add column {table}.{} {column}", column.name)?;
                match default {
                    Some(value) => write!(f, " (existing rows: {value})"),
                    None => Ok(()),
                }
            }
            Change::DropColumn { table, column } => {
                write!(f, "drop column {table}.{}", column.name)
            }
            Change::RenameColumn { table, from, to } => {
                write!(f, "rename column {table}.{from} to {to}")
            }
            Change::AlterColumn {
                table,
                from,
                to,
                fill,
            } => {
                write!(f, "alter column {table}.{}: {from} -> {to}", to.name)?;
                match fill {
                    Some(value) => write!(f, " (NULLs become {value})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Why a diff was refused: every reason, each with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub Vec<String>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

/// The changes that take `current` to `target`, in an order that applies:
/// renames, new tables (parents first), new and changed columns, dropped
/// columns, dropped tables (children first). Refused as a whole when any
/// change needs a hint or permission the options do not give.
pub fn changes(
    current: &Schema,
    target: &Schema,
    options: &Options,
) -> Result<Vec<Change>, Refused> {
    let mut refusals = Vec::new();
    let mut changes = Vec::new();
    // The current schema with the hinted renames applied, compared below.
    let mut renamed = current.clone();
    for (from, to) in &options.table_renames {
        match (
            current.table(from),
            target.table(from),
            target.table(to),
            current.table(to),
        ) {
            (Some(_), None, Some(_), None) => {
                changes.push(Change::RenameTable {
                    from: from.clone(),
                    to: to.clone(),
                });
                for table in &mut renamed.tables {
                    if table.name == *from {
                        table.name = to.clone();
                    }
                    for fk in &mut table.foreign_keys {
                        if fk.parent == *from {
                            fk.parent = to.clone();
                        }
                    }
                }
            }
            _ => refusals.push(format!(
                "--rename {from}={to}: the migrations must have table {from} and src/schema.rs \
                 must have {to} instead"
            )),
        }
    }
    for ((table_name, from), to) in &options.column_renames {
        let table_name = options.table_renames.get(table_name).unwrap_or(table_name);
        let (Some(now), Some(wanted)) = (
            renamed.tables.iter_mut().find(|t| t.name == *table_name),
            target.table(table_name),
        ) else {
            refusals.push(format!(
                "--rename {table_name}.{from}={to}: src/schema.rs and the migrations must both have \
                 table {table_name}"
            ));
            continue;
        };
        if now.column(from).is_none()
            || wanted.column(from).is_some()
            || wanted.column(to).is_none()
            || now.column(to).is_some()
        {
            refusals.push(format!(
                "--rename {table_name}.{from}={to}: the migrations must have column \
                 {table_name}.{from} and src/schema.rs must have {to} instead"
            ));
            continue;
        }
        changes.push(Change::RenameColumn {
            table: table_name.clone(),
            from: from.clone(),
            to: to.clone(),
        });
        for column in &mut now.columns {
            if column.name == *from {
                column.name = to.clone();
            }
        }
        for fk in &mut now.foreign_keys {
            if fk.column == *from {
                fk.column = to.clone();
            }
        }
        for key in &mut now.primary_key {
            if key == from {
                *key = to.clone();
            }
        }
    }

    let created: Vec<&Table> = target
        .tables
        .iter()
        .filter(|t| renamed.table(&t.name).is_none())
        .collect();
    let dropped: Vec<&Table> = renamed
        .tables
        .iter()
        .filter(|t| target.table(&t.name).is_none())
        .collect();
    for table in parents_first(&created) {
        for key in &table.primary_key {
            if table.column(key).is_some_and(|c| c.nullable) {
                refusals.push(format!(
                    "{}.{key} is in the primary key, so it cannot be Nullable",
                    table.name
                ));
            }
        }
        let on_delete = table
            .foreign_keys
            .iter()
            .map(|fk| foreign_key_action(table, fk, options, &mut refusals))
            .collect();
        changes.push(Change::CreateTable {
            table: table.clone(),
            on_delete,
        });
    }

    let mut column_drops = Vec::new();
    for wanted in &target.tables {
        let Some(now) = renamed.table(&wanted.name) else {
            continue;
        };
        if now.primary_key != wanted.primary_key {
            refusals.push(format!(
                "{}: the primary key changes from ({}) to ({}); migrate diff does not change \
                 primary keys: write that migration with `bookshelf migrate new`",
                wanted.name,
                now.primary_key.join(", "),
                wanted.primary_key.join(", ")
            ));
        }
        let new_columns: Vec<&Column> = wanted
            .columns
            .iter()
            .filter(|c| now.column(&c.name).is_none())
            .collect();
        let gone: Vec<&Column> = now
            .columns
            .iter()
            .filter(|c| wanted.column(&c.name).is_none())
            .collect();
        for column in &new_columns {
            let default = options
                .defaults
                .get(&(wanted.name.clone(), column.name.clone()))
                .cloned();
            if !column.nullable && default.is_none() {
                refusals.push(format!(
                    "{}.{} is new and NOT NULL: the rows already in {} need a value; give one \
                     with --default {}.{}=VALUE (an SQL literal such as '' or 0), or make it \
                     Nullable<{}>",
                    wanted.name,
                    column.name,
                    wanted.name,
                    wanted.name,
                    column.name,
                    column.sql_type.diesel_name()
                ));
            }
            changes.push(Change::AddColumn {
                table: wanted.name.clone(),
                column: (*column).clone(),
                default,
            });
        }
        for column in &wanted.columns {
            let Some(before) = now.column(&column.name) else {
                continue;
            };
            if before == column {
                continue;
            }
            let fill = if before.nullable && !column.nullable {
                options
                    .defaults
                    .get(&(wanted.name.clone(), column.name.clone()))
                    .cloned()
            } else {
                None
            };
            changes.push(Change::AlterColumn {
                table: wanted.name.clone(),
                from: before.clone(),
                to: column.clone(),
                fill,
            });
        }
        for column in gone {
            if !new_columns.is_empty() && !options.allow_data_loss {
                let candidates: Vec<String> = new_columns
                    .iter()
                    .map(|c| format!("--rename {}.{}={}", wanted.name, column.name, c.name))
                    .collect();
                let new_names: Vec<String> = new_columns
                    .iter()
                    .map(|c| format!("{}.{}", wanted.name, c.name))
                    .collect();
                refusals.push(format!(
                    "{}.{} is gone from src/schema.rs while {} {} new: if it was renamed, say \
                     so ({}); a rename keeps the data, a drop does not",
                    wanted.name,
                    column.name,
                    new_names.join(", "),
                    if new_names.len() == 1 { "is" } else { "are" },
                    candidates.join(" or ")
                ));
            }
            column_drops.push(Change::DropColumn {
                table: wanted.name.clone(),
                column: column.clone(),
            });
        }
        for fk in &wanted.foreign_keys {
            if now.foreign_key(&fk.column) != Some(fk) {
                refusals.push(format!(
                    "joinable!({} -> {} ({})): {} exists, and migrate diff adds foreign keys only \
                     with a new table; write this one with `bookshelf migrate new`",
                    wanted.name, fk.parent, fk.column, wanted.name
                ));
            }
        }
        for fk in &now.foreign_keys {
            if wanted.foreign_key(&fk.column).is_none() && wanted.column(&fk.column).is_some() {
                refusals.push(format!(
                    "{}.{} refers to {} in the database but src/schema.rs has no \
                     joinable!({} -> {} ({})); add it back, or drop the foreign key with \
                     `bookshelf migrate new`",
                    wanted.name, fk.column, fk.parent, wanted.name, fk.parent, fk.column
                ));
            }
        }
    }
    changes.extend(column_drops);

    if !dropped.is_empty() && !created.is_empty() && !options.allow_data_loss {
        for table in &dropped {
            refusals.push(format!(
                "table {} is gone from src/schema.rs while {} {} new: if it was renamed, say so \
                 (--rename {}={}); a rename keeps the rows, a drop does not",
                table.name,
                created
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if created.len() == 1 { "is" } else { "are" },
                table.name,
                created[0].name
            ));
        }
    }
    let mut drops = parents_first(&dropped);
    drops.reverse();
    for table in drops {
        changes.push(Change::DropTable {
            table: table.clone(),
        });
    }

    if !options.allow_data_loss {
        for change in &changes {
            if let Some(loss) = change.data_loss() {
                refusals.push(format!(
                    "{change} would lose {loss}; if that is meant, run again with --allow-data-loss"
                ));
            }
        }
    }
    if refusals.is_empty() {
        Ok(changes)
    } else {
        refusals.dedup();
        Err(Refused(refusals))
    }
}

/// Every way `live` differs from `model`, one line each, without hints:
/// what `bookshelf migrate verify` reports as drift.
pub fn differences(live: &Schema, model: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for wanted in &model.tables {
        let Some(found) = live.table(&wanted.name) else {
            out.push(format!(
                "table {} is in src/schema.rs but not in the database",
                wanted.name
            ));
            continue;
        };
        if found.primary_key != wanted.primary_key {
            out.push(format!(
                "{} has primary key ({}) in the database, ({}) in src/schema.rs",
                wanted.name,
                found.primary_key.join(", "),
                wanted.primary_key.join(", ")
            ));
        }
        for column in &wanted.columns {
            let at = format!("{}.{}", wanted.name, column.name);
            let Some(live_column) = found.column(&column.name) else {
                out.push(format!("{at} is in src/schema.rs but not in the database"));
                continue;
            };
            if live_column.sql_type != column.sql_type {
                out.push(format!(
                    "{at} is {} in the database, {} in src/schema.rs",
                    live_column.sql_type.diesel_name(),
                    column.sql_type.diesel_name()
                ));
            }
            if live_column.nullable != column.nullable {
                let null = |n: bool| if n { "nullable" } else { "NOT NULL" };
                out.push(format!(
                    "{at} is {} in the database, {} in src/schema.rs",
                    null(live_column.nullable),
                    null(column.nullable)
                ));
            }
        }
        for column in &found.columns {
            if wanted.column(&column.name).is_none() {
                out.push(format!(
                    "{}.{} is in the database but not in src/schema.rs",
                    wanted.name, column.name
                ));
            }
        }
        for fk in &wanted.foreign_keys {
            if found.foreign_key(&fk.column) != Some(fk) {
                out.push(format!(
                    "joinable!({} -> {} ({})) has no foreign key in the database",
                    wanted.name, fk.parent, fk.column
                ));
            }
        }
        for fk in &found.foreign_keys {
            if wanted.foreign_key(&fk.column).is_none() {
                out.push(format!(
                    "{}.{} refers to {} in the database, with no joinable! in src/schema.rs",
                    wanted.name, fk.column, fk.parent
                ));
            }
        }
    }
    for table in &live.tables {
        if model.table(&table.name).is_none() {
            out.push(format!(
                "table {} is in the database but not in src/schema.rs",
                table.name
            ));
        }
    }
    out
}

fn foreign_key_action(
    table: &Table,
    fk: &ForeignKey,
    options: &Options,
    refusals: &mut Vec<String>,
) -> OnDelete {
    let action = options
        .on_delete
        .get(&(table.name.clone(), fk.column.clone()))
        .copied()
        .unwrap_or_default();
    let nullable = table.column(&fk.column).is_some_and(|c| c.nullable);
    if action == OnDelete::SetNull && !nullable {
        refusals.push(format!(
            "--on-delete {}.{}=set-null: the column is NOT NULL; make it Nullable or choose \
             another action",
            table.name, fk.column
        ));
    }
    action
}

/// Tables ordered so that every table comes after the tables its foreign
/// keys refer to (among those given).
fn parents_first<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let mut ordered: Vec<&Table> = Vec::new();
    let mut left: Vec<&Table> = tables.to_vec();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            t.foreign_keys.iter().all(|fk| {
                fk.parent == t.name
                    || ordered.iter().any(|o| o.name == fk.parent)
                    || !left.iter().any(|l| l.name == fk.parent)
            })
        });
        // A cycle: take the tables in the order given.
        let next = left.remove(ready.unwrap_or(0));
        ordered.push(next);
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::model::parse;

    fn diff(current: &str, target: &str, options: &Options) -> Result<Vec<String>, Refused> {
        changes(&parse(current).unwrap(), &parse(target).unwrap(), options)
            .map(|changes| changes.iter().map(ToString::to_string).collect())
    }

    const BOOKS: &str =
        "diesel::table! { books (id) { id -> Integer, title -> Text, blurb -> Nullable<Text>, } }";

    #[test]
    fn a_column_that_is_gone_while_another_is_new_is_not_guessed_to_be_a_rename() {
        let target = "diesel::table! { books (id) { id -> Integer, title -> Text, description -> Nullable<Text>, } }";
        let refused = diff(BOOKS, target, &Options::default()).unwrap_err();
        assert!(
            refused
                .0
                .iter()
                .any(|r| r.contains("--rename books.blurb=description")),
            "{refused}"
        );
        let mut options = Options::default();
        options.rename("books.blurb=description").unwrap();
        assert_eq!(
            diff(BOOKS, target, &options).unwrap(),
            ["rename column books.blurb to description"]
        );
    }

    #[test]
    fn new_tables_come_parents_first_and_dropped_tables_children_first() {
        let target = "diesel::table! { books (id) { id -> Integer, title -> Text, blurb -> Nullable<Text>, } }
            diesel::table! { a_tags (id) { id -> Integer, label_id -> Integer, } }
            diesel::table! { labels (id) { id -> Integer, book_id -> Integer, } }
            diesel::joinable!(a_tags -> labels (label_id));
            diesel::joinable!(labels -> books (book_id));";
        let created = diff(BOOKS, target, &Options::default()).unwrap();
        assert_eq!(
            created,
            [
                "create table labels (id Integer, book_id Integer), book_id -> books",
                "create table a_tags (id Integer, label_id Integer), label_id -> labels"
            ]
        );
        let mut options = Options {
            allow_data_loss: true,
            ..Options::default()
        };
        assert_eq!(
            diff(target, BOOKS, &options).unwrap(),
            ["drop table a_tags", "drop table labels"]
        );
        options.allow_data_loss = false;
        let refused = diff(target, BOOKS, &options).unwrap_err();
        assert_eq!(refused.0.len(), 2, "{refused}");
        assert!(
            refused.0[0].ends_with("run again with --allow-data-loss"),
            "{refused}"
        );
    }

    #[test]
    fn hints_are_checked() {
        let mut options = Options::default();
        assert!(options.rename("books.blurb").is_err());
        assert!(options.rename("books.blurb=de;scription").is_err());
        assert!(options.default_value("books.isbn").is_err());
        assert!(options
            .default_value("books.isbn=''; DROP TABLE books")
            .is_err());
        assert!(options.on_delete("tags.book_id=explode").is_err());
        options.on_delete("tags.book_id=set-null").unwrap();
        assert_eq!(
            options.on_delete[&("tags".into(), "book_id".into())],
            OnDelete::SetNull
        );
    }
}
