//! bookshelf's own migrations and model, compiled into the binary for the
//! engine (`bookshelf_migrate`), and what start-up does with them.

use bookshelf_migrate::{model, Backend, Compiled, MigrationSql, Pending};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use crate::config::{MigrateMode, Settings};
use crate::db::{self, StartupError};

mod compiled {
    use bookshelf_migrate::MigrationSql;
    include!(concat!(env!("OUT_DIR"), "/migration_sql.rs"));
}

/// SQLite's migrations, as diesel's `embed_migrations!` compiles them in.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// PostgreSQL's migrations (the same versions as SQLite's).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

static SQLITE: Compiled = Compiled {
    scripts: compiled::SQLITE,
    embedded: SQLITE_MIGRATIONS,
};
static POSTGRES: Compiled = Compiled {
    scripts: compiled::POSTGRES,
    embedded: POSTGRES_MIGRATIONS,
};

/// A backend's migrations compiled into this binary, to run and to read.
pub fn of(backend: Backend) -> &'static Compiled {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// A backend's migrations as diesel's harness runs them.
pub fn embedded(backend: Backend) -> EmbeddedMigrations {
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    }
}

/// Every migration of a backend, oldest first, with its SQL.
pub fn scripts(backend: Backend) -> &'static [MigrationSql] {
    of(backend).scripts
}

/// The text of src/schema.rs this binary was built with: what `verify`
/// compares the live schema with.
pub const SCHEMA_RS: &str = include_str!("schema.rs");

/// The text of src/constraints.rs this binary was built with, read with
/// [`SCHEMA_RS`].
pub const CONSTRAINTS_RS: &str = include_str!("constraints.rs");

/// The model this binary was built with: src/schema.rs and src/constraints.rs.
pub fn built_model() -> Result<model::Schema, bookshelf_migrate::Error> {
    bookshelf_migrate::parse_model(SCHEMA_RS, CONSTRAINTS_RS)
        .map_err(|e| bookshelf_migrate::Error::Target(format!("the model as built: {e}")))
}

/// What start-up does about migrations, as `settings.migrate` says: with
/// `auto` or `check`, refuse applied migrations that changed; then `auto`
/// applies the pending ones and `check` refuses to start while any is
/// pending. Runs on a connection of its own, before the pool opens.
pub fn at_startup(settings: &Settings) -> Result<(), StartupError> {
    let (mut conn, url) = db::open_connection(settings)?;
    let pending = match settings.migrate {
        MigrateMode::Auto => Pending::Apply,
        MigrateMode::Check => Pending::Refuse,
        MigrateMode::Off => return Ok(()),
    };
    bookshelf_migrate::at_startup(&mut conn, &url, of(url.backend()), pending)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_schema() {
        let schema = model::parse(SCHEMA_RS).unwrap();
        let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["books", "reviews"]);
        let books = schema.table("books").unwrap();
        assert_eq!(books.primary_key, ["id"]);
        assert_eq!(
            books.column("description"),
            Some(&model::Column {
                name: "description".into(),
                sql_type: model::SqlType::Text,
                nullable: true
            })
        );
        assert_eq!(
            books.column("price").unwrap().sql_type,
            model::SqlType::Double
        );
        assert_eq!(
            schema.table("reviews").unwrap().foreign_keys,
            [model::ForeignKey {
                column: "book_id".into(),
                parent: "books".into(),
                on_delete: model::OnDelete::Cascade,
            }]
        );
    }

    #[test]
    fn the_built_model_has_the_declared_constraints() {
        let model = built_model().unwrap();
        let books = model.table("books").unwrap();
        assert!(!books.indexes.is_empty() && !books.checks.is_empty());
        assert_eq!(
            scripts(Backend::Sqlite).len(),
            scripts(Backend::Postgres).len()
        );
    }
}
