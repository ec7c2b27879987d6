//! Reading a live schema, per backend: the tables, columns and foreign keys
//! in the shape of [`crate::model`] (for drift and diff), the definitions a
//! generated down.sql re-creates, and a line-per-object snapshot that proves
//! a down.sql restores what its up.sql changed.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};

use crate::conditions::lexemes;
pub use crate::conditions::rule_of;
use crate::connection::{Backend, DbConn};
use crate::error::Error;
pub use crate::idents::{ident, literal};
use crate::model::{
    canonical_number, Check, Column, ColumnDefault, DefaultValue, ForeignKey, Index, OnDelete,
    Rule, Schema, SqlType, Table,
};

/// The table Alembic keeps its revision in: a database that has it came
/// from Alembic. The engine reads it and leaves it alone.
pub const ALEMBIC_TABLE: &str = "alembic_version";

/// Tables that are migration bookkeeping, not the application's schema.
pub const BOOKKEEPING: &[&str] = &[
    "__diesel_schema_migrations",
    "bookshelf_migrations",
    "bookshelf_replicas",
    "bookshelf_stamps",
    // Alembic's, in a database bookshelf adopted: read, never changed.
    ALEMBIC_TABLE,
];

/// The query for `table`'s name (`name`), no row when it does not exist.
pub fn bookkeeping_table_query(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = {}",
            literal(table)
        ),
        Backend::Postgres => format!(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = {}",
            literal(table)
        ),
    }
}

/// The query for the application's table names (`name`), bookkeeping left out.
pub fn tables_query(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND {} ORDER BY name",
            not_bookkeeping("name")
        ),
        Backend::Postgres => format!(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND {} \
             ORDER BY table_name",
            not_bookkeeping("table_name")
        ),
    }
}

fn not_bookkeeping(column: &str) -> String {
    let names: Vec<String> = BOOKKEEPING.iter().map(|t| literal(t)).collect();
    format!("{column} NOT IN ({})", names.join(", "))
}

#[derive(QueryableByName)]
struct LiveColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    /// Position in the primary key, from 1; 0 if not in it.
    #[diesel(sql_type = Integer)]
    key_position: i32,
    #[diesel(sql_type = Nullable<Text>)]
    default_expr: Option<String>,
}

#[derive(QueryableByName)]
struct LiveForeignKey {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

#[derive(QueryableByName)]
struct LiveIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Bool)]
    is_constraint: bool,
    /// Comma-separated; `?` for an expression.
    #[diesel(sql_type = Text)]
    columns: String,
}

#[derive(QueryableByName)]
struct LiveCheck {
    #[diesel(sql_type = Text)]
    table_name: String,
    /// PostgreSQL: the constraint's name; SQLite: the table's CREATE TABLE.
    #[diesel(sql_type = Text)]
    name: String,
    /// PostgreSQL: `CHECK (…)`; SQLite: empty.
    #[diesel(sql_type = Text)]
    sql: String,
}

