//! A snapshot of a database's schema (tables, columns with type, nullability
//! and default, indexes, constraints), to prove that each migration's
//! down.sql undoes its up.sql exactly.

use bookshelf::db::DbConn;
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Row {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every schema object of the application (not the migration bookkeeping),
/// one line each, sorted.
pub fn snapshot(conn: &mut DbConn) -> Vec<String> {
    let queries: &[&str] = match conn {
        DbConn::Sqlite(_) => &[
            // Columns, via the table_info of every table.
            "SELECT 'column ' || m.name || '.' || c.name || ' ' || c.type || \
             CASE c.\"notnull\" WHEN 1 THEN ' not null' ELSE '' END || \
             ' default=' || COALESCE(c.dflt_value, '-') || ' pk=' || c.pk AS line \
             FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name NOT IN ('__diesel_schema_migrations', 'bookshelf_migrations')",
            // Tables and indexes with their full SQL (CHECKs live in the table's).
            "SELECT m.type || ' ' || m.name || ' on ' || m.tbl_name || ': ' || COALESCE(m.sql, '-') AS line \
             FROM sqlite_master m WHERE m.name NOT LIKE 'sqlite_%' \
             AND m.tbl_name NOT IN ('__diesel_schema_migrations', 'bookshelf_migrations')",
            "SELECT 'foreign key ' || m.name || '.' || f.\"from\" || ' -> ' || f.\"table\" || '.' || \
             COALESCE(f.\"to\", '?') || ' on delete ' || f.on_delete AS line \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
        ],
        DbConn::Postgres(_) => &[
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || \
             CASE is_nullable WHEN 'NO' THEN ' not null' ELSE '' END || \
             ' default=' || COALESCE(column_default, '-') || ' identity=' || is_identity AS line \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name NOT IN ('__diesel_schema_migrations', 'bookshelf_migrations')",
            "SELECT 'index ' || indexname || ': ' || indexdef AS line FROM pg_indexes \
             WHERE schemaname = 'public' \
             AND tablename NOT IN ('__diesel_schema_migrations', 'bookshelf_migrations')",
            "SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.contype::text || ': ' || \
             pg_get_constraintdef(c.oid) AS line FROM pg_constraint c \
             JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' \
             AND c.conrelid::regclass::text NOT IN ('__diesel_schema_migrations', 'bookshelf_migrations')",
            "SELECT 'sequence ' || sequence_name AS line FROM information_schema.sequences \
             WHERE sequence_schema = 'public'",
        ],
    };
    let mut lines: Vec<String> = queries
        .iter()
        .flat_map(|sql| {
            diesel::sql_query(*sql)
                .load::<Row>(conn)
                .unwrap_or_else(|e| panic!("catalog query failed: {e}\n{sql}"))
        })
        .map(|row| row.line)
        .collect();
    lines.sort();
    lines
}
