//! The threads that run Diesel for requests, so that Rocket's async workers
//! never block on the database.
//!
//! [`Readers`]: the blocking pool of a tokio runtime of their own, capped
//! at a few threads. Each job checks a connection out of the r2d2 pool,
//! runs, and gives it back. What made this faster than Rocket's
//! `spawn_blocking` (bench/results.md) was the cap: `spawn_blocking` behind
//! a semaphore had grown to 54 threads. A hand-written queue with a fixed
//! set of threads did the same job; measured side by side with
//! bench/ab.sh it was no faster (same req/s and CPU per request), so the
//! runtime's pool replaced it. GETs by id and PostgreSQL's POSTs reach
//! them in batches (src/db/batch.rs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::tokio::sync::oneshot;

use super::error::DbError;
use super::metrics::QueueMetrics;
use super::queue::{answer, other_workers, Claim};

/// Runs jobs on pooled connections, on at most a fixed number of threads: the
/// blocking pool of a tokio runtime of their own, capped with
/// `max_blocking_threads` (a queue under a mutex, and a condition variable
/// that wakes a sleeping thread, as [`Queue`] has).
///
/// **A lone request's job runs where its request is** ([`Readers::here`],
/// `database_inline`, issue 24). Handing a job to a thread and its answer
/// back costs two thread wake-ups; at one connection, running the job on
/// the request's own async worker instead serves 1.09-1.32x the requests
/// (bench/results.md). Under load every job still goes to the threads,
/// where the batching that pays then happens. Running there blocks one
/// worker for one query, which is why it is bounded:
/// - the caller vouches that the request is uncontended
///   ([`super::Database`]: no other request in flight or recently
///   overlapping it, src/db/in_flight.rs; a pooled connection idle; no
///   standby involved), so the job waits for no connection and holds up no
///   queue;
/// - one job at a time runs so, none while the threads have one, and only
///   on a runtime of two workers or more (Rocket's default is one per
///   core), so another worker always serves the other connections;
/// - SQLite's writer never waits for the file's lock there (src/db/writer.rs).
///
/// tokio's `block_in_place` would hand the worker's other tasks to another
/// thread while the job runs; measured, that hand-over cost more than the
/// hop it saves (0.90-0.95x the hand-off's req/s at one connection).
pub struct Readers {
    runtime: Option<rocket::tokio::runtime::Runtime>,
    queue: QueueMetrics,
    /// Jobs queued for the threads or running (on them or here).
    busy: Arc<AtomicUsize>,
    /// Whether a job may run where its request is (`database_inline`).
    inline: bool,
}

