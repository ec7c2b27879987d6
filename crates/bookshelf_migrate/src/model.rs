//! The tables' model: `src/schema.rs` read with a Rust parser (`syn`) into
//! tables, columns and foreign keys, and `src/constraints.rs` (what
//! `table!` cannot say: indexes, CHECKs, defaults, ON DELETE; read by
//! [`crate::constraints`]) on top. The live database is read into the same
//! shape ([`crate::catalog`]), so the two can be compared ([`crate::diff`]).

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, parenthesized, Attribute, Ident, Token};

use crate::connection::Backend;

/// A schema: every table, in the order of the file (or of the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: Vec<Table>,
}

/// A table: its columns, primary key, foreign keys, and what
/// src/constraints.rs declares for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub name: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<Column>,
    /// From `joinable!(child -> parent (column))`, or the database's foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes other than the primary key's, unique or not.
    pub indexes: Vec<Index>,
    pub checks: Vec<Check>,
    /// Column defaults, in the order of the columns.
    pub defaults: Vec<ColumnDefault>,
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
    pub on_delete: OnDelete,
}

impl ForeignKey {
    /// The constraint's name, as PostgreSQL names an inline `REFERENCES`.
    pub fn name(&self, table: &str) -> String {
        format!("{table}_{}_fkey", self.column)
    }
}

/// What a foreign key does when its parent row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDelete {
    /// Delete the child rows too (what a `joinable!` gets when
    /// src/constraints.rs says nothing, as reviews go with their book).
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

    /// `cascade`, `restrict`, `set_null` or `no_action` (as declared), or
    /// the SQL words (as SQLite reports them).
    pub fn parse(text: &str) -> Option<OnDelete> {
        match text.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "cascade" => Some(OnDelete::Cascade),
            "restrict" => Some(OnDelete::Restrict),
            "set_null" => Some(OnDelete::SetNull),
            "no_action" => Some(OnDelete::NoAction),
            _ => None,
        }
    }
}

/// An index on columns of one table (not the primary key's). Two indexes
/// are equal whatever `constraint` says: that is how a backend stores a
/// unique one (PostgreSQL a constraint, SQLite an index), not what it is.
#[derive(Debug, Clone, Eq)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// The database made it for a `UNIQUE` constraint (it goes with the
    /// constraint); a declared unique index is written as one on PostgreSQL.
    pub constraint: bool,
}

impl PartialEq for Index {
    fn eq(&self, other: &Index) -> bool {
        self.name == other.name && self.columns == other.columns && self.unique == other.unique
    }
}

impl Index {
    /// A declared index, named as bookshelf's migrations name them:
    /// `books_author_id_idx`, `books_isbn_key` for a unique one (the name
    /// PostgreSQL gives an inline `UNIQUE`).
    pub fn declared(table: &str, columns: Vec<String>, unique: bool) -> Index {
        let suffix = if unique { "key" } else { "idx" };
        Index {
            name: format!("{table}_{}_{suffix}", columns.join("_")),
            columns,
            unique,
            constraint: unique,
        }
    }

    /// Whether two indexes index the same columns the same way (their names
    /// may differ).
    pub fn same_as(&self, other: &Index) -> bool {
        self.columns == other.columns && self.unique == other.unique
    }
}

impl std::fmt::Display for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.unique { "unique index" } else { "index" };
        write!(f, "{kind} {} ({})", self.name, self.columns.join(", "))
    }
}

/// A CHECK constraint: its name and its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub rule: Rule,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "check {} ({})", self.name, self.rule.sql())
    }
}

/// A CHECK's condition: a range that bookshelf reads and writes (a
/// column's value, or a text column's length in characters, between
/// bounds), or any other SQL, compared as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Range {
        column: String,
        /// The bounds are on `length(column)`.
        length: bool,
        /// Numbers, as SQL writes them (`0`, `2.5`, `-1`).
        min: Option<String>,
        max: Option<String>,
    },
    Sql(String),
}

impl Rule {
    /// The condition in SQL, the same for both backends:
    /// `length(title) BETWEEN 1 AND 200`, `price >= 0`.
    pub fn sql(&self) -> String {
        match self {
            Rule::Range {
                column,
                length,
                min,
                max,
            } => {
                let column = crate::idents::name(column);
                let target = if *length {
                    format!("length({column})")
                } else {
                    column
                };
                match (min, max) {
                    (Some(min), Some(max)) => format!("{target} BETWEEN {min} AND {max}"),
                    (Some(min), None) => format!("{target} >= {min}"),
                    (None, Some(max)) => format!("{target} <= {max}"),
                    (None, None) => "TRUE".to_string(),
                }
            }
            Rule::Sql(sql) => sql.clone(),
        }
    }

