//! Requests in flight: whether a request is alone, the sign that its query
//! may run where it is (`database_inline`, src/db/readers.rs).
//!
//! Idle database threads alone are not that sign: at 16 connections they
//! are idle for a moment between two queries while other requests are
//! parsed or answered, and a query run on its worker then held up the
//! requests queued behind it (0.86-0.92x the req/s, bench/results.md). Nor
//! is one request in flight at the moment: at 16 connections the others
//! often still wait for a worker to parse them, so a third of the GETs
//! counted themselves alone. So a request is alone when no other is in
//! flight and none has been for [`QUIET`]: one client at a time never
//! overlaps, and a busy server overlaps all the time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request};

/// How long after two requests overlapped a request is not alone.
pub const QUIET: Duration = Duration::from_millis(100);

/// How many requests are being served now, and when two last overlapped.
#[derive(Clone)]
pub struct InFlight(Arc<Counts>);

struct Counts {
    now: AtomicUsize,
    since: Instant,
    /// Microseconds after `since` at which a request entered while another
    /// was in flight (0: never).
    overlapped_at: AtomicU64,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new(Counts {
            now: AtomicUsize::new(0),
            since: Instant::now(),
            overlapped_at: AtomicU64::new(0),
        }))
    }
}

impl InFlight {
    /// Counts one more until the returned guard is dropped.
    pub fn enter(&self) -> Entered {
        if self.0.now.fetch_add(1, Ordering::AcqRel) > 0 {
            self.0.overlapped_at.store(self.micros(), Ordering::Release);
        }
        Entered(Arc::clone(&self.0))
    }

    /// Whether at most one request (the caller's own) is being served, and
    /// no two have overlapped for [`QUIET`].
    pub fn alone(&self) -> bool {
        if self.0.now.load(Ordering::Acquire) > 1 {
            return false;
        }
        let overlapped = self.0.overlapped_at.load(Ordering::Acquire);
        overlapped == 0 || self.micros().saturating_sub(overlapped) > QUIET.as_micros() as u64
    }

    fn micros(&self) -> u64 {
        (self.0.since.elapsed().as_micros() as u64).max(1)
    }
}

/// One request counted in [`InFlight`], until dropped.
pub struct Entered(Arc<Counts>);

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts each request in an [`InFlight`] (the database's), for as long as
/// the request lives (its count sits in the request's local cache).
pub struct CountRequests(pub InFlight);

#[rocket::async_trait]
impl Fairing for CountRequests {
    fn info(&self) -> Info {
        Info {
            name: "Requests in flight",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        let entered = self.0.enter();
        req.local_cache(|| entered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_alone_until_another_overlaps_it_and_again_once_they_stop() {
        let in_flight = InFlight::default();
        assert!(in_flight.alone());
        let first = in_flight.enter();
        assert!(in_flight.alone());
        drop(first);
        let second = in_flight.enter();
        assert!(in_flight.alone(), "one after the other is alone");
        let third = in_flight.enter();
        assert!(!in_flight.alone());
        drop(third);
        assert!(!in_flight.alone(), "an overlap is remembered for a while");
        std::thread::sleep(QUIET + Duration::from_millis(20));
        assert!(in_flight.alone());
        drop(second);
        assert_eq!(in_flight.0.now.load(Ordering::Acquire), 0);
    }
}
