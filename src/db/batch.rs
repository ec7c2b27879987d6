//! Requests of one kind, merged (issue 12): while the database threads are
//! busy, requests wait in a queue, and the next thread serves all of them
//! with one statement: GETs by id with one `WHERE id IN (…)` (`= ANY($1)` on
//! PostgreSQL), POSTs with one multi-row `INSERT … RETURNING`. One round
//! trip, one statement and, for inserts, one commit for many requests, as
//! the SQLite writer's group commit does for writes there. A lone request is
//! one statement, as before.
//!
//! Reads run several batches at once, on different threads: a batch takes the
//! whole queue when it starts, and the next request to arrive schedules the
//! next batch. Writes run one batch at a time ([`Batches::one_at_a_time`]):
//! what arrives while a batch runs waits for the next, as in the SQLite
//! writer's group commit. A request still queued after `database_timeout`
//! is withdrawn and answered 503; one that a batch has taken is waited for,
//! as its write may be under way. Each request is claimed once, by the batch
//! or by the request giving up (as the jobs of src/db/queue.rs are), so a
//! request answered 503 is never stored later.

use std::sync::{Arc, Mutex, PoisonError};

use rocket::tokio::sync::oneshot;

use super::queue::{answer, Claim};
use bookshelf_migrate::connection::DbConn;

use super::database::Database;
use super::error::DbError;
use super::pool::{Pool, JOB_UNAVAILABLE};
use super::standbys::{ReadAfter, Standbys};

/// The most requests one statement serves; a longer queue is served in several.
const MAX_BATCH: usize = 256;

/// What a batch does: serves every input on one connection, one answer per
/// input in the same order, or one error for all.
pub type Work<I, O> = fn(&mut DbConn, &[I]) -> Answers<O>;

/// A batch's answers: one per input, or one error for all.
pub type Answers<O> = Result<Vec<Result<O, DbError>>, DbError>;

type Answer<O> = oneshot::Sender<Result<O, DbError>>;

/// Where a waiting request may be served: `None`, only the primary (a
/// write); `Some(after)`, a standby that has replayed `after` (a read).
type Route = Option<ReadAfter>;

struct Queue<I, O> {
    waiting: Vec<(I, Answer<O>, Claim, Route)>,
    /// A batch job is queued and has not taken the queue yet or, one at a
    /// time, a batch job is queued or running.
    scheduled: bool,
}

/// A queue of requests of one kind and the work that serves them together
/// (Rocket-managed state; see [`Database::batched`]).
pub struct Batches<I, O> {
    queue: Arc<Mutex<Queue<I, O>>>,
    work: Work<I, O>,
    /// Whether batches run one at a time ([`Batches::one_at_a_time`]).
    serial: bool,
}

impl<I, O> Clone for Batches<I, O> {
    fn clone(&self) -> Self {
        Batches {
            queue: Arc::clone(&self.queue),
            work: self.work,
            serial: self.serial,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batches<I, O> {
    /// Batches that run at once, each on a thread and connection of its
    /// own: a batch takes the queue, and the next request schedules another.
    pub fn new(work: Work<I, O>) -> Batches<I, O> {
        Batches {
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                scheduled: false,
            })),
            work,
            serial: false,
        }
    }