/// The application's tables as the database has them, by name, each with
/// its columns in order. Fails on a column type diesel has no name for.
pub fn read(conn: &mut DbConn) -> Result<Schema, Error> {
    let backend = backend_of(conn);
    let (columns_sql, keys_sql) = match backend {
        Backend::Sqlite => (
            format!(
                "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
                 (c.\"notnull\" = 1 OR c.pk > 0) AS not_null, c.pk AS key_position, \
                 c.dflt_value AS default_expr \
                 FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND {} \
                 ORDER BY m.name, c.cid",
                not_bookkeeping("m.name")
            ),
            format!(
                "SELECT m.name AS table_name, f.\"from\" AS column_name, f.\"table\" AS parent, \
                 f.on_delete AS on_delete \
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND {} ORDER BY m.name, f.id",
                not_bookkeeping("m.name")
            ),
        ),
        Backend::Postgres => (
            format!(
                "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                 CASE WHEN c.data_type = 'character varying' AND c.character_maximum_length IS NOT NULL \
                   THEN 'bounded character varying' ELSE c.data_type::text END AS data_type, (c.is_nullable = 'NO') AS not_null, \
                 COALESCE((SELECT k.ordinal_position::int4 FROM information_schema.key_column_usage k \
                   JOIN information_schema.table_constraints t \
                     ON t.constraint_name = k.constraint_name AND t.constraint_schema = k.constraint_schema \
                   WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
                     AND k.table_name = c.table_name AND k.column_name = c.column_name), 0) AS key_position, \
                 c.column_default::text AS default_expr \
                 FROM information_schema.columns c \
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema \
                   AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
                 WHERE c.table_schema = current_schema() AND {} \
                 ORDER BY c.table_name, c.ordinal_position",
                not_bookkeeping("c.table_name")
            ),
            "SELECT c.conrelid::regclass::text AS table_name, \
             a.attname::text AS column_name, c.confrelid::regclass::text AS parent, \
             CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'r' THEN 'restrict' \
               WHEN 'n' THEN 'set_null' WHEN 'a' THEN 'no_action' ELSE 'set default' END AS on_delete \
             FROM pg_constraint c JOIN pg_attribute a \
               ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace \
               AND cardinality(c.conkey) = 1 \
             ORDER BY 1, c.conname"
                .to_string(),
        ),
    };
    let read_error = |source: diesel::result::Error| Error::Catalog {
        source: Box::new(source),
    };
    let columns: Vec<LiveColumn> = diesel::sql_query(columns_sql)
        .load(conn)
        .map_err(read_error)?;
    let keys: Vec<LiveForeignKey> = diesel::sql_query(keys_sql).load(conn).map_err(read_error)?;
    let (indexes_sql, checks_sql) = constraint_queries(backend);
    let indexes: Vec<LiveIndex> = diesel::sql_query(indexes_sql)
        .load(conn)
        .map_err(read_error)?;
    let checks: Vec<LiveCheck> = diesel::sql_query(checks_sql)
        .load(conn)
        .map_err(read_error)?;
    let mut schema = Schema::default();
    // (table, position in the key, column), to order each primary key.
    let mut key_columns: Vec<(String, i32, String)> = Vec::new();
    for live in columns {
        if schema.table(&live.table_name).is_none() {
            schema.tables.push(Table {
                name: live.table_name.clone(),
                ..Table::default()
            });
        }
        let table = schema
            .tables
            .iter_mut()
            .find(|t| t.name == live.table_name)
            .expect("pushed above");
        let sql_type = SqlType::from_database(backend, &live.data_type).ok_or_else(|| {
            Error::Target(format!(
                "{}.{} has type {}, which diesel (and so migrate diff) has no name for",
                live.table_name, live.column_name, live.data_type
            ))
        })?;
        if live.key_position > 0 {
            key_columns.push((
                live.table_name.clone(),
                live.key_position,
                live.column_name.clone(),
            ));
        }
        if let Some(value) = live
            .default_expr
            .as_deref()
            .and_then(|text| default_value(backend, sql_type, text))
        {
            table.defaults.push(ColumnDefault {
                column: live.column_name.clone(),
                value,
            });
        }
        table.columns.push(Column {
            name: live.column_name,
            sql_type,
            nullable: !live.not_null,
        });
    }
    key_columns.sort();
    for (table_name, _, column) in key_columns {
        if let Some(table) = schema.tables.iter_mut().find(|t| t.name == table_name) {
            table.primary_key.push(column);
        }
    }
    for key in keys {
        let on_delete = OnDelete::parse(&key.on_delete).ok_or_else(|| {
            Error::Target(format!(
                "{}.{} has ON DELETE {}, which migrate diff does not write",
                key.table_name,
                key.column_name,
                key.on_delete.to_ascii_uppercase()
            ))
        })?;
        if let Some(table) = schema.tables.iter_mut().find(|t| t.name == key.table_name) {
            table.foreign_keys.push(ForeignKey {
                column: key.column_name,
                parent: key.parent,
                on_delete,
            });
        }
    }
    for index in indexes {
        let columns: Vec<String> = index.columns.split(',').map(str::to_string).collect();
        if columns.iter().any(|c| c == "?" || c.is_empty()) {
            continue;
        }
        if let Some(table) = schema
            .tables
            .iter_mut()
            .find(|t| t.name == index.table_name)
        {
            table.indexes.push(Index {
                name: index.index_name,
                columns,
                unique: index.is_unique,
                constraint: index.is_constraint,
            });
        }
    }
    for live in checks {
        let Some(table) = schema.tables.iter_mut().find(|t| t.name == live.table_name) else {
            continue;
        };
        let found = match backend {
            Backend::Postgres => vec![(live.name, live.sql)],
            Backend::Sqlite => crate::sqlite_ddl::checks(&table.name, &live.name),
        };
        for (name, condition) in found {
            let rule = rule_of(&condition);
            if is_sqlite_bool_check(backend, table, &rule) {
                continue;
            }
            table.checks.push(Check { name, rule });
        }
    }
    Ok(schema)
}

