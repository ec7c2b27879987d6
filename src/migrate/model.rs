//! The tables' model: `src/schema.rs` read with a Rust parser (`syn`) into
//! tables, columns and foreign keys. The live database is read into the same
//! shape ([`super::catalog`]), so the two can be compared ([`super::diff`]).

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, parenthesized, Attribute, Ident, Token};

use crate::db::Backend;

/// A schema: every table, in the order of the file (or of the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: Vec<Table>,
}

/// A table: its columns, primary key and foreign keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<Column>,
    /// From `joinable!(child -> parent (column))`, or the database's foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
}

/// A column: what `src/schema.rs` says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
}

/// A foreign key: `column` refers to the primary key of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub column: String,
    pub parent: String,
}

impl Schema {
    /// The table of that name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl Table {
    /// The column of that name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The foreign key on that column.
    pub fn foreign_key(&self, column: &str) -> Option<&ForeignKey> {
        self.foreign_keys.iter().find(|fk| fk.column == column)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nullable {
            write!(f, "Nullable<{}>", self.sql_type.diesel_name())
        } else {
            f.write_str(self.sql_type.diesel_name())
        }
    }
}

/// The SQL types `migrate diff` knows, by diesel's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SqlType {
    SmallInt,
    Integer,
    BigInt,
    Float,
    Double,
    Text,
    Bool,
    Timestamp,
    Date,
    Time,
    Binary,
}

impl SqlType {
    const ALL: [SqlType; 11] = [
        SqlType::SmallInt,
        SqlType::Integer,
        SqlType::BigInt,
        SqlType::Float,
        SqlType::Double,
        SqlType::Text,
        SqlType::Bool,
        SqlType::Timestamp,
        SqlType::Date,
        SqlType::Time,
        SqlType::Binary,
    ];

