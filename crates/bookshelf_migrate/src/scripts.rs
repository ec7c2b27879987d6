//! A project's migrations as text: each folder's up.sql, down.sql and
//! metadata.toml, compiled into a binary or read from disk, and the SQL that
//! moving between versions runs.

use std::borrow::Cow;

use diesel::migration::MigrationSource;
use diesel_migrations::{EmbeddedMigrations, FileBasedMigrations};

use crate::connection::{Backend, DbBackend};

/// One migration folder's text: `<version>_<name>/{up.sql,down.sql}` and
/// its metadata.toml, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSql {
    /// The folder name: `<version>_<name>`.
    pub name: Cow<'static, str>,
    pub up: Cow<'static, str>,
    pub down: Cow<'static, str>,
    pub metadata: Option<Cow<'static, str>>,
}

impl MigrationSql {
    /// A migration compiled into the binary (what a project's build script
    /// writes, with `include_str!` of each file).
    pub const fn compiled(
        name: &'static str,
        up: &'static str,
        down: &'static str,
        metadata: Option<&'static str>,
    ) -> MigrationSql {
        MigrationSql {
            name: Cow::Borrowed(name),
            up: Cow::Borrowed(up),
            down: Cow::Borrowed(down),
            metadata: match metadata {
                Some(text) => Some(Cow::Borrowed(text)),
                None => None,
            },
        }
    }

    /// Whether its metadata.toml marks it `contract` (see [`is_contract`]).
    pub fn is_contract(&self) -> bool {
        self.metadata.as_deref().is_some_and(is_contract)
    }

    /// Its up.sql or down.sql.
    pub fn script(&self, direction: Direction) -> &str {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

/// Whether a metadata.toml says `contract = true`: the migration removes
/// what the previous binary still uses (a column, a table, a constraint it
/// relies on). `serve --migrate=auto` and `migrate up` stop before it;
/// `migrate up --contract` applies it once no replica of an older binary is
/// alive. Diesel reads the same file and ignores the key.
pub fn is_contract(metadata_toml: &str) -> bool {
    metadata_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("contract").and_then(toml::Value::as_bool))
        .unwrap_or(false)
}

/// The version diesel records for a migration folder name: the date part
/// without dashes (`2026-11-23-000001_create_books` → `20261123000001`).
pub fn version_of(name: &str) -> String {
    name.split('_').next().unwrap_or(name).replace('-', "")
}

/// One backend's migrations as a source diesel's harness runs and the
/// engine reads as text. PostgreSQL runs a string of several statements as
/// one implicit transaction, where `CREATE INDEX CONCURRENTLY` is refused
/// (even after a `SET lock_timeout` that `migrate lint` asks for), so a
/// migration that runs outside a transaction is run there one statement at
/// a time, from its text.
pub trait Scripts: MigrationSource<DbBackend> {
    /// Every migration, oldest first, with its text.
    fn list(&self) -> Cow<'_, [MigrationSql]>;

    /// The text of `name`'s up.sql or down.sql, if this source has it.
    fn script(&self, name: &str, direction: Direction) -> Option<String> {
        self.list()
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.script(direction).to_string())
    }

    /// Whether `name` is a contract migration (its metadata.toml says so).
    fn is_contract(&self, name: &str) -> bool {
        self.list()
            .iter()
            .any(|m| m.name == name && m.is_contract())
    }
}

/// One backend's migrations as compiled into a binary: diesel's
/// `embed_migrations!` runs them, and their text (from the project's build
/// script) is what checksums, `sql` and the statement-by-statement runs read.
pub struct Compiled {
    pub scripts: &'static [MigrationSql],
    pub embedded: EmbeddedMigrations,
}

impl MigrationSource<DbBackend> for Compiled {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DbBackend>>>> {
        MigrationSource::<DbBackend>::migrations(&self.embedded)
    }
}

impl Scripts for Compiled {
    fn list(&self) -> Cow<'_, [MigrationSql]> {
        Cow::Borrowed(self.scripts)
    }
}

/// A backend's folder on disk (`migrations/sqlite`), read as it is now.
impl Scripts for FileBasedMigrations {
    fn list(&self) -> Cow<'_, [MigrationSql]> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                entry.file_type().ok()?.is_dir().then_some(())?;
                let name = entry.file_name().into_string().ok()?;
                entry.path().join("up.sql").is_file().then_some(name)
            })
            .collect();
        names.sort();
        let read =
            |name: &str, file: &str| std::fs::read_to_string(self.path().join(name).join(file));
        Cow::Owned(
            names
                .into_iter()
                .map(|name| MigrationSql {
                    up: read(&name, "up.sql").unwrap_or_default().into(),
                    down: read(&name, "down.sql").unwrap_or_default().into(),
                    metadata: read(&name, "metadata.toml").ok().map(Cow::Owned),
                    name: name.into(),
                })
                .collect(),
        )
    }
}

/// A borrowed migration source, for diesel's harness, which takes sources by
/// value.
pub(crate) struct Borrowed<'a, S>(pub &'a S);

impl<S: MigrationSource<DbBackend>> MigrationSource<DbBackend> for Borrowed<'_, S> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DbBackend>>>> {
        self.0.migrations()
    }
}

/// Whether the migration `name` of `source` runs inside a transaction (its
/// metadata.toml does not say `run_in_transaction = false`).
pub(crate) fn in_transaction<S: MigrationSource<DbBackend>>(source: &S, name: &str) -> bool {
    source
        .migrations()
        .map(|all| {
            all.iter()
                .find(|m| m.name().to_string() == name)
                .is_none_or(|m| m.metadata().run_in_transaction())
        })
        .unwrap_or(true)
}

/// Which way a migration goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// The SQL that moving between versions runs, without a database (Alembic's
/// `--sql`): `Up` from an empty database to `to` (default: the latest);
/// `Down` from the latest back to `to` (default: empty), newest first.
pub fn sql(
    source: &impl Scripts,
    backend: Backend,
    direction: Direction,
    to: Option<&str>,
) -> String {
    let all = source.list();
    let position = to.and_then(|to| all.iter().position(|m| m.name == to));
    let chosen: Vec<&MigrationSql> = match direction {
        Direction::Up => all[..position.map_or(all.len(), |i| i + 1)]
            .iter()
            .collect(),
        Direction::Down => all[position.map_or(0, |i| i + 1)..].iter().rev().collect(),
    };
    let verb = match direction {
        Direction::Up => "apply",
        Direction::Down => "revert",
    };
    let mut out = String::new();
    for migration in chosen {
        out.push_str(&format!(
            "-- {verb} {} ({})\n",
            migration.name,
            backend.name()
        ));
        out.push_str(migration.script(direction).trim_end());
        out.push_str("\n\n");
    }
    out
}
