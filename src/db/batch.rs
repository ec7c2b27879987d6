//! Reads of one row by id, merged (issue 12): while the database threads
//! are busy, GETs by id wait in a queue, and the next thread reads all of
//! them with one query (`WHERE id IN (…)`, `= ANY($1)` on PostgreSQL): one
//! round trip and one statement for many requests, as the SQLite writer's
//! group commit does for writes. A lone request is one query, as before.
//!
//! Several batches run at once, on different threads: a batch takes the whole
//! queue when it starts, and the next request to arrive schedules the next
//! batch. Each request waits up to `database_timeout` for its answer (then
//! 503); a read has no effect, so a request that stopped waiting costs only
//! its place in a query.

use std::sync::{Arc, Mutex, PoisonError};

use diesel::QueryResult;
use rocket::tokio::sync::oneshot;

use super::{Database, DbConn, DbError, JOB_UNAVAILABLE};

/// The most ids one query reads; a longer queue is read in several.
const MAX_IDS: usize = 256;

/// A row that can be read by id in batches.
pub trait ById: Sized + Send + 'static {
    /// The rows among `ids` that exist, in any order.
    fn load(conn: &mut DbConn, ids: &[i32]) -> QueryResult<Vec<Self>>;
    /// This row's id.
    fn id(&self) -> i32;
}

type Answer<T> = oneshot::Sender<Result<Option<T>, DbError>>;

struct Queue<T> {
    waiting: Vec<(i32, Answer<T>)>,
    /// A batch job is queued and has not taken the queue yet.
    scheduled: bool,
}

/// The queue of GETs by id of one kind of row (Rocket-managed state).
pub struct Batches<T>(Arc<Mutex<Queue<T>>>);

impl<T> Default for Batches<T> {
    fn default() -> Self {
        Batches(Arc::new(Mutex::new(Queue {
            waiting: Vec::new(),
            scheduled: false,
        })))
    }
}

impl<T> Clone for Batches<T> {
    fn clone(&self) -> Self {
        Batches(Arc::clone(&self.0))
    }
}

impl<T: ById + Clone> Batches<T> {
    /// Takes up to [`MAX_IDS`] waiting requests; `true` with them when the
    /// queue is now empty (the next request schedules a new batch).
    fn take(&self) -> (Vec<(i32, Answer<T>)>, bool) {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = queue.waiting.len().min(MAX_IDS);
        let taken: Vec<_> = queue.waiting.drain(..n).collect();
        let last = queue.waiting.is_empty();
        if last {
            queue.scheduled = false;
        }
        (taken, last)
    }

    /// A batch job: reads the waiting ids on one pooled connection and
    /// answers each request, until the queue it took is done.
    fn run(&self, pool: &super::Pool) {
        loop {
            let (taken, last) = self.take();
            if !taken.is_empty() {
                // A panic drops its requests' answers (they get a 500); the
                // queue goes on.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(pool, taken)));
            }
            if last {
                return;
            }
        }
    }
}

fn answer<T: ById + Clone>(pool: &super::Pool, taken: Vec<(i32, Answer<T>)>) {
    let mut ids: Vec<i32> = taken.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = pool.get().map_err(DbError::from).and_then(|mut conn| {
        let rows = T::load(&mut conn, &ids).map_err(DbError::from);
        if let Err(DbError::Unavailable(_)) = &rows {
            JOB_UNAVAILABLE.set(true);
        }
        rows
    });
    match rows {
        Ok(rows) => {
            for (id, reply) in taken {
                let _ = reply.send(Ok(rows.iter().find(|row| row.id() == id).cloned()));
            }
        }
        Err(error) => {
            // Each request gets the same kind of error (the cause is logged
            // by each request's error response).
            let unavailable = matches!(error, DbError::Unavailable(_));
            let message = error.to_string();
            for (_, reply) in taken {
                let cause = message.clone().into();
                let _ = reply.send(Err(match unavailable {
                    true => DbError::Unavailable(cause),
                    false => DbError::Failed(cause),
                }));
            }
        }
    }
}

impl Database {
    /// The row with this id, read in a batch with the other GETs by id
    /// waiting at the same time; `None` if there is none.
    pub async fn by_id<T: ById + Clone>(
        &self,
        batches: &Batches<T>,
        id: i32,
    ) -> Result<Option<T>, DbError> {
        let (reply, answered) = oneshot::channel();
        let schedule = {
            let mut queue = batches.0.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push((id, reply));
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            let pool = self.pool.clone();
            let job = batches.clone();
            if !self.readers.spawn(move || job.run(&pool)) {
                batches
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .scheduled = false;
                return Err(DbError::Failed("the database threads have stopped".into()));
            }
        }
        match rocket::tokio::time::timeout(self.timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DbError::Failed(
                "the database thread stopped before answering".into(),
            )),
            Err(_) => Err(DbError::Unavailable(
                "no database connection became free in time".into(),
            )),
        }
    }
}
