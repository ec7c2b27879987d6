//! SQLite's SQL for each change. SQLite can add, rename and drop columns in
//! place, but not change one's type or nullability; for those (and for a
//! drop, so that down.sql can put the column back where it was) the table
//! is rebuilt from its own `CREATE TABLE` text, edited, so that CHECKs,
//! defaults, collations, foreign keys and AUTOINCREMENT stay as they were,
//! and its indexes and triggers are created again from their own text.

use diesel::QueryResult;

use super::{
    breaking_rows, create_index, duplicate_rows, fill_nulls, name, null_reason, null_rows,
    orphan_rows, Step,
};
use crate::db::{Backend, DbConn};
use crate::migrate::catalog::{self, literal, SqliteObject};
use crate::migrate::diff::Change;
use crate::migrate::model::{Check, Column, DefaultValue, ForeignKey, SqlType};

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
        crate::migrate::model::Schema::default()
    } else {
        catalog::read(conn)
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?
    };
    for fk in &changes.add_fks {
        let key = super::parent_key(&keys, &fk.parent);
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
        let key = super::parent_key(&keys, &fk.parent);
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

/// The CHECK constraints of a table's `CREATE TABLE` statement: each one's
/// name (its `CONSTRAINT` name, else `<table>_<column>_check` for a
/// column's, `<table>_check<n>` for the table's) and its condition.
pub(crate) fn checks(table: &str, create_sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in &Definition::parse(create_sql).items {
        let column = Definition::column_of(item);
        let tokens = tokens(item, true);
        for (i, token) in tokens.iter().enumerate() {
            let is_check = token.kind == Kind::Word
                && item[token.start..token.end].eq_ignore_ascii_case("CHECK");
            let Some(group) = tokens
                .get(i + 1)
                .filter(|t| is_check && t.kind == Kind::Group)
            else {
                continue;
            };
            let named = i >= 2
                && item[tokens[i - 2].start..tokens[i - 2].end].eq_ignore_ascii_case("CONSTRAINT");
            let name = if named {
                let name = &item[tokens[i - 1].start..tokens[i - 1].end];
                if tokens[i - 1].kind == Kind::Quoted {
                    unquote(name)
                } else {
                    name.to_string()
                }
            } else if let Some(column) = &column {
                format!("{table}_{column}_check")
            } else {
                format!("{table}_check{}", out.len() + 1)
            };
            out.push((
                name,
                item[group.start + 1..group.end - 1].trim().to_string(),
            ));
        }
    }
    out
}

/// A `CREATE TABLE` statement split into its parts: the text before the
/// opening parenthesis, each column or table constraint, and the rest.
#[derive(Debug, Clone)]
struct Definition {
    head: String,
    items: Vec<String>,
    tail: String,
}

/// Words that start a column constraint, ending the column's type.
const CONSTRAINT_WORDS: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];
/// Words that start a table constraint rather than a column.
const TABLE_CONSTRAINT_WORDS: &[&str] = &["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

impl Definition {
    fn parse(sql: &str) -> Definition {
        let tokens = tokens(sql, false);
        let open = tokens
            .iter()
            .find(|t| t.kind == Kind::Open)
            .map_or(sql.len(), |t| t.start);
        let mut depth = 0;
        let mut items = Vec::new();
        let mut item_start = open + 1;
        let mut close = sql.len();
        for token in tokens.iter().filter(|t| t.start > open) {
            match token.kind {
                Kind::Open => depth += 1,
                Kind::Close if depth == 0 => {
                    items.push(sql[item_start..token.start].to_string());
                    close = token.start;
                    break;
                }
                Kind::Close => depth -= 1,
                Kind::Comma if depth == 0 => {
                    items.push(sql[item_start..token.start].to_string());
                    item_start = token.end;
                }
                _ => {}
            }
        }
        Definition {
            head: sql[..open].to_string(),
            items,
            tail: sql.get(close + 1..).unwrap_or_default().to_string(),
        }
    }

    /// The same table under another name.
    fn renamed(&self, table: &str) -> String {
        format!(
            "CREATE TABLE {table} ({}){}",
            self.items.join(","),
            self.tail
        )
    }

    /// The column an item defines, if it is a column.
    fn column_of(item: &str) -> Option<String> {
        let first = tokens(item, true).into_iter().next()?;
        let text = &item[first.start..first.end];
        match first.kind {
            Kind::Word if TABLE_CONSTRAINT_WORDS.contains(&text.to_ascii_uppercase().as_str()) => {
                None
            }
            Kind::Word => Some(text.to_string()),
            Kind::Quoted => Some(unquote(text)),
            _ => None,
        }
    }

    fn columns(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| Self::column_of(i))
            .collect()
    }

    fn has_default(&self, column: &str) -> bool {
        self.items.iter().any(|item| {
            Self::column_of(item).as_deref() == Some(column)
                && tokens(item, true).iter().any(|t| {
                    t.kind == Kind::Word && item[t.start..t.end].eq_ignore_ascii_case("DEFAULT")
                })
        })
    }

    fn text(&self) -> String {
        format!("{}({}){}", self.head, self.items.join(","), self.tail)
    }

    fn without_column(&self, column: &str) -> Definition {
        let items = self
            .items
            .iter()
            .filter(|i| Self::column_of(i).as_deref() != Some(column))
            .cloned()
            .collect();
        Definition {
            items,
            ..self.clone()
        }
    }

    /// The statement with one column's `DEFAULT` replaced by `value`, or
    /// dropped (`None`).
    fn with_default(&self, column: &str, value: Option<String>) -> Definition {
        self.edit_column_item(column, |item| {
            let tokens = tokens(item, true);
            let mut text = item.to_string();
            if let Some(at) = tokens.iter().position(|t| word_is(item, t, "DEFAULT")) {
                // DEFAULT's value: a literal, a word, a (group), or -number.
                let mut end = at + 1;
                if tokens
                    .get(end)
                    .is_some_and(|t| &item[t.start..t.end] == "-" || &item[t.start..t.end] == "+")
                {
                    end += 1;
                }
                let stop = tokens.get(end).map_or(item.len(), |t| t.end);
                let start = item[..tokens[at].start].trim_end().len();
                text.replace_range(start..stop, "");
            }
            if let Some(value) = &value {
                let at = type_end(&text);
                text.insert_str(at, &format!(" DEFAULT {value}"));
            }
            text
        })
    }

    /// The statement without the CHECK whose condition is `check`'s: a
    /// table constraint goes whole, a column's is cut from its column.
    fn without_check(&self, check: &Check) -> Definition {
        let mut items = Vec::new();
        for item in &self.items {
            let tokens = tokens(item, true);
            let mut text = item.clone();
            let mut whole = false;
            for (i, token) in tokens.iter().enumerate().rev() {
                let Some(group) = tokens.get(i + 1) else {
                    continue;
                };
                if !word_is(item, token, "CHECK") || group.kind != Kind::Group {
                    continue;
                }
                let condition = &item[group.start + 1..group.end - 1];
                if catalog::rule_of(condition) != check.rule {
                    continue;
                }
                let named = i >= 2 && word_is(item, &tokens[i - 2], "CONSTRAINT");
                let first = if named { i - 2 } else { i };
                if first == 0 {
                    whole = true;
                    break;
                }
                let start = item[..tokens[first].start].trim_end().len();
                text.replace_range(start..group.end, "");
            }
            if !whole {
                items.push(text);
            }
        }
        Definition {
            items,
            ..self.clone()
        }
    }

    /// The statement without the foreign key on `column`: a table's
    /// `FOREIGN KEY (column) …` goes whole, a column's `REFERENCES …` is cut
    /// from it.
    fn without_foreign_key(&self, column: &str) -> Definition {
        let mut items = Vec::new();
        for item in &self.items {
            let tokens = tokens(item, true);
            let on_column = Self::column_of(item).as_deref() == Some(column);
            let table_key = tokens.first().is_some_and(|t| word_is(item, t, "FOREIGN"))
                && tokens.get(2).is_some_and(|g| {
                    g.kind == Kind::Group
                        && item[g.start + 1..g.end - 1].trim().trim_matches('"') == column
                });
            if table_key {
                continue;
            }
            let found = tokens.iter().position(|t| word_is(item, t, "REFERENCES"));
            match found {
                Some(at) if on_column => {
                    // REFERENCES parent [(key)] then ON/MATCH/[NOT] DEFERRABLE clauses.
                    let mut end = at + 2;
                    if tokens.get(end).is_some_and(|t| t.kind == Kind::Group) {
                        end += 1;
                    }
                    while let Some(t) = tokens.get(end) {
                        let upper = item[t.start..t.end].to_ascii_uppercase();
                        let clause = [
                            "ON",
                            "MATCH",
                            "DEFERRABLE",
                            "NOT",
                            "INITIALLY",
                            "DELETE",
                            "UPDATE",
                            "SET",
                            "NULL",
                            "DEFAULT",
                            "CASCADE",
                            "RESTRICT",
                            "NO",
                            "ACTION",
                            "DEFERRED",
                            "IMMEDIATE",
                        ];
                        let is_not_null = upper == "NOT"
                            && tokens
                                .get(end + 1)
                                .is_some_and(|n| word_is(item, n, "NULL"));
                        if t.kind != Kind::Word || !clause.contains(&upper.as_str()) || is_not_null
                        {
                            break;
                        }
                        end += 1;
                    }
                    let stop = tokens[end - 1].end;
                    let start = item[..tokens[at].start].trim_end().len();
                    let mut text = item.clone();
                    text.replace_range(start..stop, "");
                    items.push(text);
                }
                _ => items.push(item.clone()),
            }
        }
        Definition {
            items,
            ..self.clone()
        }
    }

    /// The statement with `column`'s definition replaced by `edit` of it.
    fn edit_column_item(&self, column: &str, edit: impl Fn(&str) -> String) -> Definition {
        let items = self
            .items
            .iter()
            .map(|item| {
                if Self::column_of(item).as_deref() == Some(column) {
                    edit(item)
                } else {
                    item.clone()
                }
            })
            .collect();
        Definition {
            items,
            ..self.clone()
        }
    }

    /// The statement with one column's type replaced (when `sql_type` is
    /// given) and NOT NULL added or removed; everything else is kept.
    fn with_column(&self, column: &str, sql_type: Option<SqlType>, nullable: bool) -> Definition {
        self.edit_column_item(column, |item| edit_column(item, sql_type, nullable))
    }
}