    /// Diesel's name, as `diesel print-schema` writes it for SQLite.
    pub fn diesel_name(self) -> &'static str {
        match self {
            SqlType::SmallInt => "SmallInt",
            SqlType::Integer => "Integer",
            SqlType::BigInt => "BigInt",
            SqlType::Float => "Float",
            SqlType::Double => "Double",
            SqlType::Text => "Text",
            SqlType::Bool => "Bool",
            SqlType::Timestamp => "Timestamp",
            SqlType::Date => "Date",
            SqlType::Time => "Time",
            SqlType::Binary => "Binary",
        }
    }

    /// The type named in src/schema.rs, including PostgreSQL's spellings
    /// (`Int4`, `Float8`, …) that mean the same.
    pub fn from_diesel(name: &str) -> Option<SqlType> {
        let alias = match name {
            "Int2" => SqlType::SmallInt,
            "Int4" => SqlType::Integer,
            "Int8" => SqlType::BigInt,
            "Float4" => SqlType::Float,
            "Float8" => SqlType::Double,
            "Varchar" | "VarChar" => SqlType::Text,
            "Bytea" | "Blob" => SqlType::Binary,
            "Datetime" => SqlType::Timestamp,
            _ => return SqlType::ALL.into_iter().find(|t| t.diesel_name() == name),
        };
        Some(alias)
    }

    /// The type's name in a backend's SQL.
    pub fn sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (SqlType::SmallInt, _) => "SMALLINT",
            (SqlType::Integer, _) => "INTEGER",
            (SqlType::BigInt, _) => "BIGINT",
            (SqlType::Float, _) => "REAL",
            (SqlType::Double, Backend::Sqlite) => "DOUBLE",
            (SqlType::Double, Backend::Postgres) => "DOUBLE PRECISION",
            (SqlType::Text, _) => "TEXT",
            (SqlType::Bool, _) => "BOOLEAN",
            (SqlType::Timestamp, _) => "TIMESTAMP",
            (SqlType::Date, _) => "DATE",
            (SqlType::Time, _) => "TIME",
            (SqlType::Binary, Backend::Sqlite) => "BLOB",
            (SqlType::Binary, Backend::Postgres) => "BYTEA",
        }
    }

    /// The type of a column as a backend reports it: SQLite's declared type
    /// read the way `diesel print-schema` reads it, or PostgreSQL's
    /// `information_schema` data type.
    pub fn from_database(backend: Backend, declared: &str) -> Option<SqlType> {
        let t = declared.to_ascii_lowercase();
        let t = t.as_str();
        let found = match backend {
            Backend::Sqlite => match t {
                _ if t == "boolean" || (t.contains("tiny") && t.contains("int")) => SqlType::Bool,
                _ if t == "int2" || (t.contains("small") && t.contains("int")) => SqlType::SmallInt,
                _ if t == "int8" || (t.contains("big") && t.contains("int")) => SqlType::BigInt,
                _ if t.contains("int") => SqlType::Integer,
                _ if t.contains("char") || t.contains("clob") || t.contains("text") => {
                    SqlType::Text
                }
                _ if t.contains("blob") || t.contains("binary") || t.is_empty() => SqlType::Binary,
                _ if t.contains("float") || t.contains("real") => SqlType::Float,
                _ if t.contains("double") || t.contains("num") || t.contains("dec") => {
                    SqlType::Double
                }
                "datetime" | "timestamp" => SqlType::Timestamp,
                "date" => SqlType::Date,
                "time" => SqlType::Time,
                _ => return None,
            },
            Backend::Postgres => match t {
                "smallint" => SqlType::SmallInt,
                "integer" => SqlType::Integer,
                "bigint" => SqlType::BigInt,
                "real" => SqlType::Float,
                "double precision" => SqlType::Double,
                "text" | "character varying" => SqlType::Text,
                "boolean" => SqlType::Bool,
                "timestamp without time zone" => SqlType::Timestamp,
                "date" => SqlType::Date,
                "time without time zone" => SqlType::Time,
                "bytea" => SqlType::Binary,
                _ => return None,
            },
        };
        Some(found)
    }

    /// Whether every value of this type converts to `to` and back unchanged
    /// (a widening: no data can be lost).
    pub fn widens_to(self, to: SqlType) -> bool {
        use SqlType::*;
        matches!(
            (self, to),
            (SmallInt, Integer | BigInt | Float | Double | Text)
                | (Integer, BigInt | Double | Text)
                | (BigInt | Double | Bool | Date | Timestamp | Time, Text)
                | (Float, Double | Text)
                | (Date, Timestamp)
        )
    }

    /// A value of this type that stands in for data that is gone (down.sql
    /// re-creating a dropped NOT NULL column): one character or 1, which
    /// passes the usual CHECKs (not empty, positive, from 1).
    pub fn placeholder(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (SqlType::Text, _) => "'-'",
            (SqlType::Bool, Backend::Postgres) => "FALSE",
            (SqlType::Timestamp, _) => "'1970-01-01 00:00:00'",
            (SqlType::Date, _) => "'1970-01-01'",
            (SqlType::Time, _) => "'00:00:00'",
            (SqlType::Binary, Backend::Sqlite) => "X''",
            (SqlType::Binary, Backend::Postgres) => "''::bytea",
            (SqlType::Bool, Backend::Sqlite) => "0",
            _ => "1",
        }
    }
}

