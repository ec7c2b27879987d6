//! The serving processes of one database, as the database knows them: each
//! `bookshelf serve` records the newest migration its binary knows and a
//! heartbeat in `bookshelf_replicas`, so that `migrate up --contract` can
//! refuse to remove what a replica of an older binary still reads. A
//! replica whose heartbeat is older than [`STALE_AFTER`] is not alive (it
//! was killed, or lost the database); rows an hour stale are removed.
//!
//! Times are the serving host's clock (UTC), so hosts' clocks must agree to
//! within a few seconds, as NTP keeps them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use log::{info, warn};

use crate::connection::{connect, is_lock_wait, DatabaseUrl, DbConn};

/// How often a serving process records that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a heartbeat waits for a lock: briefly, so that a locked
/// database cannot hold up the shutdown, which removes the row (a beat that
/// gives up is harmless: the next comes in [`HEARTBEAT`], and a replica is
/// stale only after [`STALE_AFTER`]; a row left behind goes stale).
const HEARTBEAT_LOCK_TIMEOUT: Duration = Duration::from_millis(200);
/// How soon a registration that failed is tried again.
const REGISTER_RETRY: Duration = Duration::from_millis(50);
/// A replica not heard from for this long is not alive.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

const CREATE: &str = "CREATE TABLE IF NOT EXISTS bookshelf_replicas (\
    id TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, \
    newest_migration TEXT NOT NULL, started_at TIMESTAMP NOT NULL, \
    heartbeat_at TIMESTAMP NOT NULL)";

diesel::table! {
    bookshelf_replicas (id) {
        id -> Text,
        host -> Text,
        pid -> Integer,
        newest_migration -> Text,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
    }
}

/// One serving process.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Replica {
    pub id: String,
    pub host: String,
    pub pid: i32,
    /// The newest migration its binary knows.
    pub newest_migration: String,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
}

impl Replica {
    /// Whether it was heard from within [`STALE_AFTER`] of `now`.
    pub fn is_alive(&self, now: NaiveDateTime) -> bool {
        now.signed_duration_since(self.heartbeat_at)
            .to_std()
            .map_or(true, |age| age < STALE_AFTER)
    }
}