fn word_is(item: &str, token: &Token, word: &str) -> bool {
    token.kind == Kind::Word && item[token.start..token.end].eq_ignore_ascii_case(word)
}

/// Where a column definition's type ends: the words after the name up to
/// the first constraint word, with a parenthesised size such as VARCHAR(20).
fn type_end(item: &str) -> usize {
    let tokens = tokens(item, true);
    let word = |t: &Token| item[t.start..t.end].to_ascii_uppercase();
    let name_end = tokens[0].end;
    let mut type_end = name_end;
    for token in &tokens[1..] {
        let is_type_word =
            token.kind == Kind::Word && !CONSTRAINT_WORDS.contains(&word(token).as_str());
        let is_size = token.kind == Kind::Group && type_end > name_end;
        if is_type_word || is_size {
            type_end = token.end;
        } else {
            break;
        }
    }
    type_end
}

fn edit_column(item: &str, sql_type: Option<SqlType>, nullable: bool) -> String {
    let tokens = tokens(item, true);
    let word = |t: &Token| item[t.start..t.end].to_ascii_uppercase();
    let name_end = tokens[0].end;
    let type_end = type_end(item);
    let not_null = tokens
        .windows(2)
        .find(|pair| word(&pair[0]) == "NOT" && word(&pair[1]) == "NULL")
        .map(|pair| (pair[0].start, pair[1].end));
    let mut text = item.to_string();
    // Edit from the end, so earlier offsets stay valid.
    match (nullable, not_null) {
        (true, Some((start, end))) => {
            let start = item[..start].trim_end().len();
            text.replace_range(start..end, "");
        }
        (false, None) => text.insert_str(type_end, " NOT NULL"),
        _ => {}
    }
    if let Some(sql_type) = sql_type {
        let replacement = format!(" {}", sql_type.sql(Backend::Sqlite));
        text.replace_range(name_end..type_end, &replacement);
    }
    text
}