/// The queries for indexes (not the primary key's, not partial, not on
/// expressions, and on PostgreSQL only the valid ones) and CHECKs.
fn constraint_queries(backend: Backend) -> (String, String) {
    match backend {
        Backend::Sqlite => (
            format!(
                "SELECT m.name AS table_name, l.name AS index_name, l.\"unique\" AS is_unique, \
                 l.origin = 'u' AS is_constraint, \
                 COALESCE((SELECT group_concat(COALESCE(i.name, '?'), ',') \
                   FROM pragma_index_info(l.name) i), '') AS columns \
                 FROM sqlite_master m, pragma_index_list(m.name) l \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND {} \
                   AND l.origin <> 'pk' AND l.partial = 0 \
                 ORDER BY m.name, l.name",
                not_bookkeeping("m.name")
            ),
            format!(
                "SELECT m.name AS table_name, m.sql AS name, '' AS sql FROM sqlite_master m \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND {} ORDER BY m.name",
                not_bookkeeping("m.name")
            ),
        ),
        Backend::Postgres => (
            format!(
                "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                 x.indisunique AS is_unique, \
                 EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid \
                   AND c.conrelid = x.indrelid AND c.contype = 'u') AS is_constraint, \
                 COALESCE((SELECT string_agg(a.attname::text, ',' ORDER BY k.n) \
                   FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum), '') AS columns \
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                   JOIN pg_class t ON t.oid = x.indrelid \
                 WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary \
                   AND x.indisvalid AND x.indexprs IS NULL AND x.indpred IS NULL AND {} \
                 ORDER BY 1, 2",
                not_bookkeeping("t.relname")
            ),
            format!(
                "SELECT c.conrelid::regclass::text AS table_name, c.conname::text AS name, \
                 pg_get_constraintdef(c.oid) AS sql FROM pg_constraint c \
                 WHERE c.contype = 'c' AND c.connamespace = current_schema()::regnamespace AND {} \
                 ORDER BY 1, 2",
                not_bookkeeping("c.conrelid::regclass::text")
            ),
        ),
    }
}

/// SQLite stores diesel's `Bool` as 0 or 1; a `CHECK (column IN (0, 1))` on
/// a Bool column is part of that type there, not a constraint to declare.
fn is_sqlite_bool_check(backend: Backend, table: &Table, rule: &Rule) -> bool {
    let Rule::Sql(sql) = rule else {
        return false;
    };
    let words = lexemes(sql);
    backend == Backend::Sqlite
        && matches!(words.as_slice(), [column, word, zero, one]
            if word == "in" && zero == "0" && one == "1"
                && table.column(column).is_some_and(|c| c.sql_type == SqlType::Bool))
}