/// Reads the text of a `src/schema.rs`: every `table!` and `joinable!`.
/// Other items (`allow_tables_to_appear_in_same_query!`, `use`, comments)
/// are ignored. The error says where and what is wrong.
pub fn parse(text: &str) -> Result<Schema, String> {
    let file = syn::parse_file(text).map_err(|e| located(&e))?;
    let mut schema = Schema::default();
    let mut joins = Vec::new();
    for item in file.items {
        let syn::Item::Macro(item) = item else {
            continue;
        };
        let Some(name) = item.mac.path.segments.last().map(|s| s.ident.to_string()) else {
            continue;
        };
        match name.as_str() {
            "table" => {
                let table: TableMacro = item.mac.parse_body().map_err(|e| located(&e))?;
                if schema.table(&table.0.name).is_some() {
                    return Err(format!("table {} is declared twice", table.0.name));
                }
                schema.tables.push(table.0);
            }
            "joinable" => {
                let join: JoinMacro = item.mac.parse_body().map_err(|e| located(&e))?;
                joins.push(join);
            }
            _ => {}
        }
    }
    for join in joins {
        let describe = || {
            format!(
                "joinable!({} -> {} ({}))",
                join.child, join.parent, join.column
            )
        };
        if schema.table(&join.parent).is_none() {
            return Err(format!("{}: no table {}", describe(), join.parent));
        }
        let Some(child) = schema.tables.iter_mut().find(|t| t.name == join.child) else {
            return Err(format!("{}: no table {}", describe(), join.child));
        };
        if child.column(&join.column).is_none() {
            return Err(format!(
                "{}: {} has no column {}",
                describe(),
                join.child,
                join.column
            ));
        }
        child.foreign_keys.push(ForeignKey {
            column: join.column,
            parent: join.parent,
        });
    }
    Ok(schema)
}

fn located(e: &syn::Error) -> String {
    let at = e.span().start();
    format!("line {}, column {}: {e}", at.line, at.column + 1)
}

/// The SQL name given by `#[sql_name = "…"]`, if any.
fn sql_name(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    for attr in attrs {
        if attr.path().is_ident("sql_name") {
            let value = &attr.meta.require_name_value()?.value;
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = value
            {
                return Ok(Some(s.value()));
            }
            return Err(syn::Error::new_spanned(value, "expected a string"));
        }
    }
    Ok(None)
}

/// The body of `table! { name (key, …) { column -> Type, … } }`.
struct TableMacro(Table);

impl Parse for TableMacro {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut attrs = input.call(Attribute::parse_outer)?;
        while input.peek(Token![use]) {
            input.parse::<syn::ItemUse>()?;
            attrs = input.call(Attribute::parse_outer)?;
        }
        let mut ident: Ident = input.parse()?;
        if input.peek(Token![.]) {
            // `schema.table`: only the table's name matters here.
            input.parse::<Token![.]>()?;
            ident = input.parse()?;
        }
        let name = sql_name(&attrs)?.unwrap_or_else(|| ident.to_string());
        let mut primary_key = vec!["id".to_string()];
        if input.peek(syn::token::Paren) {
            let keys;
            parenthesized!(keys in input);
            let keys = Punctuated::<Ident, Token![,]>::parse_terminated(&keys)?;
            primary_key = keys.iter().map(Ident::to_string).collect();
        }
        let body;
        braced!(body in input);
        let mut columns = Vec::new();
        // The key names the columns' Rust names; the model keeps SQL names.
        let mut rust_names = Vec::new();
        while !body.is_empty() {
            let attrs = body.call(Attribute::parse_outer)?;
            let ident: Ident = body.parse()?;
            body.parse::<Token![->]>()?;
            let ty: syn::Type = body.parse()?;
            if !body.is_empty() {
                body.parse::<Token![,]>()?;
            }
            let column = sql_name(&attrs)?.unwrap_or_else(|| ident.to_string());
            rust_names.push((ident.to_string(), column.clone()));
            let (sql_type, nullable) = column_type(&ty)?;
            columns.push(Column {
                name: column,
                sql_type,
                nullable,
            });
        }
        for key in &mut primary_key {
            let Some((_, sql)) = rust_names.iter().find(|(rust, _)| rust == key) else {
                return Err(syn::Error::new(
                    ident.span(),
                    format!("{name}: primary key {key} is not one of its columns"),
                ));
            };
            *key = sql.clone();
        }
        Ok(TableMacro(Table {
            name,
            primary_key,
            columns,
            foreign_keys: Vec::new(),
        }))
    }
}

