//! Names and strings as written in generated SQL, the same for both backends.

/// A string as an SQL literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An identifier, quoted for either backend.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An identifier as written in generated SQL: bare when that is safe,
/// double-quoted otherwise.
pub fn name(identifier: &str) -> String {
    const RESERVED: &[&str] = &[
        "all",
        "alter",
        "and",
        "as",
        "by",
        "case",
        "check",
        "column",
        "constraint",
        "create",
        "default",
        "delete",
        "desc",
        "distinct",
        "drop",
        "else",
        "end",
        "from",
        "group",
        "in",
        "index",
        "insert",
        "into",
        "is",
        "join",
        "key",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "or",
        "order",
        "primary",
        "references",
        "select",
        "set",
        "table",
        "then",
        "to",
        "union",
        "unique",
        "update",
        "user",
        "using",
        "values",
        "when",
        "where",
        "with",
    ];
    let plain = identifier
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && identifier
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&identifier);
    if plain {
        identifier.to_string()
    } else {
        ident(identifier)
    }
}