    /// Batches that run one at a time: while one runs, the requests that
    /// arrive wait, and the same job serves them next, in one statement and
    /// one commit. For PostgreSQL's inserts: batches running at once were
    /// small, and each committed on its own; at 16 and 64 connections of
    /// `POST /books`, one at a time served 1.22-1.27x the requests at
    /// 0.67-0.75x the CPU per request (bench/results.md).
    pub fn one_at_a_time(work: Work<I, O>) -> Batches<I, O> {
        Batches {
            serial: true,
            ..Batches::new(work)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<I, O>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes up to [`MAX_BATCH`] waiting requests (skipping those withdrawn
    /// by their request), and where they may all be served; `true` with
    /// them when the queue is now empty (the next request schedules a new
    /// batch, at once unless batches run one at a time).
    fn take(&self) -> (Vec<(I, Answer<O>)>, Route, bool) {
        let mut queue = self.lock();
        let n = queue.waiting.len().min(MAX_BATCH);
        // Reads go to a standby that has replayed what each of them needs.
        let mut route: Route = Some(None);
        let taken: Vec<_> = queue
            .waiting
            .drain(..n)
            .filter(|(_, _, claim, _)| claim.take())
            .map(|(input, reply, _, needs)| {
                route = match (route, needs) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                (input, reply)
            })
            .collect();
        let last = queue.waiting.is_empty();
        if last && !self.serial {
            queue.scheduled = false;
        }
        (taken, route, last)
    }

    /// One at a time: ends the job when nothing arrived while it ran (the
    /// next request schedules a new one); `false` to serve what did.
    fn finish(&self) -> bool {
        let mut queue = self.lock();
        let idle = queue.waiting.is_empty();
        if idle {
            queue.scheduled = false;
        }
        idle
    }

    /// A batch job: serves the queue it took on one pooled connection.
    fn run(&self, pool: &Pool, standbys: &Standbys) {
        while !self.run_once(pool, standbys) {}
    }

    /// Serves what is queued now, once; `true` when the job is done: nothing
    /// was left behind or, one at a time, nothing waits once it is served.
    fn run_once(&self, pool: &Pool, standbys: &Standbys) -> bool {
        let (taken, route, last) = self.take();
        if !taken.is_empty() {
            // A panic drops its requests' answers (they get a 500); the
            // queue goes on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.serve(pool, standbys, route, taken)
            }));
        }
        match self.serial {
            true => self.finish(),
            false => last,
        }
    }