/// `Type` or `Nullable<Type>`, as an [`SqlType`] and whether it is nullable.
fn column_type(ty: &syn::Type) -> syn::Result<(SqlType, bool)> {
    let unsupported = || {
        let known: Vec<&str> = SqlType::ALL.iter().map(|t| t.diesel_name()).collect();
        syn::Error::new_spanned(
            ty,
            format!(
                "type {} is not one migrate diff knows ({})",
                quote_type(ty),
                known.join(", ")
            ),
        )
    };
    let syn::Type::Path(path) = ty else {
        return Err(unsupported());
    };
    let last = path.path.segments.last().ok_or_else(unsupported)?;
    if last.ident == "Nullable" {
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return Err(unsupported());
        };
        let Some(syn::GenericArgument::Type(inner)) = args.args.first() else {
            return Err(unsupported());
        };
        let (sql_type, nullable) = column_type(inner)?;
        if nullable {
            return Err(unsupported());
        }
        return Ok((sql_type, true));
    }
    if !last.arguments.is_empty() {
        return Err(unsupported());
    }
    let sql_type = SqlType::from_diesel(&last.ident.to_string()).ok_or_else(unsupported)?;
    Ok((sql_type, false))
}

fn quote_type(ty: &syn::Type) -> String {
    use quote::ToTokens;
    ty.to_token_stream().to_string().replace(' ', "")
}

/// The body of `joinable!(child -> parent (column))`.
struct JoinMacro {
    child: String,
    parent: String,
    column: String,
}

impl Parse for JoinMacro {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let child: Ident = input.parse()?;
        input.parse::<Token![->]>()?;
        let parent: Ident = input.parse()?;
        let inner;
        parenthesized!(inner in input);
        let column: Ident = inner.parse()?;
        Ok(JoinMacro {
            child: child.to_string(),
            parent: parent.to_string(),
            column: column.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_schema() {
        let schema = parse(include_str!("../schema.rs")).unwrap();
        let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["books", "reviews"]);
        let books = schema.table("books").unwrap();
        assert_eq!(books.primary_key, ["id"]);
        assert_eq!(
            books.column("description"),
            Some(&Column {
                name: "description".into(),
                sql_type: SqlType::Text,
                nullable: true
            })
        );
        assert_eq!(books.column("price").unwrap().sql_type, SqlType::Double);
        assert_eq!(
            schema.table("reviews").unwrap().foreign_keys,
            [ForeignKey {
                column: "book_id".into(),
                parent: "books".into()
            }]
        );
    }

    #[test]
    fn reads_attributes_comments_and_composite_keys() {
        let schema = parse(
            r#"
            // a comment
            diesel::table! {
                use diesel::sql_types::*;
                /// Tags.
                #[sql_name = "book_tags"]
                tags (book_id, name) {
                    /// The book.
                    book_id -> Int4,
                    #[sql_name = "label"]
                    name -> Nullable<Varchar>
                }
            }
            "#,
        )
        .unwrap();
        let tags = &schema.tables[0];
        assert_eq!(tags.name, "book_tags");
        assert_eq!(tags.primary_key, ["book_id", "label"]);
        assert_eq!(tags.columns[0].sql_type, SqlType::Integer);
        assert_eq!(tags.columns[1].name, "label");
        assert!(tags.columns[1].nullable);
    }

    #[test]
    fn says_where_a_schema_is_wrong() {
        let error = parse(
            "diesel::table! {\n  books (id) {\n    id -> Integer,\n    isbn -> Money,\n  }\n}\n",
        )
        .unwrap_err();
        assert!(error.starts_with("line 4"), "{error}");
        assert!(
            error.contains("type Money is not one migrate diff knows"),
            "{error}"
        );
        let error = parse("diesel::table! { books (id) { id -> Integer, } }\ndiesel::joinable!(reviews -> books (book_id));").unwrap_err();
        assert_eq!(
            error,
            "joinable!(reviews -> books (book_id)): no table reviews"
        );
        let error = parse("diesel::table! { books (id) { id -> Integer ").unwrap_err();
        assert!(error.starts_with("line 1"), "{error}");
    }
}
