//! The engine's one error type: what opening, reading and migrating a
//! database fails with, each with a message that says what to do.

/// Why a database could not be opened, read or migrated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot connect to database {url}: {source}")]
    Connect {
        url: String,
        source: diesel::ConnectionError,
    },
    #[error("cannot prepare database {url}: {source}")]
    Prepare {
        url: String,
        source: diesel::result::Error,
    },
    #[error("cannot read migration state of {url}: {source}")]
    MigrationState {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "migration {name} failed on {url}: {source}; the database stays at the previous version"
    )]
    Migration {
        name: String,
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot update the migration records (bookshelf_migrations): {source}")]
    Bookkeeping { source: diesel::result::Error },
    #[error("cannot read the database's schema: {source}")]
    Catalog {
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot take the migration lock (another bookshelf may be migrating): {source}")]
    MigrationLock { source: diesel::result::Error },
    #[error("cannot begin or commit the migration transaction (another process may hold the database's write lock): {source}")]
    MigrationTransaction { source: diesel::result::Error },
    #[error("pending migrations: {}; apply them with `bookshelf migrate up` (or serve --migrate=auto)", names.join(", "))]
    Pending { names: Vec<String> },
    #[error(
        "{} older than {newest}, which is already applied: a migration merged after the database \
         moved past its version. Applied now it would run out of order, and `down` would revert {newest} \
         before it. Check that it does not depend on what came after it, then apply it with \
         `bookshelf migrate up --out-of-order`",
        if older.len() == 1 { format!("pending migration {} is", older[0]) } else { format!("pending migrations {} are", older.join(", ")) }
    )]
    OutOfOrder { older: Vec<String>, newest: String },
    #[error("{0}")]
    Unmanaged(Unmanaged),
    #[error(
        "refusing to stamp {target}: the database's schema is not the schema {target} builds \
         (replayed on a scratch database):\n{}\nBring it there with `bookshelf migrate adopt`, \
         or record it anyway with `bookshelf migrate stamp {target} --force`",
        differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    StampRefused {
        target: String,
        differences: Vec<String>,
    },
    #[error(
        "{}stopped at {stamped}: it was stamped (recorded by `migrate stamp` or `migrate adopt` \
         without running), so its down.sql would remove what the database held before \
         bookshelf managed it; `down` never goes below a stamped version",
        if reverted.is_empty() { String::new() } else { format!("reverted {}; ", reverted.join(", ")) }
    )]
    StampedFloor {
        stamped: String,
        reverted: Vec<String>,
    },
    #[error("{0}")]
    Target(String),
    #[error("migration {name} could not be reverted on {url}: {source}; the database stays at the version before it")]
    Revert {
        name: String,
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Tables found in a database where no migration is recorded (see
/// [`crate::unmanaged`]), which [`Error::Unmanaged`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmanaged {
    pub tables: Vec<String>,
    /// The revision in `alembic_version`, when the database came from Alembic.
    pub alembic: Option<String>,
}

impl std::fmt::Display for Unmanaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.tables.len() == 1 {
            "exists"
        } else {
            "exist"
        };
        write!(
            f,
            "{} {verb} but no migration is recorded",
            self.tables.join(", ")
        )?;
        if let Some(revision) = &self.alembic {
            write!(f, " (alembic_version says Alembic revision {revision})")?;
        }
        f.write_str(
            ": the database was not built by these migrations. Bring it to the newest version \
             with `bookshelf migrate adopt` (`--sql` shows what it would run), or, if it already \
             has a version's schema, record that with `bookshelf migrate stamp VERSION`. \
             Nothing was changed",
        )
    }
}
