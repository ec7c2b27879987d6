//! Requests of one kind, merged (issue 12): while the database threads are
//! busy, requests wait in a queue, and the next thread serves all of them
//! with one statement: GETs by id with one `WHERE id IN (…)` (`= ANY($1)` on
//! PostgreSQL), POSTs with one multi-row `INSERT … RETURNING`. One round
//! trip, one statement and, for inserts, one commit for many requests, as
//! the SQLite writer's group commit does for writes there. A lone request is
//! one statement, as before.
//!
//! Several batches run at once, on different threads: a batch takes the whole
//! queue when it starts, and the next request to arrive schedules the next
//! batch. A request still queued after `database_timeout` is withdrawn and
//! answered 503; one that a batch has taken is waited for, as its write may
//! be under way. Each request is claimed once, by the batch or by the
//! request giving up (as the jobs of src/db/queue.rs are), so a request
//! answered 503 is never stored later.

use std::sync::{Arc, Mutex, PoisonError};

use rocket::tokio::sync::oneshot;

use super::queue::{answer, Claim};
use bookshelf_migrate::connection::DbConn;

use super::database::Database;
use super::error::DbError;
use super::pool::{Pool, JOB_UNAVAILABLE};

/// The most requests one statement serves; a longer queue is served in several.
const MAX_BATCH: usize = 256;

/// What a batch does: serves every input on one connection, one answer per
/// input in the same order, or one error for all.
pub type Work<I, O> = fn(&mut DbConn, &[I]) -> Result<Vec<Result<O, DbError>>, DbError>;

type Answer<O> = oneshot::Sender<Result<O, DbError>>;

struct Queue<I, O> {
    waiting: Vec<(I, Answer<O>, Claim)>,
    /// A batch job is queued and has not taken the queue yet.
    scheduled: bool,
}

/// A queue of requests of one kind and the work that serves them together
/// (Rocket-managed state; see [`Database::batched`]).
pub struct Batches<I, O> {
    queue: Arc<Mutex<Queue<I, O>>>,
    work: Work<I, O>,
}

impl<I, O> Clone for Batches<I, O> {
    fn clone(&self) -> Self {
        Batches {
            queue: Arc::clone(&self.queue),
            work: self.work,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batches<I, O> {
    pub fn new(work: Work<I, O>) -> Batches<I, O> {
        Batches {
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                scheduled: false,
            })),
            work,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<I, O>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes up to [`MAX_BATCH`] waiting requests (skipping those withdrawn
    /// by their request); `true` with them when the queue is now empty (the
    /// next request schedules a new batch).
    fn take(&self) -> (Vec<(I, Answer<O>)>, bool) {
        let mut queue = self.lock();
        let n = queue.waiting.len().min(MAX_BATCH);
        let taken: Vec<_> = queue
            .waiting
            .drain(..n)
            .filter(|(_, _, claim)| claim.take())
            .map(|(input, reply, _)| (input, reply))
            .collect();
        let last = queue.waiting.is_empty();
        if last {
            queue.scheduled = false;
        }
        (taken, last)
    }

    /// A batch job: serves the queue it took on one pooled connection.
    fn run(&self, pool: &Pool) {
        loop {
            let (taken, last) = self.take();
            if !taken.is_empty() {
                // A panic drops its requests' answers (they get a 500); the
                // queue goes on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.serve(pool, taken)
                }));
            }
            if last {
                return;
            }
        }
    }

    fn serve(&self, pool: &Pool, taken: Vec<(I, Answer<O>)>) {
        let (inputs, replies): (Vec<I>, Vec<Answer<O>>) = taken.into_iter().unzip();
        let answers = pool.get().map_err(DbError::from).and_then(|mut conn| {
            let answers = (self.work)(&mut conn, &inputs);
            let unavailable = match &answers {
                Err(e) => matches!(e, DbError::Unavailable(_)),
                Ok(each) => each
                    .iter()
                    .any(|a| matches!(a, Err(DbError::Unavailable(_)))),
            };
            if unavailable {
                JOB_UNAVAILABLE.set(true);
            }
            answers
        });
        match answers {
            Ok(answers) if answers.len() == replies.len() => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Ok(_) => {
                for reply in replies {
                    let _ = reply.send(Err(DbError::Failed(
                        "a batch gave a different number of answers than requests".into(),
                    )));
                }
            }
            Err(error) => {
                // Each request gets the same kind of error (each request's
                // error response logs the cause).
                let unavailable = matches!(error, DbError::Unavailable(_));
                let message = error.to_string();
                for reply in replies {
                    let cause = message.clone().into();
                    let _ = reply.send(Err(match unavailable {
                        true => DbError::Unavailable(cause),
                        false => DbError::Failed(cause),
                    }));
                }
            }
        }
    }
}

impl Database {
    /// Serves `input` in a batch with the other requests of its kind waiting
    /// at the same time, on one of the database threads.
    pub async fn batched<I: Send + 'static, O: Send + 'static>(
        &self,
        batches: &Batches<I, O>,
        input: I,
    ) -> Result<O, DbError> {
        let (reply, answered) = oneshot::channel();
        let claim = Claim::default();
        let schedule = {
            let mut queue = batches.lock();
            queue.waiting.push((input, reply, claim.clone()));
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            let (job, pool) = (batches.clone(), self.pool.clone());
            if !self.readers.spawn(move || job.run(&pool)) {
                batches.lock().scheduled = false;
                return Err(DbError::Failed("the database threads have stopped".into()));
            }
        }
        answer(claim, answered, self.timeout).await
    }

    /// Serves `input` as a write: on a SQLite file on the writer thread (in
    /// its group commit, alone in its savepoint), elsewhere in a batch.
    pub async fn batched_write<I: Send + 'static, O: Send + 'static>(
        &self,
        batches: &Batches<I, O>,
        input: I,
    ) -> Result<O, DbError> {
        match &self.writer {
            Some(writer) => {
                let work = batches.work;
                let job = move |conn: &mut DbConn| {
                    let mut answers = work(conn, std::slice::from_ref(&input))?;
                    answers
                        .pop()
                        .unwrap_or_else(|| Err(DbError::Failed("a write gave no answer".into())))
                };
                writer.run(job, self.timeout).await
            }
            None => self.batched(batches, input).await,
        }
    }
}
