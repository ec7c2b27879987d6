//! Scratch databases: SQLite in memory, or a throwaway PostgreSQL database
//! on a server the caller names, dropped afterwards. `migrate diff` replays
//! the migration folders there; `stamp` and `adopt` replay the compiled
//! migrations to learn the schema a version has.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use log::warn;

use crate::connection::{Backend, DatabaseUrl, DbConn};
use crate::error::Error;
use crate::harness::{up_with_options, UpOptions, UpTo};
use crate::model::Schema;
use crate::scripts::Scripts;
use crate::{catalog, diff};

/// A database to replay migrations on, dropped afterwards.
pub(crate) struct Scratch {
    backend: Backend,
    /// PostgreSQL: the server's URL and the throwaway database's name.
    postgres: Option<(String, String)>,
}

impl Scratch {
    pub(crate) fn open(backend: Backend, postgres: Option<&str>) -> Result<Scratch, Error> {
        if backend == Backend::Sqlite {
            return Ok(Scratch {
                backend,
                postgres: None,
            });
        }
        let server = postgres_server(postgres)?;
        // Unique on the server: the process, and a count within it (two
        // threads of one process once got the same microsecond, and one
        // CREATE DATABASE failed on the other's name); the time keeps a
        // name left by a killed process from coming back.
        static OPENED: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "bookshelf_diff_{}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros(),
            OPENED.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect(&server)?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| {
                Error::Target(format!(
                    "cannot create a scratch database on {}: {e}",
                    masked(&server)
                ))
            })?;
        Ok(Scratch {
            backend,
            postgres: Some((server, name)),
        })
    }

    /// A fresh, empty scratch database.
    pub(crate) fn fresh(&mut self) -> Result<DbConn, Error> {
        match &self.postgres {
            None => {
                let mut conn = SqliteConnection::establish(":memory:")
                    .map_err(|e| Error::Target(format!("cannot open SQLite in memory: {e}")))?;
                // As `diesel migration run` and bookshelf leave it between migrations.
                conn.batch_execute("PRAGMA foreign_keys = ON")
                    .map_err(|e| Error::Target(e.to_string()))?;
                Ok(DbConn::Sqlite(conn))
            }
            Some((server, name)) => {
                let url = with_database(server, name)?;
                let mut conn = connect(&url)?;
                conn.batch_execute(
                    "DROP SCHEMA public CASCADE; CREATE SCHEMA public; SET client_min_messages = warning;",
                )
                .map_err(|e| Error::Target(format!("cannot reset the scratch database: {e}")))?;
                Ok(DbConn::Postgres(conn))
            }
        }
    }

    /// The schema `source`'s migrations build on a fresh scratch database,
    /// up to and including `upto` (every one, contract migrations too,
    /// when `None`), as the catalog reads it.
    pub(crate) fn schema_at(
        &mut self,
        source: &impl Scripts,
        upto: Option<&str>,
    ) -> Result<Schema, Error> {
        let mut conn = self.fresh()?;
        let url = match &self.postgres {
            None => ":memory:".to_string(),
            Some((server, name)) => with_database(server, name)?,
        };
        let url = DatabaseUrl::parse(&url, std::time::Duration::from_secs(5))?;
        let to = upto.map_or(UpTo::Latest, |name| UpTo::Version(name.to_string()));
        let options = UpOptions {
            contract: true,
            out_of_order: false,
        };
        up_with_options(&mut conn, &url, source, to, options).map_err(|e| {
            Error::Target(format!(
                "replaying the migrations on a scratch {} database failed: {e}",
                self.backend.name()
            ))
        })?;
        catalog::read(&mut conn)
    }

    /// A fresh scratch database with `dir`'s migrations of this backend
    /// applied, all of them or all but `except`.
    pub(crate) fn replayed(&mut self, dir: &Path, except: &[String]) -> Result<DbConn, Error> {
        let mut conn = self.fresh()?;
        let folder = dir.join(self.backend.name());
        let source = FileBasedMigrations::from_path(&folder).map_err(|e| {
            Error::Target(format!(
                "cannot read migrations in {}: {e}",
                folder.display()
            ))
        })?;
        let pending = conn
            .pending_migrations(source)
            .map_err(|e| Error::Target(format!("cannot read {}: {e}", folder.display())))?;
        for migration in pending {
            let name = migration.name().to_string();
            if except.contains(&name) {
                continue;
            }
            conn.run_migration(&*migration).map_err(|e| {
                Error::Target(format!("replaying {}/{name} failed: {e}", folder.display()))
            })?;
        }
        Ok(conn)
    }

    /// The new migration, as written, on a fresh database holding every
    /// other migration: up reaches `target`, down restores the catalog, and
    /// up runs again.
    pub(crate) fn prove(
        &mut self,
        dir: &Path,
        folders: &[String],
        target: &Schema,
    ) -> Result<(), Error> {
        let backend = self.backend.name();
        let folder = folders.join(", ");
        let failed = |what: String| {
            Error::Target(format!(
                "the generated {backend} migration {folder} {what}; nothing was kept \
                 (please report this with your src/schema.rs and src/constraints.rs)"
            ))
        };
        let mut conn = self.replayed(dir, folders)?;
        let before = catalog::snapshot(&mut conn).map_err(|e| failed(e.to_string()))?;
        let source = FileBasedMigrations::from_path(dir.join(self.backend.name()))
            .map_err(|e| failed(e.to_string()))?;
        conn.run_pending_migrations(source.clone())
            .map_err(|e| failed(format!("does not apply: {e}")))?;
        let after = catalog::read(&mut conn)?;
        let left = diff::differences(&after, target);
        if !left.is_empty() {
            return Err(failed(format!("leaves differences: {}", left.join("; "))));
        }
        for _ in folders {
            conn.revert_last_migration(source.clone())
                .map_err(|e| failed(format!("cannot be reverted: {e}")))?;
        }
        let reverted = catalog::snapshot(&mut conn).map_err(|e| failed(e.to_string()))?;
        if reverted != before {
            let changed: Vec<String> = before
                .iter()
                .filter(|l| !reverted.contains(l))
                .map(|l| format!("- {l}"))
                .chain(
                    reverted
                        .iter()
                        .filter(|l| !before.contains(l))
                        .map(|l| format!("+ {l}")),
                )
                .collect();
            return Err(failed(format!(
                "is not undone exactly by its down.sql:\n{}",
                changed.join("\n")
            )));
        }
        conn.run_pending_migrations(source)
            .map_err(|e| failed(format!("does not apply again after down: {e}")))?;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            let dropped = connect(server).and_then(|mut admin| {
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .map_err(|e| Error::Target(e.to_string()))
            });
            if let Err(e) = dropped {
                warn!("could not drop the scratch database {name}: {e}");
            }
        }
    }
}

