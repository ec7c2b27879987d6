//! Telling a database whose tables no migration recorded (made by another
//! tool: SQLAlchemy's `create_all`, Alembic) from an empty one, so that
//! nothing builds over it. `stamp` and `adopt` ([`crate::foreign`]) take it.

use diesel::prelude::*;

use crate::catalog::{self, ALEMBIC_TABLE};
use crate::connection::DbConn;
use crate::error::{Error, Unmanaged};
use crate::records::{__diesel_schema_migrations, unless_missing, TableName};

/// The application's tables and Alembic's revision, when the database has
/// tables but no migration recorded; `None` for an empty database or one
/// the migrations manage. Reads only.
pub fn unmanaged(conn: &mut DbConn) -> Result<Option<Unmanaged>, Error> {
    let read_error = |source: diesel::result::Error| Error::Catalog {
        source: Box::new(source),
    };
    // The tables first, then the records: a migrator that commits both
    // between these two reads (they see different snapshots) then shows its
    // records too, where the other order would see its tables without them.
    let tables: Vec<TableName> =
        diesel::sql_query(catalog::tables_query(catalog::backend_of(conn)))
            .load(conn)
            .map_err(read_error)?;
    if tables.is_empty() {
        return Ok(None);
    }
    let recorded: Vec<String> = unless_missing(
        __diesel_schema_migrations::table
            .select(__diesel_schema_migrations::version)
            .load(conn),
    )
    .map_err(read_error)?;
    if !recorded.is_empty() {
        return Ok(None);
    }
    Ok(Some(Unmanaged {
        tables: tables.into_iter().map(|t| t.name).collect(),
        alembic: alembic_revision(conn).map_err(read_error)?,
    }))
}

/// Alembic's revision, if the database has an `alembic_version` table.
fn alembic_revision(conn: &mut DbConn) -> QueryResult<Option<String>> {
    let query = catalog::bookkeeping_table_query(catalog::backend_of(conn), ALEMBIC_TABLE);
    if diesel::sql_query(query).load::<TableName>(conn)?.is_empty() {
        return Ok(None);
    }
    let rows: Vec<TableName> =
        diesel::sql_query(format!("SELECT version_num AS name FROM {ALEMBIC_TABLE}")).load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.name))
}

/// Refuses to migrate a database holding tables no migration recorded:
/// `up` would fail on the first CREATE TABLE, or worse, build beside them.
pub(crate) fn refuse_unmanaged(conn: &mut DbConn) -> Result<(), Error> {
    match unmanaged(conn)? {
        Some(found) => Err(Error::Unmanaged(found)),
        None => Ok(()),
    }
}