/// A column's default as the database reports it, read as a
/// [`DefaultValue`]; `None` for a PostgreSQL sequence (`serial`), which is
/// part of the key, not a declared default.
pub fn default_value(backend: Backend, sql_type: SqlType, text: &str) -> Option<DefaultValue> {
    let mut inner = text.trim();
    while inner.starts_with('(') && inner.ends_with(')') && balanced(&inner[1..inner.len() - 1]) {
        inner = inner[1..inner.len() - 1].trim();
    }
    let lower = inner.to_ascii_lowercase();
    if lower.starts_with("nextval(") {
        return None;
    }
    let now = match backend {
        Backend::Sqlite => lower == "current_timestamp",
        Backend::Postgres => {
            let words = lexemes(&lower);
            words == ["now", "at", "time", "zone", "'utc'"]
                || words == ["current_timestamp", "at", "time", "zone", "'utc'"]
        }
    };
    if now {
        return Some(DefaultValue::Now);
    }
    // PostgreSQL writes literals with a cast: 'abc'::text, '0'::double precision.
    let literal = match inner.rfind("::") {
        Some(at) if backend == Backend::Postgres && !inner[at..].contains(['\'', ')']) => {
            inner[..at].trim()
        }
        _ => inner,
    };
    let unquoted = literal
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .map(|t| t.replace("''", "'"));
    let value = match sql_type {
        SqlType::Bool => match lower.as_str() {
            "true" | "1" | "'t'" => DefaultValue::Bool(true),
            "false" | "0" | "'f'" => DefaultValue::Bool(false),
            _ => DefaultValue::Sql(inner.to_string()),
        },
        SqlType::Text | SqlType::BoundedVarchar => match unquoted {
            Some(text) => DefaultValue::Text(text),
            None => DefaultValue::Sql(inner.to_string()),
        },
        _ => match unquoted.as_deref().unwrap_or(literal).parse::<f64>() {
            Ok(n)
                if !matches!(
                    sql_type,
                    SqlType::Timestamp | SqlType::Timestamptz | SqlType::Date | SqlType::Time
                ) =>
            {
                DefaultValue::Number(canonical_number(n))
            }
            _ => DefaultValue::Sql(inner.to_string()),
        },
    };
    Some(value)
}

/// Whether `text`'s parentheses pair up (so that an outer pair around it
/// can be taken off).
fn balanced(text: &str) -> bool {
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// Which backend a connection talks to.
pub fn backend_of(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Sqlite(_) => Backend::Sqlite,
        DbConn::Postgres(_) => Backend::Postgres,
    }
}

#[derive(QueryableByName, Debug, Clone)]
pub struct SqliteObject {
    /// `table`, `index` or `trigger`.
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub sql: String,
    /// For an index, its columns, comma-separated.
    #[diesel(sql_type = Text)]
    pub columns: String,
}

/// A SQLite table's own `CREATE TABLE` statement, then the indexes and
/// triggers on it that were created by statements (not the automatic
/// indexes of PRIMARY KEY and UNIQUE), by kind and name: the SQL written
/// from them does not depend on the order another tool created them in.
pub fn sqlite_objects(conn: &mut DbConn, table: &str) -> QueryResult<Vec<SqliteObject>> {
    diesel::sql_query(format!(
        "SELECT m.type AS kind, m.name AS name, m.sql AS sql, \
         COALESCE((SELECT group_concat(i.name, ',') FROM pragma_index_info(m.name) i), '') AS columns \
         FROM sqlite_master m WHERE m.tbl_name = {} AND m.sql IS NOT NULL \
         AND m.type IN ('table', 'index', 'trigger') \
         ORDER BY m.type <> 'table', m.type, m.name",
        literal(table)
    ))
    .load(conn)
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Text)]
    identity: String,
    #[diesel(sql_type = Nullable<Text>)]
    default_expr: Option<String>,
    #[diesel(sql_type = Integer)]
    number: i32,
}

#[derive(QueryableByName)]
struct PgDefinition {
    #[diesel(sql_type = Text)]
    sql: String,
}

fn pg_columns(conn: &mut DbConn, table: &str) -> QueryResult<Vec<PgColumn>> {
    diesel::sql_query(format!(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS data_type, \
         a.attnotnull AS not_null, a.attidentity::text AS identity, \
         pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attnum::int4 AS number \
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        literal(table)
    ))
    .load(conn)
}

/// Which constraints of a table [`pg_constraints`] writes.
enum Only<'a> {
    All,
    /// Those on the column of this number (NOT NULL is the column's own).
    Column(i32),
    Named(&'a str),
}

