//! SQL text as tokens: enough of SQLite's (and PostgreSQL's) lexical rules
//! to find the parts of a statement, with comments and strings kept apart.

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
