//! Reading a live schema, per backend: the tables, columns and foreign keys
//! in the shape of [`super::model`] (for drift and diff), the definitions a
//! generated down.sql re-creates, and a line-per-object snapshot that proves
//! a down.sql restores what its up.sql changed.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};

use super::model::{Column, ForeignKey, Schema, SqlType, Table};
use crate::db::{Backend, DbConn, StartupError};

/// Tables that are migration bookkeeping, not the application's schema.
pub const BOOKKEEPING: &[&str] = &[
    "__diesel_schema_migrations",
    "bookshelf_migrations",
    "bookshelf_replicas",
];

/// A string as an SQL literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An identifier, quoted for either backend.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
}

#[derive(QueryableByName)]
struct LiveForeignKey {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

/// The application's tables as the database has them, by name, each with
/// its columns in order. Fails on a column type diesel has no name for.
pub fn read(conn: &mut DbConn) -> Result<Schema, StartupError> {
    let backend = backend_of(conn);
    let (columns_sql, keys_sql) = match backend {
        Backend::Sqlite => (
            format!(
                "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
                 (c.\"notnull\" = 1 OR c.pk > 0) AS not_null, c.pk AS key_position \
                 FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND {} \
                 ORDER BY m.name, c.cid",
                not_bookkeeping("m.name")
            ),
            format!(
                "SELECT m.name AS table_name, f.\"from\" AS column_name, f.\"table\" AS parent \
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND {} ORDER BY m.name, f.id",
                not_bookkeeping("m.name")
            ),
        ),
        Backend::Postgres => (
            format!(
                "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                 c.data_type::text AS data_type, (c.is_nullable = 'NO') AS not_null, \
                 COALESCE((SELECT k.ordinal_position::int4 FROM information_schema.key_column_usage k \
                   JOIN information_schema.table_constraints t \
                     ON t.constraint_name = k.constraint_name AND t.constraint_schema = k.constraint_schema \
                   WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
                     AND k.table_name = c.table_name AND k.column_name = c.column_name), 0) AS key_position \
                 FROM information_schema.columns c \
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema \
                   AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
                 WHERE c.table_schema = current_schema() AND {} \
                 ORDER BY c.table_name, c.ordinal_position",
                not_bookkeeping("c.table_name")
            ),
            "SELECT c.conrelid::regclass::text AS table_name, \
             a.attname::text AS column_name, c.confrelid::regclass::text AS parent \
             FROM pg_constraint c JOIN pg_attribute a \
               ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace \
               AND cardinality(c.conkey) = 1 \
             ORDER BY 1, c.conname"
                .to_string(),
        ),
    };
    let read_error = |source: diesel::result::Error| StartupError::Catalog {
        source: Box::new(source),
    };
    let columns: Vec<LiveColumn> = diesel::sql_query(columns_sql)
        .load(conn)
        .map_err(read_error)?;
    let keys: Vec<LiveForeignKey> = diesel::sql_query(keys_sql).load(conn).map_err(read_error)?;
    let mut schema = Schema::default();
    // (table, position in the key, column), to order each primary key.
    let mut key_columns: Vec<(String, i32, String)> = Vec::new();
    for live in columns {
        if schema.table(&live.table_name).is_none() {
            schema.tables.push(Table {
                name: live.table_name.clone(),
                primary_key: Vec::new(),
                columns: Vec::new(),
                foreign_keys: Vec::new(),
            });
        }
        let table = schema
            .tables
            .iter_mut()
            .find(|t| t.name == live.table_name)
            .expect("pushed above");
        let sql_type = SqlType::from_database(backend, &live.data_type).ok_or_else(|| {
            StartupError::Target(format!(
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
        if let Some(table) = schema.tables.iter_mut().find(|t| t.name == key.table_name) {
            table.foreign_keys.push(ForeignKey {
                column: key.column_name,
                parent: key.parent,
            });
        }
    }
    Ok(schema)
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
/// indexes of PRIMARY KEY and UNIQUE), in the order they were created.
pub fn sqlite_objects(conn: &mut DbConn, table: &str) -> QueryResult<Vec<SqliteObject>> {
    diesel::sql_query(format!(
        "SELECT m.type AS kind, m.name AS name, m.sql AS sql, \
         COALESCE((SELECT group_concat(i.name, ',') FROM pragma_index_info(m.name) i), '') AS columns \
         FROM sqlite_master m WHERE m.tbl_name = {} AND m.sql IS NOT NULL \
         AND m.type IN ('table', 'index', 'trigger') \
         ORDER BY m.type <> 'table', m.rowid",
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

/// `ALTER TABLE … ADD CONSTRAINT` for the constraints of a PostgreSQL table
/// (only those on `column`, when given; NOT NULL is the column's own).
fn pg_constraints(conn: &mut DbConn, table: &str, column: Option<i32>) -> QueryResult<Vec<String>> {
    let only = column.map_or(String::new(), |n| format!("AND {n} = ANY(c.conkey)"));
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
    statements.extend(pg_constraints(conn, table, None)?);
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
    statements.extend(pg_constraints(conn, table, Some(live.number))?);
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

    #[test]
    fn quotes_are_dropped_only_around_plain_identifiers() {
        assert_eq!(
            unquote_identifiers(r#"CREATE TABLE "books" ("a b" INT, "x1" TEXT, "1a")"#),
            r#"CREATE TABLE books ("a b" INT, x1 TEXT, "1a")"#
        );
    }
}