/// `ALTER TABLE … ADD CONSTRAINT` for the constraints of a PostgreSQL table.
fn pg_constraints(conn: &mut DbConn, table: &str, only: Only) -> QueryResult<Vec<String>> {
    let only = match only {
        Only::All => String::new(),
        Only::Column(n) => format!("AND {n} = ANY(c.conkey)"),
        Only::Named(name) => format!("AND c.conname = {}", literal(name)),
    };
    let rows: Vec<PgDefinition> = diesel::sql_query(format!(
        "SELECT 'ALTER TABLE ' || quote_ident(c.conrelid::regclass::text) || ' ADD CONSTRAINT ' || \
         quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid) || ';' AS sql \
         FROM pg_constraint c WHERE c.conrelid = {}::regclass {only} \
         ORDER BY c.contype = 'f', c.conname",
        literal(table)
    ))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.sql).collect())
}

/// `ALTER TABLE … ADD CONSTRAINT` that puts the PostgreSQL constraint
/// `name` of `table` back as it is now.
pub fn postgres_constraint(conn: &mut DbConn, table: &str, name: &str) -> QueryResult<String> {
    pg_constraints(conn, table, Only::Named(name))?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

/// `CREATE INDEX` for the indexes of a PostgreSQL table that no constraint
/// made (only those on `column`, when given).
fn pg_indexes(conn: &mut DbConn, table: &str, column: Option<i32>) -> QueryResult<Vec<String>> {
    let only = column.map_or(String::new(), |n| {
        format!("AND {n} = ANY(string_to_array(i.indkey::text, ' ')::int2[])")
    });
    let rows: Vec<PgDefinition> = diesel::sql_query(format!(
        "SELECT pg_get_indexdef(i.indexrelid) || ';' AS sql FROM pg_index i \
         WHERE i.indrelid = {}::regclass {only} AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
           WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) \
         ORDER BY i.indexrelid",
        literal(table)
    ))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.sql).collect())
}

/// A PostgreSQL column's definition for `CREATE TABLE` or `ADD COLUMN`:
/// type, identity, default and NOT NULL (when `with_not_null`).
fn pg_column_definition(column: &PgColumn, with_not_null: bool) -> String {
    let mut sql = format!("{} {}", ident(&column.name), column.data_type);
    match column.identity.as_str() {
        "a" => sql.push_str(" GENERATED ALWAYS AS IDENTITY"),
        "d" => sql.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
        _ => {}
    }
    if let Some(default) = &column.default_expr {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if with_not_null && column.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// The statements that put a PostgreSQL column's CHECK constraints and
/// default back as they are now: a type change rewrites them with casts,
/// which changing the type back does not undo.
pub fn postgres_column_expressions(
    conn: &mut DbConn,
    table: &str,
    column: &str,
) -> QueryResult<Vec<String>> {
    let columns = pg_columns(conn, table)?;
    let Some(live) = columns.iter().find(|c| c.name == column) else {
        return Err(diesel::result::Error::NotFound);
    };
    let rows: Vec<PgDefinition> = diesel::sql_query(format!(
        "SELECT 'ALTER TABLE ' || quote_ident(c.conrelid::regclass::text) || ' DROP CONSTRAINT ' || \
         quote_ident(c.conname) || ', ADD CONSTRAINT ' || quote_ident(c.conname) || ' ' || \
         pg_get_constraintdef(c.oid) || ';' AS sql \
         FROM pg_constraint c WHERE c.conrelid = {}::regclass AND c.contype = 'c' \
         AND {} = ANY(c.conkey) ORDER BY c.conname",
        literal(table),
        live.number
    ))
    .load(conn)?;
    let mut statements: Vec<String> = rows.into_iter().map(|r| r.sql).collect();
    if let Some(default) = &live.default_expr {
        statements.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {default};",
            ident(table),
            ident(column)
        ));
    }
    Ok(statements)
}