pub(crate) fn unquote(text: &str) -> String {
    let inner = &text[1..text.len() - 1];
    match text.as_bytes()[0] {
        b'"' => inner.replace("\"\"", "\""),
        b'`' => inner.replace("``", "`"),
        _ => inner.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Quoted,
    Text,
    Open,
    Close,
    /// A parenthesised group, as one token (from [`tokens`] with `whole_groups`).
    Group,
    Comma,
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// SQLite's tokens, enough to find parts: words, quoted identifiers, string
/// literals, parentheses and commas; comments and white space are skipped.
/// With `whole_groups` (reading one column definition), a parenthesised
/// group such as `(200)` or a CHECK's condition is one [`Kind::Group`] token.
pub(crate) fn tokens(sql: &str, whole_groups: bool) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut group_start = None;
    let mut depth = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == close {
                        if close != b']' && bytes.get(i + 1) == Some(&close) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                if c == b'\'' {
                    Kind::Text
                } else {
                    Kind::Quoted
                }
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Other
            }
        };
        if whole_groups {
            match kind {
                Kind::Open => {
                    if depth == 0 {
                        group_start = Some(start);
                    }
                    depth += 1;
                    continue;
                }
                Kind::Close if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(Token {
                            kind: Kind::Group,
                            start: group_start.take().unwrap_or(start),
                            end: i,
                        });
                    }
                    continue;
                }
                _ if depth > 0 => continue,
                _ => {}
            }
        }
        out.push(Token {
            kind,
            start,
            end: i,
        });
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
