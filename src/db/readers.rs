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

use std::time::Duration;

use rocket::tokio::sync::oneshot;

use super::error::DbError;
use super::metrics::QueueMetrics;
use super::queue::{answer, Claim};

/// Runs jobs on pooled connections, on at most a fixed number of threads: the
/// blocking pool of a tokio runtime of their own, capped with
/// `max_blocking_threads` (a queue under a mutex, and a condition variable
/// that wakes a sleeping thread, as [`Queue`] has).
pub struct Readers {
    runtime: Option<rocket::tokio::runtime::Runtime>,
    queue: QueueMetrics,
}

impl Readers {
    /// Starts a runtime whose blocking pool runs up to `threads` jobs at
    /// once; dropping the `Readers` waits for the jobs under way.
    pub fn start(threads: usize, queue: QueueMetrics) -> std::io::Result<Readers> {
        let runtime = rocket::tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads.max(1))
            .thread_name("db")
            // Threads stay for the life of the service, as a fixed set would.
            .thread_keep_alive(Duration::from_secs(24 * 60 * 60))
            .build()?;
        Ok(Readers {
            runtime: Some(runtime),
            queue,
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
        runtime.spawn_blocking(move || {
            queue.taken(since);
            job();
        });
        true
    }

    /// Runs `job` on one of the threads and returns its answer; see [`answer`].
    pub async fn run<T, F>(&self, job: F, wait: Duration) -> Result<T, DbError>
    where
        F: FnOnce() -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
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
    use rocket::futures::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[rocket::async_test]
    async fn readers_run_at_most_their_thread_count_at_once_and_survive_a_panic() {
        let readers = Readers::start(2, DbMetrics::new().readers).unwrap();
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
            )
        });
        assert!(join_all(jobs).await.iter().all(Result::is_ok));
        assert_eq!(most.load(Ordering::SeqCst), 2);

        let panicked = readers
            .run(
                || -> Result<(), DbError> { panic!("a bug in a read") },
                Duration::from_secs(10),
            )
            .await;
        assert!(matches!(panicked, Err(DbError::Failed(_))), "{panicked:?}");
        let after = readers.run(|| Ok(7), Duration::from_secs(10)).await;
        assert_eq!(after.unwrap(), 7);
    }
}