/// The statements that re-create a PostgreSQL table as it is now (columns,
/// identity, defaults, constraints, indexes), without its rows.
pub fn postgres_table_definition(conn: &mut DbConn, table: &str) -> QueryResult<Vec<String>> {
    let columns: Vec<String> = pg_columns(conn, table)?
        .iter()
        .map(|c| format!("    {}", pg_column_definition(c, true)))
        .collect();
    let mut statements = vec![format!(
        "CREATE TABLE {} (\n{}\n);",
        ident(table),
        columns.join(",\n")
    )];
    statements.extend(pg_constraints(conn, table, Only::All)?);
    statements.extend(pg_indexes(conn, table, None)?);
    Ok(statements)
}

/// The statements that add a PostgreSQL column back as it is now, with its
/// constraints and indexes; a NOT NULL column without a default gets a
/// placeholder for the existing rows, dropped again at once.
pub fn postgres_column_definition(
    conn: &mut DbConn,
    table: &str,
    column: &str,
    placeholder: &str,
) -> QueryResult<Vec<String>> {
    let columns = pg_columns(conn, table)?;
    let Some(live) = columns.iter().find(|c| c.name == column) else {
        return Err(diesel::result::Error::NotFound);
    };
    let table_sql = ident(table);
    let mut statements = Vec::new();
    if live.not_null && live.default_expr.is_none() && live.identity.is_empty() {
        statements.push(format!(
            "ALTER TABLE {table_sql} ADD COLUMN {} DEFAULT {placeholder} NOT NULL;",
            pg_column_definition(live, false)
        ));
        statements.push(format!(
            "ALTER TABLE {table_sql} ALTER COLUMN {} DROP DEFAULT;",
            ident(column)
        ));
    } else {
        statements.push(format!(
            "ALTER TABLE {table_sql} ADD COLUMN {};",
            pg_column_definition(live, true)
        ));
    }
    statements.extend(pg_constraints(conn, table, Only::Column(live.number))?);
    statements.extend(pg_indexes(conn, table, Some(live.number))?);
    Ok(statements)
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every schema object of the application (not the migration bookkeeping),
/// one line each, sorted: columns with type, nullability and default,
/// tables, indexes and triggers with their SQL, foreign keys, constraints
/// and sequences. Two snapshots are equal when the schemas are. SQLite
/// quotes a table's name in its stored SQL once it has been renamed, so
/// quoted plain identifiers are compared without their quotes.
pub fn snapshot(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    let skip_tables = not_bookkeeping("m.tbl_name");
    let queries: Vec<String> = match conn {
        DbConn::Sqlite(_) => vec![
            format!(
                "SELECT 'column ' || m.name || '.' || c.name || ' ' || c.type || \
                 CASE c.\"notnull\" WHEN 1 THEN ' not null' ELSE '' END || \
                 ' default=' || COALESCE(c.dflt_value, '-') || ' pk=' || c.pk AS line \
                 FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND {skip_tables}"
            ),
            format!(
                "SELECT m.type || ' ' || m.name || ' on ' || m.tbl_name || ': ' || \
                 COALESCE(m.sql, '-') AS line \
                 FROM sqlite_master m WHERE m.name NOT LIKE 'sqlite_%' AND {skip_tables}"
            ),
            format!(
                "SELECT 'foreign key ' || m.name || '.' || f.\"from\" || ' -> ' || f.\"table\" || \
                 '.' || COALESCE(f.\"to\", '?') || ' on delete ' || f.on_delete AS line \
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND {skip_tables}"
            ),
        ],
        DbConn::Postgres(_) => vec![
            format!(
                "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || \
                 CASE is_nullable WHEN 'NO' THEN ' not null' ELSE '' END || \
                 ' default=' || COALESCE(column_default, '-') || ' identity=' || is_identity AS line \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND {}",
                not_bookkeeping("table_name")
            ),
            format!(
                "SELECT 'index ' || indexname || ': ' || indexdef AS line FROM pg_indexes \
                 WHERE schemaname = current_schema() AND {}",
                not_bookkeeping("tablename")
            ),
            format!(
                "SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.contype::text || \
                 ' ' || c.conname || ': ' || pg_get_constraintdef(c.oid) AS line \
                 FROM pg_constraint c WHERE c.connamespace = current_schema()::regnamespace \
                 AND {}",
                not_bookkeeping("c.conrelid::regclass::text")
            ),
            "SELECT 'sequence ' || sequence_name AS line FROM information_schema.sequences \
             WHERE sequence_schema = current_schema()"
                .to_string(),
        ],
    };
    let mut lines = Vec::new();
    for sql in queries {
        let rows: Vec<Line> = diesel::sql_query(sql).load(conn)?;
        lines.extend(rows.into_iter().map(|row| unquote_identifiers(&row.line)));
    }
    lines.sort();
    Ok(lines)
}

/// `"name"` → `name` wherever the quoted text is a plain identifier.
fn unquote_identifiers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('"') {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !after[..1].chars().all(|c| c.is_ascii_digit()) =>
            {
                out.push_str(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('"');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(column: &str, length: bool, min: Option<&str>, max: Option<&str>) -> Rule {
        Rule::Range {
            column: column.into(),
            length,
            min: min.map(Into::into),
            max: max.map(Into::into),
        }
    }

    #[test]
    fn checks_are_read_as_ranges_from_either_backend() {
        for (sql, rule) in [
            ("length(title) BETWEEN 1 AND 200", range("title", true, Some("1"), Some("200"))),
            (
                "CHECK (((length(title) >= 1) AND (length(title) <= 200)))",
                range("title", true, Some("1"), Some("200")),
            ),
            ("CHECK ((price >= (0)::double precision))", range("price", false, Some("0"), None)),
            ("price >= 0", range("price", false, Some("0"), None)),
            (
                "CHECK (((price >= (0)::double precision) AND (price <= (1000000)::double precision)))",
                range("price", false, Some("0"), Some("1000000")),
            ),
            ("length(description) <= 2000", range("description", true, None, Some("2000"))),
            ("CHECK ((rating >= '-1.50'::numeric))", range("rating", false, Some("-1.5"), None)),
            ("t BETWEEN -2 AND 2.5", range("t", false, Some("-2"), Some("2.5"))),
        ] {
            assert_eq!(rule_of(sql), rule, "{sql}");
        }
        assert_eq!(rule_of("CHECK ((a > b))"), Rule::Sql("((a > b))".into()));
        assert_eq!(
            rule_of("x >= 1 AND y <= 2"),
            Rule::Sql("x >= 1 AND y <= 2".into())
        );
    }

    #[test]
    fn defaults_are_read_by_the_columns_type() {
        use Backend::{Postgres, Sqlite};
        use DefaultValue::*;
        for (backend, sql_type, text, value) in [
            (Sqlite, SqlType::Timestamp, "CURRENT_TIMESTAMP", Some(Now)),
            (
                Postgres,
                SqlType::Timestamp,
                "(now() AT TIME ZONE 'utc'::text)",
                Some(Now),
            ),
            (Sqlite, SqlType::Bool, "0", Some(Bool(false))),
            (Postgres, SqlType::Bool, "false", Some(Bool(false))),
            (
                Postgres,
                SqlType::Double,
                "'0'::double precision",
                Some(Number("0".into())),
            ),
            (Sqlite, SqlType::Integer, "1", Some(Number("1".into()))),
            (
                Postgres,
                SqlType::Text,
                "'it''s'::text",
                Some(Text("it's".into())),
            ),
            (Sqlite, SqlType::Text, "'0'", Some(Text("0".into()))),
            (
                Postgres,
                SqlType::Integer,
                "nextval('books_id_seq'::regclass)",
                None,
            ),
            (
                Postgres,
                SqlType::Timestamp,
                "now()",
                Some(Sql("now()".into())),
            ),
        ] {
            assert_eq!(default_value(backend, sql_type, text), value, "{text}");
        }
    }

    #[test]
    fn quotes_are_dropped_only_around_plain_identifiers() {
        assert_eq!(
            unquote_identifiers(r#"CREATE TABLE "books" ("a b" INT, "x1" TEXT, "1a")"#),
            r#"CREATE TABLE books ("a b" INT, x1 TEXT, "1a")"#
        );
    }
}
