//! The changes that take a schema (the database's, after its migrations) to
//! another (src/schema.rs). Backend-free: [`crate::sql`] writes the SQL.
//!
//! What is never guessed: a rename (only from a `--rename` hint; otherwise a
//! column that went away is a drop, refused without `--allow-data-loss`), a
//! value for existing rows of a new NOT NULL column (`--default`), and
//! whether a lossy change may lose data (`--allow-data-loss`).

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Check, Column, DefaultValue, ForeignKey, Index, OnDelete, Schema, Table};

/// What the command line says about the changes: renames, values for
/// existing rows, and whether data may be lost. (What a foreign key does on
/// delete is declared in src/constraints.rs.)
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Old table name → new.
    pub table_renames: BTreeMap<String, String>,
    /// (table, old column) → new column. The table is named as in src/schema.rs.
    pub column_renames: BTreeMap<(String, String), String>,
    /// (table, column) → an SQL literal for rows that have no value.
    pub defaults: BTreeMap<(String, String), String>,
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
}

/// One change of the schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateTable {
        table: Table,
    },
    DropTable {
        table: Table,
    },
    RenameTable {
        from: String,
        to: String,
    },
    /// A new column, with its declared default (which the rows already
    /// there get too).
    AddColumn {
        table: String,
        column: Column,
        default: Option<DefaultValue>,
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
    /// A column's default set, changed or dropped.
    SetDefault {
        table: String,
        column: String,
        from: Option<DefaultValue>,
        to: Option<DefaultValue>,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    AddCheck {
        table: String,
        check: Check,
    },
    DropCheck {
        table: String,
        check: Check,
    },
    /// A foreign key on a table that exists.
    AddForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    DropForeignKey {
        table: String,
        foreign_key: ForeignKey,
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

    /// Whether the previous binary may rely on what these changes remove
    /// (a unique constraint, a foreign key, not put back in another form by
    /// the same changes), though no data is lost: the migration is then a
    /// contract migration, run after every replica is on the new binary.
    pub fn is_contract(changes: &[Change]) -> bool {
        changes.iter().any(|change| match change {
            Change::DropForeignKey { table, foreign_key } => !changes.iter().any(|c| {
                matches!(c, Change::AddForeignKey { table: t, foreign_key: f }
                    if t == table && f.column == foreign_key.column)
            }),
            Change::DropIndex { table, index } if index.unique => !changes.iter().any(|c| {
                matches!(c, Change::AddIndex { table: t, index: i }
                    if t == table && i.unique && i.columns == index.columns)
            }),
            _ => false,
        })
    }

    /// The table this change is on.
    pub fn table(&self) -> &str {
        match self {
            Change::CreateTable { table } | Change::DropTable { table } => &table.name,
            Change::RenameTable { to, .. } => to,
            Change::AddColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::RenameColumn { table, .. }
            | Change::AlterColumn { table, .. }
            | Change::SetDefault { table, .. }
            | Change::AddIndex { table, .. }
            | Change::DropIndex { table, .. }
            | Change::AddCheck { table, .. }
            | Change::DropCheck { table, .. }
            | Change::AddForeignKey { table, .. }
            | Change::DropForeignKey { table, .. } => table,
        }
    }
}

impl fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} on delete {}",
            self.column,
            self.parent,
            self.on_delete.sql().to_ascii_lowercase()
        )
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
                    if fk.on_delete != OnDelete::Cascade {
                        write!(f, " on delete {}", fk.on_delete.sql().to_ascii_lowercase())?;
                    }
                }
                for d in &table.defaults {
                    write!(f, ", {} default {}", d.column, d.value)?;
                }
                for check in &table.checks {
                    write!(f, ", {check}")?;
                }
                for index in &table.indexes {
                    write!(f, ", {index}")?;
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
                    Some(value) => write!(f, " default {value}"),
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
            Change::SetDefault {
                table,
                column,
                from,
                to,
            } => {
                let show = |d: &Option<DefaultValue>| {
                    d.as_ref().map_or("none".to_string(), ToString::to_string)
                };
                write!(
                    f,
                    "default of {table}.{column}: {} -> {}",
                    show(from),
                    show(to)
                )
            }
            Change::AddIndex { table, index } => write!(f, "add {index} on {table}"),
            Change::DropIndex { table, index } => write!(f, "drop {index} on {table}"),
            Change::AddCheck { table, check } => write!(f, "add {check} on {table}"),
            Change::DropCheck { table, check } => write!(f, "drop {check} on {table}"),
            Change::AddForeignKey { table, foreign_key } => {
                write!(f, "add foreign key {table}.{foreign_key}")
            }
            Change::DropForeignKey { table, foreign_key } => {
                write!(f, "drop foreign key {table}.{foreign_key}")
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
        for column in now.indexes.iter_mut().flat_map(|i| i.columns.iter_mut()) {
            if column == from {
                *column = to.clone();
            }
        }
        for check in &mut now.checks {
            if let crate::model::Rule::Range { column, .. } = &mut check.rule {
                if column == from {
                    *column = to.clone();
                }
            }
        }
        for default in &mut now.defaults {
            if default.column == *from {
                default.column = to.clone();
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
        changes.push(Change::CreateTable {
            table: table.clone(),
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
            let declared = wanted.default_of(&column.name).cloned();
            let hinted = options
                .defaults
                .get(&(wanted.name.clone(), column.name.clone()))
                .cloned();
            if hinted.is_some() {
                refusals.push(format!(
                    "--default {}.{}: a new column's default is declared in src/constraints.rs: \
                     default({}, VALUE); in {} {{ … }}; the rows already there get it too",
                    wanted.name, column.name, column.name, wanted.name
                ));
            }
            if !column.nullable && declared.is_none() {
                refusals.push(format!(
                    "{}.{} is new and NOT NULL: the rows already in {} need a value; declare \
                     one in src/constraints.rs (default({}, VALUE); in {} {{ … }}, VALUE such as \
                     0, false, \"\" or now), or make it Nullable<{}>",
                    wanted.name,
                    column.name,
                    wanted.name,
                    column.name,
                    wanted.name,
                    column.sql_type.diesel_name()
                ));
            }
            changes.push(Change::AddColumn {
                table: wanted.name.clone(),
                column: (*column).clone(),
                default: declared,
            });
        }
        constraint_drops(now, wanted, &mut changes);
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
        constraint_additions(now, wanted, &new_columns, &mut changes);
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
            match found.foreign_key(&fk.column) {
                None => out.push(format!(
                    "joinable!({} -> {} ({})) has no foreign key in the database",
                    wanted.name, fk.parent, fk.column
                )),
                Some(live) if live != fk => out.push(format!(
                    "foreign key {}.{} is {live} in the database, {fk} in the model",
                    wanted.name, fk.column
                )),
                Some(_) => {}
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
        both_ways(
            &wanted.name,
            &wanted.indexes,
            &found.indexes,
            Index::same_as,
            &mut out,
        );
        both_ways(
            &wanted.name,
            &wanted.checks,
            &found.checks,
            |a, b| a.rule == b.rule,
            &mut out,
        );
        for column in &wanted.columns {
            let (live, declared) = (
                found.default_of(&column.name),
                wanted.default_of(&column.name),
            );
            if found.column(&column.name).is_some() && live != declared {
                let show = |d: Option<&DefaultValue>| d.map_or("none".into(), |d| d.to_string());
                out.push(format!(
                    "{}.{} has default {} in the database, {} in src/constraints.rs",
                    wanted.name,
                    column.name,
                    show(live),
                    show(declared)
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

/// A line for each object of `wanted` (the model's) that no object of
/// `found` (the database's) is the `same` as, and for each of `found` that
/// none of `wanted` is.
fn both_ways<T: fmt::Display>(
    table: &str,
    wanted: &[T],
    found: &[T],
    same: impl Fn(&T, &T) -> bool,
    out: &mut Vec<String>,
) {
    for item in wanted {
        if !found.iter().any(|f| same(item, f)) {
            out.push(format!(
                "{item} on {table} is in src/constraints.rs but not in the database"
            ));
        }
    }
    for item in found {
        if !wanted.iter().any(|w| same(w, item)) {
            out.push(format!(
                "{item} on {table} is in the database but not in src/constraints.rs"
            ));
        }
    }
}

/// The foreign keys, CHECKs and indexes of table `now` that `wanted` (the
/// same table in the model) does not have, or has otherwise: dropped before
/// its columns change (a CHECK may not hold for a column's new type), and
/// added again after, by [`constraint_additions`]. What is on a column that
/// goes away goes with it.
fn constraint_drops(now: &Table, wanted: &Table, changes: &mut Vec<Change>) {
    let table = || wanted.name.clone();
    let kept = |column: &str| wanted.column(column).is_some();
    for fk in &now.foreign_keys {
        if kept(&fk.column) && wanted.foreign_key(&fk.column) != Some(fk) {
            changes.push(Change::DropForeignKey {
                table: table(),
                foreign_key: fk.clone(),
            });
        }
    }
    for check in &now.checks {
        let on_kept = check.rule.column().is_none_or(kept);
        if on_kept && wanted.check_like(check).is_none() {
            changes.push(Change::DropCheck {
                table: table(),
                check: check.clone(),
            });
        }
    }
    for index in &now.indexes {
        if index.columns.iter().all(|c| kept(c)) && wanted.index_like(index).is_none() {
            changes.push(Change::DropIndex {
                table: table(),
                index: index.clone(),
            });
        }
    }
}

/// The defaults, CHECKs, foreign keys and indexes that `wanted` has and
/// table `now` has not (or has otherwise), after its columns changed.
fn constraint_additions(
    now: &Table,
    wanted: &Table,
    new_columns: &[&Column],
    changes: &mut Vec<Change>,
) {
    let table = || wanted.name.clone();
    for column in &wanted.columns {
        if new_columns.iter().any(|c| c.name == column.name) || now.column(&column.name).is_none() {
            continue;
        }
        let (from, to) = (
            now.default_of(&column.name),
            wanted.default_of(&column.name),
        );
        if from != to {
            changes.push(Change::SetDefault {
                table: table(),
                column: column.name.clone(),
                from: from.cloned(),
                to: to.cloned(),
            });
        }
    }
    for check in &wanted.checks {
        if now.check_like(check).is_none() {
            changes.push(Change::AddCheck {
                table: table(),
                check: check.clone(),
            });
        }
    }
    for fk in &wanted.foreign_keys {
        if now.foreign_key(&fk.column) != Some(fk) {
            changes.push(Change::AddForeignKey {
                table: table(),
                foreign_key: fk.clone(),
            });
        }
    }
    for index in &wanted.indexes {
        if now.index_like(index).is_none() {
            changes.push(Change::AddIndex {
                table: table(),
                index: index.clone(),
            });
        }
    }
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
    use crate::model::parse;

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
    fn dropping_a_unique_constraint_or_a_foreign_key_is_a_contract_unless_it_comes_back() {
        let fk = |on_delete| ForeignKey {
            column: "book_id".into(),
            parent: "books".into(),
            on_delete,
        };
        let drop_fk = Change::DropForeignKey {
            table: "reviews".into(),
            foreign_key: fk(OnDelete::Cascade),
        };
        let add_fk = Change::AddForeignKey {
            table: "reviews".into(),
            foreign_key: fk(OnDelete::Restrict),
        };
        assert!(Change::is_contract(std::slice::from_ref(&drop_fk)));
        assert!(!Change::is_contract(&[drop_fk, add_fk]));
        let index = |unique| Index::declared("books", vec!["isbn".into()], unique);
        let drop = |unique| Change::DropIndex {
            table: "books".into(),
            index: index(unique),
        };
        assert!(Change::is_contract(&[drop(true)]));
        assert!(!Change::is_contract(&[drop(false)]));
        let add_unique = Change::AddIndex {
            table: "books".into(),
            index: index(true),
        };
        assert!(!Change::is_contract(&[drop(true), add_unique]));
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
    }
}
