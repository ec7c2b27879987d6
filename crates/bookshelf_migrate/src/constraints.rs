//! Reads `src/constraints.rs`, what diesel's `table!` cannot say, with a
//! Rust parser (`syn`), onto the tables read from `src/schema.rs`:
//!
//! ```text
//! crate::constraints! {
//!     books {
//!         check(length(title) in 1..=200);   // CHECK (length(title) BETWEEN 1 AND 200)
//!         check(price in 0.0..=1_000_000.0); // CHECK (price BETWEEN 0 AND 1000000)
//!         max_length(description, 2000);     // CHECK (length(description) <= 2000)
//!         default(published, false);         // DEFAULT FALSE (0 on SQLite)
//!         default(created_at, now);          // the current time, in UTC
//!         index(author, id);                 // CREATE INDEX books_author_id_idx
//!         unique(isbn);                      // a UNIQUE constraint, books_isbn_key
//!     }
//!     reviews {
//!         on_delete(book_id, cascade);       // the joinable!'s foreign key
//!     }
//! }
//! ```
//!
//! The same file is compiled into the app, where the macro
//! ([`crate::constraints!`]) turns each range into constants
//! (`constraints::books::title::MAX_LENGTH`) that the API's checks and its
//! OpenAPI schemas use: one declaration, three enforcements.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, parenthesized, Ident, Token};

use crate::model::{
    canonical_number, Check, ColumnDefault, DefaultValue, Index, OnDelete, Rule, Schema, SqlType,
};

/// Adds the declarations of a `src/constraints.rs` to `schema` (read from
/// src/schema.rs), checking that each names a table and columns of it, of a
/// type the declaration fits. The error says where and what is wrong.
pub fn apply(schema: &mut Schema, text: &str) -> Result<(), String> {
    let file = syn::parse_file(text).map_err(|e| located(e.span(), &e.to_string()))?;
    for item in file.items {
        let syn::Item::Macro(item) = item else {
            continue;
        };
        if item.mac.path.segments.last().map(|s| s.ident.to_string()) != Some("constraints".into())
        {
            continue;
        }
        let body: Body = item
            .mac
            .parse_body()
            .map_err(|e| located(e.span(), &e.to_string()))?;
        for table in body.0 {
            declare(schema, table)?;
        }
    }
    Ok(())
}

fn located(span: proc_macro2::Span, message: &str) -> String {
    let at = span.start();
    format!("line {}, column {}: {message}", at.line, at.column + 1)
}

fn declare(schema: &mut Schema, declared: TableBlock) -> Result<(), String> {
    let table_name = declared.name.to_string();
    let Some(table) = schema.tables.iter_mut().find(|t| t.name == table_name) else {
        return Err(located(
            declared.name.span(),
            &format!("{table_name} is not a table of src/schema.rs"),
        ));
    };
    for statement in declared.statements {
        let span = statement.span;
        let fail = |message: String| Err(located(span, &format!("{table_name}: {message}")));
        let column_type = |column: &str| table.column(column).map(|c| c.sql_type);
        for column in statement.columns() {
            if column_type(column).is_none() {
                return fail(format!(
                    "{table_name} has no column {column} in src/schema.rs"
                ));
            }
        }
        match statement.kind {
            Kind::Check {
                column,
                length,
                min,
                max,
            } => {
                let sql_type = column_type(&column).expect("checked above");
                if length && sql_type != SqlType::Text {
                    return fail(format!("length({column}): {column} is not Text"));
                }
                if !length && !is_number(sql_type) {
                    return fail(format!(
                        "{column} in a range: {column} is {}, not a number; for text, check \
                         length({column}) in …",
                        sql_type.diesel_name()
                    ));
                }
                if table
                    .checks
                    .iter()
                    .any(|c| c.rule.column() == Some(&column))
                {
                    return fail(format!("{column} has two ranges; write one"));
                }
                table.checks.push(Check {
                    name: format!("{table_name}_{column}_check"),
                    rule: Rule::Range {
                        column,
                        length,
                        min,
                        max,
                    },
                });
            }
            Kind::Default { column, value } => {
                let sql_type = column_type(&column).expect("checked above");
                let fits = match &value {
                    DefaultValue::Now => matches!(sql_type, SqlType::Timestamp),
                    DefaultValue::Bool(_) => sql_type == SqlType::Bool,
                    DefaultValue::Number(_) => is_number(sql_type),
                    DefaultValue::Text(_) => sql_type == SqlType::Text,
                    DefaultValue::Sql(_) => true,
                };
                if !fits {
                    return fail(format!(
                        "default({column}, {value}) does not fit {column}, which is {}",
                        sql_type.diesel_name()
                    ));
                }
                if table.default_of(&column).is_some() {
                    return fail(format!("{column} has two defaults"));
                }
                table.defaults.push(ColumnDefault { column, value });
            }
            Kind::Index { columns, unique } => {
                let index = Index::declared(&table_name, columns, unique);
                if table.index_like(&index).is_some() {
                    return fail(format!("{index} is declared twice"));
                }
                table.indexes.push(index);
            }
            Kind::OnDelete { column, action } => {
                let nullable = table.column(&column).is_some_and(|c| c.nullable);
                let Some(fk) = table.foreign_keys.iter_mut().find(|fk| fk.column == column) else {
                    return fail(format!(
                        "on_delete({column}, …): src/schema.rs has no joinable!({table_name} -> \
                         … ({column}))"
                    ));
                };
                if action == OnDelete::SetNull && !nullable {
                    return fail(format!(
                        "on_delete({column}, set_null): {column} is NOT NULL; make it Nullable \
                         or choose another action"
                    ));
                }
                fk.on_delete = action;
            }
        }
    }
    // Defaults in the order of the columns, as the catalog reads them.
    let order = |column: &str| table.columns.iter().position(|c| c.name == column);
    let mut defaults = std::mem::take(&mut table.defaults);
    defaults.sort_by_key(|d| order(&d.column));
    table.defaults = defaults;
    Ok(())
}

