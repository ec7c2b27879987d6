//! A CHECK's condition, as either backend prints it back, read into the
//! model's rule: the same rule whatever the backend's spelling.

use crate::model::{canonical_number, Rule};

/// A CHECK's condition as the database reports it (`CHECK (…)` from
/// PostgreSQL, with its casts and parentheses), read as a [`Rule::Range`]
/// where it is one: `x BETWEEN a AND b`, `x >= a AND x <= b`, `x >= a`,
/// `x <= b`, with `x` a column or `length(column)`.
pub fn rule_of(condition: &str) -> Rule {
    let words = lexemes(condition);
    let words: &[String] = match words.split_first() {
        Some((first, rest)) if first == "check" => rest,
        _ => &words,
    };
    let target = |at: usize| -> Option<(String, bool, usize)> {
        match words.get(at)?.as_str() {
            "length" | "char_length" => Some((words.get(at + 1)?.clone(), true, at + 2)),
            word if word.starts_with(|c: char| c.is_alphabetic() || c == '_') => {
                Some((word.to_string(), false, at + 1))
            }
            _ => None,
        }
    };
    let number = |at: usize| -> Option<String> {
        let word = words.get(at)?;
        let word = word.trim_matches('\'');
        word.parse::<f64>().ok().map(canonical_number)
    };
    let range = || -> Option<Rule> {
        let (column, length, next) = target(0)?;
        let rule = |min: Option<String>, max: Option<String>| Rule::Range {
            column: column.clone(),
            length,
            min,
            max,
        };
        let op = words.get(next)?.as_str();
        match (op, words.len() - next) {
            ("between", 4) if words[next + 2] == "and" => {
                Some(rule(Some(number(next + 1)?), Some(number(next + 3)?)))
            }
            (">=", 2) => Some(rule(Some(number(next + 1)?), None)),
            ("<=", 2) => Some(rule(None, Some(number(next + 1)?))),
            (">=", _) if words.get(next + 2).map(String::as_str) == Some("and") => {
                let (again, again_length, after) = target(next + 3)?;
                let closes = again == column
                    && again_length == length
                    && words.get(after).map(String::as_str) == Some("<=")
                    && words.len() == after + 2;
                closes.then(|| Some(rule(Some(number(next + 1)?), Some(number(after + 1)?))))?
            }
            _ => None,
        }
    };
    range().unwrap_or_else(|| {
        let text = condition.trim();
        let text = text.strip_prefix("CHECK").map_or(text, str::trim_start);
        Rule::Sql(text.to_string())
    })
}

/// A condition's words, lower-case, without parentheses, commas or casts
/// (`(0)::double precision` is `0`), with `>=`, `<=`, `<>` and negative
/// numbers as one word each; quoted identifiers unquoted.
pub(crate) fn lexemes(sql: &str) -> Vec<String> {
    use crate::sql_tokens::{tokens, unquote, Kind};
    let mut out: Vec<String> = Vec::new();
    let mut in_cast = false;
    let all = tokens(sql, false);
    let mut i = 0;
    while i < all.len() {
        let token = all[i];
        let text = &sql[token.start..token.end];
        i += 1;
        match token.kind {
            Kind::Word if in_cast => continue,
            Kind::Word => {
                // 2.5 is three tokens: 2, ., 5.
                let mut word = text.to_ascii_lowercase();
                if word.starts_with(|c: char| c.is_ascii_digit())
                    && all.get(i).is_some_and(|t| &sql[t.start..t.end] == ".")
                    && all.get(i + 1).is_some_and(|t| t.kind == Kind::Word)
                {
                    word = format!("{word}.{}", &sql[all[i + 1].start..all[i + 1].end]);
                    i += 2;
                }
                let operand = |w: &String| {
                    w.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                        && !["between", "and", "or", "not", "in"].contains(&w.as_str())
                };
                if out.last().is_some_and(|w| w == "-")
                    && word.starts_with(|c: char| c.is_ascii_digit())
                    && (out.len() == 1 || !operand(&out[out.len() - 2]))
                {
                    out.pop();
                    word = format!("-{word}");
                }
                out.push(word);
            }
            Kind::Quoted => {
                in_cast = false;
                out.push(unquote(text));
            }
            Kind::Other if text == ":" => {
                if all.get(i).is_some_and(|t| &sql[t.start..t.end] == ":") {
                    i += 1;
                    in_cast = true;
                }
            }
            Kind::Open | Kind::Close | Kind::Comma => in_cast = false,
            Kind::Other => {
                in_cast = false;
                match (out.last().map(String::as_str), text) {
                    (Some(">" | "<"), "=") | (Some("<"), ">") => {
                        let op = format!("{}{text}", out.pop().expect("matched"));
                        out.push(op);
                    }
                    _ => out.push(text.to_string()),
                }
            }
            Kind::Text | Kind::Group => {
                in_cast = false;
                out.push(text.to_string());
            }
        }
    }
    out
}