/// Counts a job as busy until dropped (run, or unwound by a panic).
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Readers {
    /// Starts a runtime whose blocking pool runs up to `threads` jobs at
    /// once; dropping the `Readers` waits for the jobs under way. With
    /// `inline`, a job that finds no other may run on its caller.
    pub fn start(threads: usize, queue: QueueMetrics, inline: bool) -> std::io::Result<Readers> {
        let runtime = rocket::tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads.max(1))
            .thread_name("db")
            // Threads stay for the life of the service, as a fixed set would.
            .thread_keep_alive(Duration::from_secs(24 * 60 * 60))
            .build()?;
        Ok(Readers {
            runtime: Some(runtime),
            queue,
            busy: Arc::default(),
            inline,
        })
    }

    /// Runs `job` on one of the threads, answering nobody (it answers its
    /// requests itself); `false` once the threads have stopped.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) -> bool {
        let Some(runtime) = &self.runtime else {
            return false;
        };
        let queue = self.queue.clone();
        let since = queue.queued();
        self.busy.fetch_add(1, Ordering::AcqRel);
        let busy = Busy(Arc::clone(&self.busy));
        runtime.spawn_blocking(move || {
            let _busy = busy;
            queue.taken(since);
            job();
        });
        true
    }

    /// Runs `job` here, on the calling thread, when the caller vouches it is
    /// `uncontended` (see [`Readers`]), no other job is queued or running,
    /// and the caller is on a multi-threaded tokio runtime with two workers
    /// or more (Rocket's); gives `job` back otherwise. A panic in `job` is
    /// caught: `Err(None)`.
    pub fn here<T, F: FnOnce() -> T>(&self, job: F, uncontended: bool) -> Result<T, Option<F>> {
        if !self.inline || !uncontended || self.runtime.is_none() || !other_workers() {
            return Err(Some(job));
        }
        if self
            .busy
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(Some(job));
        }
        let _busy = Busy(Arc::clone(&self.busy));
        self.queue.ran_inline();
        catch_unwind(AssertUnwindSafe(job)).map_err(|_| None)
    }

    /// Runs `job` on one of the threads and returns its answer; see [`answer`].
    /// When `uncontended`, it may run here instead ([`Readers::here`]).
    pub async fn run<T, F>(&self, job: F, wait: Duration, uncontended: bool) -> Result<T, DbError>
    where
        F: FnOnce() -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let job = match self.here(job, uncontended) {
            Ok(answer) => return answer,
            Err(None) => return Err(DbError::Failed("a database job panicked".into())),
            Err(Some(job)) => job,
        };
        let (reply, answered) = oneshot::channel();
        let claim = Claim::default();
        let mine = claim.clone();
        // A panic drops `reply`: its request gets a 500, and the pool goes on.
        let spawned = self.spawn(move || {
            if mine.take() {
                let _ = reply.send(job());
            }
        });
        if !spawned {
            return Err(DbError::Failed("the database threads have stopped".into()));
        }
        answer(claim, answered, wait).await
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // A runtime may not be dropped on an async worker (it blocks);
            // a thread of its own may, and this one waits for it.
            let _ = std::thread::spawn(move || drop(runtime)).join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::metrics::DbMetrics;
    use crate::db::queue::workers;
    use rocket::futures::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[rocket::async_test]
    async fn readers_run_at_most_their_thread_count_at_once_and_survive_a_panic() {
        // Not inline: the threads are what is tested.
        let readers = Readers::start(2, DbMetrics::new().readers, false).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            readers.run(
                move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                },
                Duration::from_secs(10),
                true,
            )
        });
        assert!(join_all(jobs).await.iter().all(Result::is_ok));
        assert_eq!(most.load(Ordering::SeqCst), 2);

        let panicked = readers
            .run(
                || -> Result<(), DbError> { panic!("a bug in a read") },
                Duration::from_secs(10),
                true,
            )
            .await;
        assert!(matches!(panicked, Err(DbError::Failed(_))), "{panicked:?}");
        let after = readers.run(|| Ok(7), Duration::from_secs(10), true).await;
        assert_eq!(after.unwrap(), 7);
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_string()
    }

    /// Which thread a job runs on, asked from a task on one of `workers`.
    fn on_a_worker(
        workers: &rocket::tokio::runtime::Runtime,
        readers: &Arc<Readers>,
    ) -> Result<String, DbError> {
        let readers = Arc::clone(readers);
        let task = workers.spawn(async move {
            readers
                .run(|| Ok(thread_name()), Duration::from_secs(5), true)
                .await
        });
        workers.block_on(task).unwrap()
    }

    #[test]
    fn a_lone_job_runs_on_its_worker_and_one_behind_a_busy_job_on_a_database_thread() {
        let readers = Arc::new(Readers::start(2, DbMetrics::new().readers, true).unwrap());
        let workers = workers();
        assert_eq!(on_a_worker(&workers, &readers).unwrap(), "worker");
        // While a job holds the way in, the next goes to a database thread.
        let (entered, go) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let slow = {
            let (readers, entered, go) =
                (Arc::clone(&readers), Arc::clone(&entered), Arc::clone(&go));
            workers.spawn(async move {
                readers
                    .run(
                        move || {
                            entered.wait();
                            go.wait();
                            Ok(thread_name())
                        },
                        Duration::from_secs(5),
                        true,
                    )
                    .await
            })
        };
        entered.wait();
        // Caught, so that a failure lets the job held above finish (else
        // the runtime would wait for it forever).
        let behind = std::panic::catch_unwind(|| on_a_worker(&workers, &readers));
        go.wait();
        assert_eq!(behind.unwrap().unwrap(), "db");
        assert_eq!(workers.block_on(slow).unwrap().unwrap(), "worker");
        // A job that would wait for a connection goes to the threads.
        let readers_ = Arc::clone(&readers);
        let waits = workers.spawn(async move {
            readers_
                .run(|| Ok(thread_name()), Duration::from_secs(5), false)
                .await
        });
        assert_eq!(workers.block_on(waits).unwrap().unwrap(), "db");
        // Turned off, every job goes to the threads.
        let off = Arc::new(Readers::start(2, DbMetrics::new().readers, false).unwrap());
        assert_eq!(on_a_worker(&workers, &off).unwrap(), "db");
        drop(off);
        workers.shutdown_background();
        // With one worker, none would be left to serve the rest.
        let one = rocket::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(on_a_worker(&one, &readers).unwrap(), "db");
        one.shutdown_background();
    }

    #[test]
    fn a_job_that_panics_where_its_request_is_fails_alone_and_the_next_runs_there_too() {
        let readers = Arc::new(Readers::start(2, DbMetrics::new().readers, true).unwrap());
        let workers = workers();
        let on_worker = Arc::clone(&readers);
        let panicked = workers
            .block_on(workers.spawn(async move {
                on_worker
                    .run(
                        || -> Result<(), DbError> { panic!("a bug in an inline read") },
                        Duration::from_secs(5),
                        true,
                    )
                    .await
            }))
            .unwrap();
        assert!(matches!(panicked, Err(DbError::Failed(_))), "{panicked:?}");
        let next = on_a_worker(&workers, &readers);
        assert_eq!(next.unwrap(), "worker", "the busy count was given back");
        drop(readers);
        workers.shutdown_background();
    }
}