    fn serve(&self, pool: &Pool, standbys: &Standbys, route: Route, taken: Vec<(I, Answer<O>)>) {
        let (inputs, replies): (Vec<I>, Vec<Answer<O>>) = taken.into_iter().unzip();
        let work = |conn: &mut DbConn| {
            let answers = (self.work)(conn, &inputs);
            let unavailable = match &answers {
                Err(e) => matches!(e, DbError::Unavailable(_)),
                Ok(each) => each
                    .iter()
                    .any(|a| matches!(a, Err(DbError::Unavailable(_)))),
            };
            if unavailable {
                JOB_UNAVAILABLE.set(true);
            }
            match route {
                // A read that may run on a standby: the batch's own error,
                // so that a standby that failed it hands the whole batch to
                // the primary.
                Some(_) if !standbys.list().is_empty() => whole_if_unavailable(answers),
                _ => answers,
            }
        };
        let answers = match route {
            Some(after) => standbys.read(after, pool, work),
            None => pool
                .get()
                .map_err(DbError::from)
                .and_then(|mut conn| work(&mut conn)),
        };
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

/// A batch's answers with an unavailable database among them, as that
/// batch's own error. [`Standbys::read`] serves a read again on the primary
/// only when the standby fails it as a whole, and a batch's work answers each
/// request on its own (one id is `find` alone): a standby that crashed under
/// a batch of one GET answered it 503 instead of handing it on. Reads are
/// served again safely; an unavailable connection fails the rest of its
/// batch anyway. Without standbys each request keeps its own answer.
fn whole_if_unavailable<O>(answers: Answers<O>) -> Answers<O> {
    let mut each = answers?;
    if let Some(i) = each
        .iter()
        .position(|a| matches!(a, Err(DbError::Unavailable(_))))
    {
        each.swap_remove(i)?;
    }
    Ok(each)
}

impl Database {
    /// Serves `input`, which only reads, in a batch with the other requests
    /// of its kind waiting at the same time, on one of the database threads:
    /// on a standby that has replayed what each of them needs, when one can
    /// (see src/db/standbys.rs), else on the primary.
    pub async fn batched_read<I: Send + 'static, O: Send + 'static>(
        &self,
        batches: &Batches<I, O>,
        input: I,
        after: ReadAfter,
    ) -> Result<O, DbError> {
        self.batched(batches, input, Some(after)).await
    }

    /// Serves `input` in a batch with the other requests of its kind waiting
    /// at the same time, on the primary, on either backend.
    pub async fn batched_on_primary<I: Send + 'static, O: Send + 'static>(
        &self,
        batches: &Batches<I, O>,
        input: I,
    ) -> Result<O, DbError> {
        self.batched(batches, input, None).await
    }

    /// Serves `input` in a batch with the other requests of its kind waiting
    /// at the same time, on one of the database threads.
    async fn batched<I: Send + 'static, O: Send + 'static>(
        &self,
        batches: &Batches<I, O>,
        input: I,
        route: Route,
    ) -> Result<O, DbError> {
        let (reply, answered) = oneshot::channel();
        let claim = Claim::default();
        let schedule = {
            let mut queue = batches.lock();
            queue.waiting.push((input, reply, claim.clone(), route));
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            let (job, pool) = (batches.clone(), self.pool.clone());
            let standbys = std::sync::Arc::clone(&self.standbys);
            // An uncontended request's batch (itself, and any that joined
            // it meanwhile) is served here; what arrives later goes to the
            // threads, so that this request is answered now.
            let free = self.uncontended();
            let done = matches!(
                self.readers.here(|| job.run_once(&pool, &standbys), free),
                Ok(true)
            );
            if !done && !self.readers.spawn(move || job.run(&pool, &standbys)) {
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
                writer.run(job, self.timeout, self.in_flight.alone()).await
            }
            None => self.batched(batches, input, None).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone() -> DbError {
        DbError::Unavailable("server closed the connection unexpectedly".into())
    }

    #[test]
    fn a_read_batch_with_an_unavailable_answer_fails_as_a_whole() {
        let lone: Answers<Option<i32>> = Ok(vec![Err(gone())]);
        assert!(matches!(
            whole_if_unavailable(lone),
            Err(DbError::Unavailable(_))
        ));
        let mixed: Answers<Option<i32>> = Ok(vec![Ok(Some(1)), Err(gone()), Ok(None)]);
        assert!(matches!(
            whole_if_unavailable(mixed),
            Err(DbError::Unavailable(_))
        ));
    }

    #[test]
    fn a_read_batch_without_one_keeps_each_answer() {
        let answers: Answers<Option<i32>> = Ok(vec![Ok(Some(1)), Err(DbError::NotFound), Ok(None)]);
        let kept = whole_if_unavailable(answers).unwrap();
        assert!(matches!(
            kept[..],
            [Ok(Some(1)), Err(DbError::NotFound), Ok(None)]
        ));
        let whole: Answers<Option<i32>> = Err(DbError::Failed("bug".into()));
        assert!(matches!(
            whole_if_unavailable(whole),
            Err(DbError::Failed(_))
        ));
    }

    use crate::config::Settings;
    use crate::db::in_flight::InFlight;
    use rocket::futures::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    /// What [`slow_echo`] saw: batches running now, the most at once, and
    /// how many ran.
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    static RAN: AtomicUsize = AtomicUsize::new(0);

    /// A batch that takes a while and answers each input with itself.
    fn slow_echo(_: &mut DbConn, inputs: &[u32]) -> Answers<u32> {
        let now = RUNNING.fetch_add(1, SeqCst) + 1;
        MOST.fetch_max(now, SeqCst);
        RAN.fetch_add(1, SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        RUNNING.fetch_sub(1, SeqCst);
        Ok(inputs.iter().map(|&i| Ok(i)).collect())
    }

    /// Sends one request, and 23 more while its batch runs; the most
    /// batches that ran at once, and how many ran, once all are answered
    /// (each with its own input).
    async fn one_then_many(db: &Arc<Database>, batches: &Batches<u32, u32>) -> (usize, usize) {
        for counter in [&RUNNING, &MOST, &RAN] {
            counter.store(0, SeqCst);
        }
        let first = {
            let (db, batches) = (Arc::clone(db), batches.clone());
            rocket::tokio::spawn(async move { db.batched_on_primary(&batches, 0).await })
        };
        while RUNNING.load(SeqCst) == 0 {
            rocket::tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let rest = join_all((1..24).map(|i| db.batched_on_primary(batches, i))).await;
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for (i, answer) in (1..).zip(rest) {
            assert_eq!(answer.unwrap(), i);
        }
        (MOST.load(SeqCst), RAN.load(SeqCst))
    }

    #[rocket::async_test]
    async fn batches_one_at_a_time_wait_for_each_other_and_the_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            database_url: dir.path().join("batches.db").display().to_string(),
            database_pool_size: 4,
            // Every batch on the database threads, none on its caller.
            database_inline: false,
            ..Settings::default()
        };
        let db = Arc::new(Database::open(&settings, InFlight::default()).unwrap());

        // The 23 arrive while the first batch runs: they wait for it, then
        // one batch serves them all.
        let (most, ran) = one_then_many(&db, &Batches::one_at_a_time(slow_echo)).await;
        assert_eq!((most, ran), (1, 2));

        // Batches that run at once: the 23 start another batch beside the
        // first, where there are two threads (one per core on SQLite).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (most, _) = one_then_many(&db, &Batches::new(slow_echo)).await;
        assert_eq!(most, threads.min(2));
    }
}