/// The PostgreSQL server to replay on: `--postgres`, else
/// `TEST_DATABASE_URL`, else a `postgres://` `DATABASE_URL`.
fn postgres_server(given: Option<&str>) -> Result<String, Error> {
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    };
    given
        .map(str::to_string)
        .or_else(|| from_env("TEST_DATABASE_URL"))
        .or_else(|| from_env("DATABASE_URL"))
        .ok_or_else(|| {
            Error::Target(
                "migrate diff replays migrations/postgres on a PostgreSQL server, and none is \
                 named: give --postgres postgres://USER@HOST/DB (or set TEST_DATABASE_URL)"
                    .to_string(),
            )
        })
}

fn masked(url: &str) -> String {
    DatabaseUrl::parse(url, std::time::Duration::from_secs(5))
        .map_or_else(|_| "the PostgreSQL server".to_string(), |u| u.to_string())
}

fn connect(url: &str) -> Result<PgConnection, Error> {
    // Unnamed statements: the server may be behind a transaction pooler.
    let connected = PgConnection::establish(url).map(|mut conn| {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        conn
    });
    connected.map_err(|e| {
        let reason: Vec<String> = e
            .to_string()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Error::Target(format!(
            "cannot reach PostgreSQL at {}: {}",
            masked(url),
            reason.join(" ")
        ))
    })
}

/// The same server URL naming another database.
fn with_database(server: &str, database: &str) -> Result<String, Error> {
    let mut url = url::Url::parse(server)
        .map_err(|e| Error::Target(format!("invalid PostgreSQL URL {}: {e}", masked(server))))?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}