fn is_number(sql_type: SqlType) -> bool {
    matches!(
        sql_type,
        SqlType::SmallInt | SqlType::Integer | SqlType::BigInt | SqlType::Float | SqlType::Double
    )
}

/// The macro's body: tables, each with its statements.
struct Body(Vec<TableBlock>);

struct TableBlock {
    name: Ident,
    statements: Vec<Statement>,
}

struct Statement {
    span: proc_macro2::Span,
    kind: Kind,
}

enum Kind {
    Check {
        column: String,
        length: bool,
        min: Option<String>,
        max: Option<String>,
    },
    Default {
        column: String,
        value: DefaultValue,
    },
    Index {
        columns: Vec<String>,
        unique: bool,
    },
    OnDelete {
        column: String,
        action: OnDelete,
    },
}

impl Statement {
    fn columns(&self) -> Vec<&str> {
        match &self.kind {
            Kind::Check { column, .. }
            | Kind::Default { column, .. }
            | Kind::OnDelete { column, .. } => vec![column],
            Kind::Index { columns, .. } => columns.iter().map(String::as_str).collect(),
        }
    }
}

impl Parse for Body {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut tables = Vec::new();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            let content;
            braced!(content in input);
            let mut statements = Vec::new();
            while !content.is_empty() {
                statements.push(content.parse()?);
                content.parse::<Token![;]>()?;
            }
            tables.push(TableBlock { name, statements });
        }
        Ok(Body(tables))
    }
}

const KINDS: &str = "check, max_length, default, index, unique, on_delete";

impl Parse for Statement {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let word: Ident = input.parse()?;
        let span = word.span();
        let args;
        parenthesized!(args in input);
        let kind = match word.to_string().as_str() {
            "check" => {
                let (column, length) = if args.peek(Ident) && args.peek2(syn::token::Paren) {
                    let function: Ident = args.parse()?;
                    if function != "length" {
                        return Err(syn::Error::new(
                            function.span(),
                            "a check is on a column or on length(column)",
                        ));
                    }
                    let inner;
                    parenthesized!(inner in args);
                    (inner.parse::<Ident>()?.to_string(), true)
                } else {
                    (args.parse::<Ident>()?.to_string(), false)
                };
                args.parse::<Token![in]>()?;
                let (min, max) = range(&args)?;
                Kind::Check {
                    column,
                    length,
                    min,
                    max,
                }
            }
            "max_length" => {
                let column: Ident = args.parse()?;
                args.parse::<Token![,]>()?;
                let max: syn::LitInt = args.parse()?;
                Kind::Check {
                    column: column.to_string(),
                    length: true,
                    min: None,
                    max: Some(canonical_number(max.base10_parse::<u64>()? as f64)),
                }
            }
            "default" => {
                let column: Ident = args.parse()?;
                args.parse::<Token![,]>()?;
                Kind::Default {
                    column: column.to_string(),
                    value: default_value(&args)?,
                }
            }
            "index" | "unique" => {
                let columns = Punctuated::<Ident, Token![,]>::parse_terminated(&args)?;
                if columns.is_empty() {
                    return Err(syn::Error::new(span, "an index needs at least one column"));
                }
                Kind::Index {
                    columns: columns.iter().map(Ident::to_string).collect(),
                    unique: word == "unique",
                }
            }
            "on_delete" => {
                let column: Ident = args.parse()?;
                args.parse::<Token![,]>()?;
                let action: Ident = args.parse()?;
                Kind::OnDelete {
                    column: column.to_string(),
                    action: OnDelete::parse(&action.to_string()).ok_or_else(|| {
                        syn::Error::new(
                            action.span(),
                            "the action is one of cascade, restrict, set_null, no_action",
                        )
                    })?,
                }
            }
            other => {
                return Err(syn::Error::new(
                    span,
                    format!("{other} is not a declaration; write one of {KINDS}"),
                ))
            }
        };
        if !args.is_empty() {
            return Err(args.error("unexpected words after the declaration"));
        }
        Ok(Statement { span, kind })
    }
}