    /// The column a range is on.
    pub fn column(&self) -> Option<&str> {
        match self {
            Rule::Range { column, .. } => Some(column),
            Rule::Sql(_) => None,
        }
    }
}

/// A number as SQL writes it: `1_000_000.0` is `1000000`, `2.50` is `2.5`.
pub fn canonical_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// A column's default, as declared, or as read from a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// The current time in UTC (`CURRENT_TIMESTAMP` on SQLite,
    /// `now() AT TIME ZONE 'utc'` on PostgreSQL).
    Now,
    Bool(bool),
    /// A number as SQL writes it.
    Number(String),
    Text(String),
    /// Any other expression, as the database reports it.
    Sql(String),
}

impl DefaultValue {
    /// The default in a backend's SQL.
    pub fn sql(&self, backend: Backend) -> String {
        match (self, backend) {
            (DefaultValue::Now, Backend::Sqlite) => "CURRENT_TIMESTAMP".into(),
            (DefaultValue::Now, Backend::Postgres) => "(now() AT TIME ZONE 'utc')".into(),
            (DefaultValue::Bool(b), Backend::Sqlite) => if *b { "1" } else { "0" }.into(),
            (DefaultValue::Bool(b), Backend::Postgres) => if *b { "TRUE" } else { "FALSE" }.into(),
            (DefaultValue::Number(n), _) => n.clone(),
            (DefaultValue::Text(t), _) => format!("'{}'", t.replace('\'', "''")),
            (DefaultValue::Sql(sql), _) => sql.clone(),
        }
    }
}

impl std::fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DefaultValue::Now => f.write_str("now"),
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::Number(n) => f.write_str(n),
            DefaultValue::Text(t) => write!(f, "{t:?}"),
            DefaultValue::Sql(sql) => f.write_str(sql),
        }
    }
}

/// A column's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefault {
    pub column: String,
    pub value: DefaultValue,
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

    /// The default of that column, if it has one.
    pub fn default_of(&self, column: &str) -> Option<&DefaultValue> {
        self.defaults
            .iter()
            .find(|d| d.column == column)
            .map(|d| &d.value)
    }

    /// The index on the same columns, unique or not as `index` is.
    pub fn index_like(&self, index: &Index) -> Option<&Index> {
        self.indexes.iter().find(|i| i.same_as(index))
    }

    /// The check with the same condition.
    pub fn check_like(&self, check: &Check) -> Option<&Check> {
        self.checks.iter().find(|c| c.rule == check.rule)
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
    /// PostgreSQL's `timestamp with time zone` (SQLAlchemy's
    /// `DateTime(timezone=True)`).
    Timestamptz,
    Date,
    Time,
    Binary,
    /// PostgreSQL's `character varying(n)` (SQLAlchemy's `String(50)`): text
    /// with a length limit the type itself enforces. Read from a database
    /// bookshelf did not create; src/schema.rs says `Text` (or `Varchar`,
    /// the same) and src/constraints.rs says the length.
    BoundedVarchar,
}

impl SqlType {
    const ALL: [SqlType; 12] = [
        SqlType::SmallInt,
        SqlType::Integer,
        SqlType::BigInt,
        SqlType::Float,
        SqlType::Double,
        SqlType::Text,
        SqlType::Bool,
        SqlType::Timestamp,
        SqlType::Timestamptz,
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
            SqlType::Timestamptz => "Timestamptz",
            SqlType::BoundedVarchar => "Varchar",
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
            (SqlType::Timestamptz, Backend::Sqlite) => "TIMESTAMPTZ",
            (SqlType::Timestamptz, Backend::Postgres) => "TIMESTAMP WITH TIME ZONE",
            (SqlType::BoundedVarchar, _) => "VARCHAR",
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
                "timestamptz" => SqlType::Timestamptz,
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
                "bounded character varying" => SqlType::BoundedVarchar,
                "timestamp with time zone" => SqlType::Timestamptz,
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
                // Converted at UTC (see the PostgreSQL SQL for AlterColumn):
                // PostgreSQL keeps no offset in a timestamptz to lose.
                | (Timestamptz, Timestamp | Text)
                | (BoundedVarchar, Text)
        )
    }

    /// A value of this type that stands in for data that is gone (down.sql
    /// re-creating a dropped NOT NULL column): one character or 1, which
    /// passes the usual CHECKs (not empty, positive, from 1).
    pub fn placeholder(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (SqlType::Text, _) => "'-'",
            (SqlType::Bool, Backend::Postgres) => "FALSE",
            (SqlType::Timestamp | SqlType::Timestamptz, _) => "'1970-01-01 00:00:00'",
            (SqlType::BoundedVarchar, _) => "'-'",
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
            on_delete: OnDelete::default(),
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
            ..Table::default()
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
