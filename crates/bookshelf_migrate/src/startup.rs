//! What a service does about migrations as it starts.

use log::{info, warn};

use crate::connection::{DatabaseUrl, DbConn};
use crate::error::Error;
use crate::harness::{up, UpTo};
use crate::history::pending_names;
use crate::scripts::Scripts;
use crate::unmanaged::refuse_unmanaged;
use crate::verify::verify;

/// What start-up does with pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Apply them (contract migrations wait for `migrate up --contract`).
    Apply,
    /// Refuse to start while any is pending.
    Refuse,
}

/// Start-up's migration work, on a connection of its own before the service
/// opens its pool: refuse applied migrations that changed since, then apply
/// or refuse the pending ones.
pub fn at_startup(
    conn: &mut DbConn,
    url: &DatabaseUrl,
    source: &impl Scripts,
    pending: Pending,
) -> Result<(), Error> {
    // Tables no migration recorded: never CREATE over them.
    refuse_unmanaged(conn)?;
    let verification = verify(conn, url, source)?;
    if !verification.problems.is_empty() {
        let problems: Vec<String> = verification
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect();
        return Err(Error::Target(format!(
            "refusing to start: {}",
            problems.join("; ")
        )));
    }
    for name in verification.unrecorded {
        warn!("migration {name} has no recorded checksum (applied outside bookshelf)");
    }
    match pending {
        Pending::Apply => {
            let applied = up(conn, url, source, UpTo::Latest)?;
            if applied.is_empty() {
                info!("database {url} is up to date");
            }
        }
        Pending::Refuse => {
            let names = pending_names(conn, url, source)?;
            if !names.is_empty() {
                return Err(Error::Pending { names });
            }
        }
    }
    Ok(())
}