/// Records a serving process whose binary knows migrations up to
/// `newest_migration`, and returns its id.
pub fn register(conn: &mut DbConn, newest_migration: &str) -> QueryResult<String> {
    let now = crate::connection::now();
    let pid = std::process::id();
    // A count within the process too: two registrations of one process (its
    // tests start several servers) may fall in the same microsecond.
    static REGISTERED: AtomicU64 = AtomicU64::new(0);
    let id = format!(
        "{}-{pid}-{}-{}",
        host(),
        now.and_utc().timestamp_micros(),
        REGISTERED.fetch_add(1, Ordering::Relaxed)
    );
    if conn.batch_execute(CREATE).is_err() {
        // Two processes creating the table at once on PostgreSQL: one fails,
        // on pg_type's unique index or with "type … already exists", and
        // the table is there once the other commits. Once more finds it; any
        // other failure happens again and is returned.
        conn.batch_execute(CREATE)?;
    }
    let forgotten = now - chrono::Duration::hours(1);
    diesel::delete(
        bookshelf_replicas::table.filter(bookshelf_replicas::heartbeat_at.lt(forgotten)),
    )
    .execute(conn)?;
    diesel::insert_into(bookshelf_replicas::table)
        .values((
            bookshelf_replicas::id.eq(&id),
            bookshelf_replicas::host.eq(host()),
            bookshelf_replicas::pid.eq(i32::try_from(pid).unwrap_or(i32::MAX)),
            bookshelf_replicas::newest_migration.eq(newest_migration),
            bookshelf_replicas::started_at.eq(now),
            bookshelf_replicas::heartbeat_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// [`register`], tried again every [`REGISTER_RETRY`] while another
/// connection holds the lock it needs, until `wait` has passed: then its last
/// error. A lock SQLite's busy handler does not wait for (a read turned
/// write) is waited for here too. Any other error is returned at once.
fn register_within(conn: &mut DbConn, newest: &str, wait: Duration) -> QueryResult<String> {
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        match register(conn, newest) {
            Ok(id) => return Ok(id),
            Err(e) if !is_lock_wait(&e) || Instant::now() >= deadline => return Err(e),
            Err(e) => {
                if !said {
                    info!("recording this replica waits for a lock another process holds ({e}), for {wait:?} at most");
                    said = true;
                }
                std::thread::sleep(REGISTER_RETRY);
            }
        }
    }
}

/// Records that replica `id` is alive now.
pub fn beat(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::update(bookshelf_replicas::table.find(id))
        .set(bookshelf_replicas::heartbeat_at.eq(crate::connection::now()))
        .execute(conn)
}

/// Removes replica `id`, which is stopping.
pub fn leave(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(bookshelf_replicas::table.find(id)).execute(conn)
}

/// Every replica recorded, oldest first (none if the table does not exist).
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Replica>> {
    crate::records::unless_missing(
        bookshelf_replicas::table
            .order(bookshelf_replicas::started_at.asc())
            .load(conn),
    )
}

/// The replicas alive now whose binary does not know `migration` (their
/// newest migration sorts before it).
pub fn alive_before(conn: &mut DbConn, migration: &str) -> QueryResult<Vec<Replica>> {
    let now = crate::connection::now();
    Ok(list(conn)?
        .into_iter()
        .filter(|r| r.is_alive(now) && r.newest_migration.as_str() < migration)
        .collect())
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// This process's entry in `bookshelf_replicas`, kept alive by a thread of
/// its own (with its own connection, so that a busy pool cannot starve it)
/// and removed when the `Heartbeat` is dropped at shutdown.
pub struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Registers this process and starts beating. The registration is a
    /// write: while another process holds the write lock (it migrates, or
    /// registers too, and a slow disk makes that last) it is tried again
    /// until `wait` has passed, as start-up waits for a migrating process.
    pub fn start(
        url: &DatabaseUrl,
        newest: &str,
        wait: Duration,
    ) -> Result<Heartbeat, Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = connect(url, HEARTBEAT_LOCK_TIMEOUT)?;
        let id = register_within(&mut conn, newest, wait)?;
        info!("registered as replica {id} (knows migrations up to {newest})");
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = Arc::clone(&stop);
        let (url, newest) = (url.clone(), newest.to_string());
        let thread = std::thread::Builder::new()
            .name("db-heartbeat".into())
            .spawn(move || beat_loop(conn, &url, id, &newest, &stopping))?;
        Ok(Heartbeat {
            stop,
            thread: Some(thread),
        })
    }
}

fn beat_loop(
    mut conn: DbConn,
    url: &DatabaseUrl,
    mut id: String,
    newest: &str,
    stop: &(Mutex<bool>, Condvar),
) {
    let (stopped, wake) = stop;
    let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        // A stop that came before this thread first waited is seen at once.
        let (next, _) = wake
            .wait_timeout_while(guard, HEARTBEAT, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        guard = next;
        if *guard {
            break;
        }
        match beat(&mut conn, &id) {
            Ok(0) => {
                // Removed as stale (the database was away for an hour): back in.
                warn!("replica {id} was no longer recorded; recording it again");
                match register(&mut conn, newest) {
                    Ok(new) => id = new,
                    Err(e) => warn!("cannot record this replica again: {e}"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!("cannot record the heartbeat of replica {id}: {e}");
                // The server may have ended the connection: a new one for the next beat.
                if let Ok(new) = connect(url, HEARTBEAT_LOCK_TIMEOUT) {
                    conn = new;
                }
            }
        }
    }
    if let Err(e) = leave(&mut conn, &id) {
        warn!("cannot remove replica {id} at shutdown: {e}");
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite file, and a connection holding its write lock.
    fn locked_file(dir: &tempfile::TempDir) -> (DatabaseUrl, DbConn) {
        let path = dir.path().join("replicas.db");
        let url = DatabaseUrl::parse(path.to_str().unwrap(), Duration::from_secs(3)).unwrap();
        let mut holder = connect(&url, Duration::ZERO).unwrap();
        holder.batch_execute("BEGIN IMMEDIATE").unwrap();
        (url, holder)
    }

    #[test]
    fn a_registration_waits_out_a_write_lock_held_longer_than_a_beat_waits() {
        let dir = tempfile::tempdir().unwrap();
        let (url, mut holder) = locked_file(&dir);
        let released = std::thread::spawn(move || {
            std::thread::sleep(HEARTBEAT_LOCK_TIMEOUT * 3);
            holder.batch_execute("COMMIT").unwrap();
        });
        let started = Instant::now();
        let heartbeat = Heartbeat::start(&url, "2026-01-01-000000_x", Duration::from_secs(10));
        released.join().unwrap();
        assert!(heartbeat.is_ok(), "{:?}", heartbeat.err());
        assert!(started.elapsed() >= HEARTBEAT_LOCK_TIMEOUT * 3);
        let mut conn = connect(&url, Duration::ZERO).unwrap();
        assert_eq!(list(&mut conn).unwrap().len(), 1);
        drop(heartbeat);
        assert_eq!(list(&mut conn).unwrap().len(), 0, "removed at shutdown");
    }

    #[test]
    fn a_registration_that_fails_for_another_reason_than_a_lock_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replicas.db");
        let url = DatabaseUrl::parse(path.to_str().unwrap(), Duration::from_secs(3)).unwrap();
        let mut conn = connect(&url, Duration::ZERO).unwrap();
        // A table of that name the registration cannot insert into.
        conn.batch_execute("CREATE TABLE bookshelf_replicas (id TEXT PRIMARY KEY)")
            .unwrap();
        let started = Instant::now();
        let refused = Heartbeat::start(&url, "2026-01-01-000000_x", Duration::from_secs(10));
        let error = refused.err().expect("the table has no such columns");
        assert!(!error.to_string().contains("locked"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_registration_gives_up_once_its_wait_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _holder) = locked_file(&dir);
        let started = Instant::now();
        let refused = Heartbeat::start(&url, "2026-01-01-000000_x", Duration::from_millis(500));
        let error = refused.err().expect("the lock is never released");
        assert!(error.to_string().contains("locked"), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
}
