//! What the database threads' queues share: a job is claimed once, a
//! request waits for its answer as long as the database timeout, and a job
//! may skip the queue only where another worker is left ([`other_workers`]).
//!
//! Both queues are bounded in time, not length: a job still queued after the
//! database timeout is dropped unrun and its request gets a 503. A job is
//! claimed exactly once, by the thread that runs it or by the request that
//! stops waiting for it, so a request that was told 503 never has its write
//! committed later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rocket::tokio::runtime::{Handle, RuntimeFlavor};
use rocket::tokio::sync::oneshot;

use super::error::DbError;

/// Decides, once, whether a queued job runs: the first of the thread that
/// would run it and the request that stops waiting for it to claim it wins.
#[derive(Clone, Default)]
pub(super) struct Claim(Arc<AtomicBool>);

impl Claim {
    /// True for the first caller only.
    pub(super) fn take(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

pub(super) struct Queued<J> {
    pub(super) claim: Claim,
    pub(super) job: J,
    /// When it was queued, for the queue's metrics.
    pub(super) since: Instant,
}

/// Waits up to `wait` for a queued job to be taken and answered. A job not
/// taken by then is withdrawn (503); a job already taken is waited for, as
/// its work (a write, perhaps) is under way.
pub(super) async fn answer<T>(
    claim: Claim,
    mut answer: oneshot::Receiver<Result<T, DbError>>,
    wait: Duration,
) -> Result<T, DbError> {
    let stopped = |_| {
        Err(DbError::Failed(
            "the database thread stopped before answering".into(),
        ))
    };
    match rocket::tokio::time::timeout(wait, &mut answer).await {
        Ok(result) => result.unwrap_or_else(stopped),
        Err(_) if claim.take() => Err(DbError::Unavailable(
            "no database connection became free in time".into(),
        )),
        Err(_) => answer.await.unwrap_or_else(stopped),
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the caller runs on a multi-threaded tokio runtime with another
/// worker to serve the rest while it is busy: where a job may run on its
/// request's worker (src/db/readers.rs, src/db/writer.rs).
pub(super) fn other_workers() -> bool {
    Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == RuntimeFlavor::MultiThread
            && runtime.metrics().num_workers() >= 2
    })
}

/// A runtime of two workers named `worker`, as Rocket's on two cores: a
/// job may run on its caller only when another worker is left.
#[cfg(test)]
pub(super) fn workers() -> rocket::tokio::runtime::Runtime {
    rocket::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("worker")
        .enable_all()
        .build()
        .unwrap()
}