/// `lo..=hi`, `lo..` or `..=hi`, each bound a number.
fn range(input: ParseStream) -> syn::Result<(Option<String>, Option<String>)> {
    let min = if input.peek(Token![..=]) || input.peek(Token![..]) {
        None
    } else {
        Some(number(input)?)
    };
    if input.peek(Token![..=]) {
        input.parse::<Token![..=]>()?;
        Ok((min, Some(number(input)?)))
    } else {
        input.parse::<Token![..]>()?;
        if !input.is_empty() {
            return Err(input.error("write an inclusive range: lo..=hi, lo.. or ..=hi"));
        }
        if min.is_none() {
            return Err(input.error("a range needs a bound"));
        }
        Ok((min, None))
    }
}

/// An integer or float literal, maybe negative, as SQL writes it.
fn number(input: ParseStream) -> syn::Result<String> {
    let negative = input.parse::<Option<Token![-]>>()?.is_some();
    let lit: syn::Lit = input.parse()?;
    let value = match &lit {
        syn::Lit::Int(i) => i.base10_parse::<i64>()? as f64,
        syn::Lit::Float(f) => f.base10_parse::<f64>()?,
        _ => return Err(syn::Error::new_spanned(lit, "expected a number")),
    };
    Ok(canonical_number(if negative { -value } else { value }))
}

/// `now`, `true`, `false`, a number or a string.
fn default_value(input: ParseStream) -> syn::Result<DefaultValue> {
    if input.peek(Ident) {
        let word: Ident = input.parse()?;
        return match word.to_string().as_str() {
            "now" => Ok(DefaultValue::Now),
            _ => Err(syn::Error::new(
                word.span(),
                "a default is now, true, false, a number or a string",
            )),
        };
    }
    if input.peek(syn::LitBool) {
        return Ok(DefaultValue::Bool(input.parse::<syn::LitBool>()?.value));
    }
    if input.peek(syn::LitStr) {
        return Ok(DefaultValue::Text(input.parse::<syn::LitStr>()?.value()));
    }
    Ok(DefaultValue::Number(number(input)?))
}

/// src/schema.rs and src/constraints.rs read together: the whole model.
/// An error names the file it is in.
pub fn parse_model(schema: &str, constraints: &str) -> Result<Schema, String> {
    let mut model = crate::model::parse(schema).map_err(|e| format!("src/schema.rs: {e}"))?;
    apply(&mut model, constraints).map_err(|e| format!("src/constraints.rs: {e}"))?;
    Ok(model)
}

/// Compiles `src/constraints.rs` into the app: a module per table, and in
/// it a module per column that has a range, with its bounds as constants
/// (`MIN_LENGTH`/`MAX_LENGTH` for `length(column)`, `MIN`/`MAX` for a
/// number; an open end is 0 or `usize::MAX`, or an infinity). The other
/// declarations are for the database only; `bookshelf migrate diff` reads
/// them all from the file ([`apply`]).
#[macro_export]
macro_rules! constraints {
    ($($table:ident { $($kind:ident ( $($args:tt)* );)* })*) => {
        $(
            #[doc = concat!("What src/constraints.rs declares for ", stringify!($table), ".")]
            pub mod $table {
                $( $crate::constraint!($kind ($($args)*)); )*
            }
        )*
    };
}

