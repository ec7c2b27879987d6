//! `bookshelf backup PATH`: an online, consistent copy of a SQLite database,
//! taken while the service runs. SQLite's `VACUUM INTO` reads one snapshot
//! (every write committed before it started, nothing after) and writes it,
//! compacted, to a new file; writers go on meanwhile (WAL mode). The copy is
//! then opened and checked with `PRAGMA integrity_check`.
//!
//! To restore: stop the service, copy the backup over the database file,
//! delete the database's `-wal` and `-shm` files (they belong to the old
//! file), start the service. PostgreSQL has `pg_dump`.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::config::Settings;
use crate::db::{open_connection, Backend, DatabaseUrl, DbConn, StartupError};

/// What a backup wrote.
#[derive(Debug)]
pub struct Backup {
    pub bytes: u64,
}

/// Copies the SQLite database the settings name to `path`, which must not
/// exist yet, and checks the copy.
pub fn backup(settings: &Settings, path: &Path) -> Result<Backup, StartupError> {
    let refuse = |reason: String| StartupError::Target(reason);
    if path.exists() {
        return Err(refuse(format!(
            "{} exists; a backup never overwrites a file",
            path.display()
        )));
    }
    let target = path
        .to_str()
        .ok_or_else(|| refuse(format!("{} is not valid UTF-8", path.display())))?;
    let url = DatabaseUrl::parse(&settings.database_url, settings.timeout())?;
    if url.backend() == Backend::Postgres {
        return Err(refuse(format!(
            "{url} is a PostgreSQL database; back it up with pg_dump (see README)"
        )));
    }
    if url.is_memory() {
        return Err(refuse(
            "an in-memory database has nothing to back up".into(),
        ));
    }
    let (conn, url) = open_connection(settings)?;
    let DbConn::Sqlite(mut sqlite) = conn else {
        return Err(refuse(format!("{url} is not a SQLite database")));
    };
    let failed = |e: diesel::result::Error| refuse(format!("the backup to {target} failed: {e}"));
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(&mut sqlite)
        .map_err(failed)?;
    check(target).map_err(|why| refuse(format!("the backup {target} is damaged: {why}")))?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| refuse(format!("cannot read {target}: {e}")))?
        .len();
    Ok(Backup { bytes })
}

/// `PRAGMA integrity_check` of the SQLite file at `path`: Ok if it says "ok".
pub fn check(path: &str) -> Result<(), String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let mut copy = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    copy.batch_execute("PRAGMA query_only = ON")
        .map_err(|e| e.to_string())?;
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut copy)
        .map_err(|e| e.to_string())?;
    match lines.as_slice() {
        [line] if line.integrity_check == "ok" => Ok(()),
        _ => Err(lines
            .iter()
            .map(|l| l.integrity_check.as_str())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}
