//! The SQLite checkpoint thread: it copies the WAL back into the database
//! file while writes go on, so that the writer does not have to.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use log::warn;

use bookshelf_migrate::connection::{connect, DatabaseUrl, DbConn};

/// The writer leaves checkpoints to the checkpoint thread, which runs one at
/// most this often while there are writes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Whether a checkpoint is due, shared by the writer and the checkpoint thread.
#[derive(Default)]
pub(super) struct Checkpoints {
    state: Mutex<CheckpointState>,
    changed: Condvar,
}

#[derive(Default)]
struct CheckpointState {
    due: bool,
    closed: bool,
}

impl Checkpoints {
    fn lock(&self) -> MutexGuard<'_, CheckpointState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the writer after each commit.
    pub(super) fn request(&self) {
        let mut state = self.lock();
        if !state.due {
            state.due = true;
            drop(state);
            self.changed.notify_one();
        }
    }

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_one();
    }

    /// Waits until a checkpoint is due (true) or the writer has stopped (false).
    fn wait(&self) -> bool {
        let mut state = self.lock();
        while !state.due && !state.closed {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.due = false;
        !state.closed
    }
}

/// The checkpoint thread: after writes, a PASSIVE checkpoint on its own
/// connection, which copies what it can without blocking the writer or the
/// readers; then a pause, so that busy periods checkpoint every
/// [`CHECKPOINT_INTERVAL`].
pub(super) fn checkpoint_loop(
    checkpoints: &Checkpoints,
    url: &DatabaseUrl,
    lock_timeout: Duration,
) {
    let mut connection: Option<DbConn> = None;
    while checkpoints.wait() {
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => match connect(url, lock_timeout) {
                Ok(conn) => conn,
                Err(e) => {
                    warn!("cannot open a connection for WAL checkpoints: {e}");
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    continue;
                }
            },
        };
        match conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            Ok(()) => connection = Some(conn),
            Err(e) => warn!("WAL checkpoint failed (the writer will checkpoint instead): {e}"),
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}