/// One declaration of [`constraints!`].
#[doc(hidden)]
#[macro_export]
macro_rules! constraint {
    (check (length($column:ident) in $($range:tt)*)) => {
        #[allow(non_snake_case)]
        pub mod $column {
            $crate::constraint!(@length $($range)*);
        }
    };
    (check ($column:ident in $($range:tt)*)) => {
        #[allow(non_snake_case)]
        pub mod $column {
            $crate::constraint!(@range $($range)*);
        }
    };
    (max_length ($column:ident, $max:literal)) => {
        #[allow(non_snake_case)]
        pub mod $column {
            pub const MIN_LENGTH: usize = 0;
            pub const MAX_LENGTH: usize = $max;
        }
    };
    (@length $min:literal ..= $max:literal) => {
        pub const MIN_LENGTH: usize = $min;
        pub const MAX_LENGTH: usize = $max;
    };
    (@length ..= $max:literal) => {
        pub const MIN_LENGTH: usize = 0;
        pub const MAX_LENGTH: usize = $max;
    };
    (@length $min:literal ..) => {
        pub const MIN_LENGTH: usize = $min;
        pub const MAX_LENGTH: usize = usize::MAX;
    };
    (@range $min:literal ..= $max:literal) => {
        pub const MIN: f64 = $min as f64;
        pub const MAX: f64 = $max as f64;
    };
    (@range ..= $max:literal) => {
        pub const MIN: f64 = f64::NEG_INFINITY;
        pub const MAX: f64 = $max as f64;
    };
    (@range $min:literal ..) => {
        pub const MIN: f64 = $min as f64;
        pub const MAX: f64 = f64::INFINITY;
    };
    ($other:ident ($($args:tt)*)) => {};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    const SCHEMA: &str = "diesel::table! { books (id) { id -> Integer, title -> Text, \
        price -> Double, published -> Bool, created_at -> Timestamp, isbn -> Nullable<Text>, } }
        diesel::table! { reviews (id) { id -> Integer, book_id -> Nullable<Integer>, } }
        diesel::joinable!(reviews -> books (book_id));";

    fn read(constraints: &str) -> Result<Schema, String> {
        let mut schema = model::parse(SCHEMA).unwrap();
        apply(&mut schema, constraints).map(|()| schema)
    }

    #[test]
    fn every_kind_of_declaration_is_read() {
        let schema = read(
            "crate::constraints! {
                books {
                    check(length(title) in 1..=200);
                    check(price in 0.0..=1_000_000.0);
                    max_length(isbn, 13);
                    default(published, false);
                    default(created_at, now);
                    index(title, id);
                    unique(isbn);
                }
                reviews { on_delete(book_id, set_null); }
            }",
        )
        .unwrap();
        let books = schema.table("books").unwrap();
        let sql: Vec<String> = books.checks.iter().map(|c| c.rule.sql()).collect();
        assert_eq!(
            sql,
            [
                "length(title) BETWEEN 1 AND 200",
                "price BETWEEN 0 AND 1000000",
                "length(isbn) <= 13"
            ]
        );
        assert_eq!(books.checks[1].name, "books_price_check");
        assert_eq!(
            books.default_of("published"),
            Some(&DefaultValue::Bool(false))
        );
        assert_eq!(books.default_of("created_at"), Some(&DefaultValue::Now));
        let names: Vec<&str> = books.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["books_title_id_idx", "books_isbn_key"]);
        assert!(books.indexes[1].unique);
        let reviews = schema.table("reviews").unwrap();
        assert_eq!(reviews.foreign_keys[0].on_delete, OnDelete::SetNull);
    }

    #[test]
    fn a_declaration_that_does_not_fit_says_where_and_why() {
        for (text, message) in [
            (
                "crate::constraints! { shelves { index(id); } }",
                "shelves is not a table",
            ),
            (
                "crate::constraints! { books { index(isbm); } }",
                "books has no column isbm",
            ),
            (
                "crate::constraints! { books {\n check(title in 1..=2); } }",
                "line 2",
            ),
            (
                "crate::constraints! { books { check(length(price) in 1..=2); } }",
                "price is not Text",
            ),
            (
                "crate::constraints! { books { check(price in 1..2); } }",
                "inclusive range",
            ),
            (
                "crate::constraints! { books { default(published, 0); } }",
                "does not fit published",
            ),
            (
                "crate::constraints! { books { default(title, now); } }",
                "does not fit title",
            ),
            (
                "crate::constraints! { books { on_delete(id, cascade); } }",
                "no joinable!(books",
            ),
            (
                "crate::constraints! { books { indx(id); } }",
                "indx is not a declaration",
            ),
            (
                "crate::constraints! { books { index(title); index(title); } }",
                "declared twice",
            ),
        ] {
            let error = read(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
