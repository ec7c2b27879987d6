//! Reading and editing SQLite's own `CREATE TABLE` text, which is all
//! SQLite keeps of a table's CHECKs and column definitions: a tokenizer, the
//! table's items, and the edits a table rebuild makes to them.

use crate::connection::Backend;
use crate::model::{Check, SqlType};
use crate::sql_tokens::{tokens, unquote, Kind, Token};

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
pub(crate) struct Definition {
    head: String,
    pub(crate) items: Vec<String>,
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
    pub(crate) fn parse(sql: &str) -> Definition {
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
    pub(crate) fn renamed(&self, table: &str) -> String {
        format!(
            "CREATE TABLE {table} ({}){}",
            self.items.join(","),
            self.tail
        )
    }

    /// The column an item defines, if it is a column.
    pub(crate) fn column_of(item: &str) -> Option<String> {
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

    pub(crate) fn columns(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| Self::column_of(i))
            .collect()
    }

    pub(crate) fn has_default(&self, column: &str) -> bool {
        self.items.iter().any(|item| {
            Self::column_of(item).as_deref() == Some(column)
                && tokens(item, true).iter().any(|t| {
                    t.kind == Kind::Word && item[t.start..t.end].eq_ignore_ascii_case("DEFAULT")
                })
        })
    }

    pub(crate) fn text(&self) -> String {
        format!("{}({}){}", self.head, self.items.join(","), self.tail)
    }

    /// The definition with one more column (`definition`: `name TYPE ...`),
    /// after the last column and before the table's constraints.
    pub(crate) fn with_added_column(&self, definition: &str) -> Definition {
        let mut edited = self.clone();
        let at = self
            .items
            .iter()
            .rposition(|item| Self::column_of(item).is_some())
            .map_or(0, |i| i + 1);
        edited.items.insert(at, format!("\n    {definition}"));
        edited
    }

    pub(crate) fn without_column(&self, column: &str) -> Definition {
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
    pub(crate) fn with_default(&self, column: &str, value: Option<String>) -> Definition {
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
    pub(crate) fn without_check(&self, check: &Check) -> Definition {
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
                if crate::conditions::rule_of(condition) != check.rule {
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
    pub(crate) fn without_foreign_key(&self, column: &str) -> Definition {
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
    pub(crate) fn edit_column_item(
        &self,
        column: &str,
        edit: impl Fn(&str) -> String,
    ) -> Definition {
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
    pub(crate) fn with_column(
        &self,
        column: &str,
        sql_type: Option<SqlType>,
        nullable: bool,
    ) -> Definition {
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
