//! The database threads' metrics: the depth of each queue and how long jobs
//! waited in it, the SQLite writer's batch sizes and committed and failed
//! batches, and the pool's connections in use and idle. `GET /metrics`
//! (src/metrics.rs) renders them with the application's own.

use std::time::Instant;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Latency buckets, in seconds: from half a millisecond (a GET by id) to
/// ten seconds (past every timeout).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Writer batch-size buckets, up to the writer's largest batch (128).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Creates a metric and registers it; the names are constants, so a failure
/// is a bug in the caller.
pub fn registered<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names and labels are constant and unique");
    metric
}

/// A metric's options, in the `bookshelf` namespace.
pub fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("bookshelf")
}

/// A queue of the database threads: how many jobs wait in it, and how long
/// each waited before a thread took it (or dropped it, withdrawn).
#[derive(Clone)]
pub struct QueueMetrics {
    depth: IntGauge,
    wait: Histogram,
    /// Jobs that skipped the queue: run where their request was.
    inline: prometheus::IntCounter,
}

impl QueueMetrics {
    /// A job joins the queue; returns when, for [`QueueMetrics::taken`].
    pub fn queued(&self) -> Instant {
        self.depth.inc();
        Instant::now()
    }

    /// A job found the threads idle and ran where its request was.
    pub fn ran_inline(&self) {
        self.inline.inc();
    }

    /// How many jobs wait in the queue now.
    pub fn waiting(&self) -> i64 {
        self.depth.get()
    }

    /// A job queued at `since` leaves the queue.
    pub fn taken(&self, since: Instant) {
        self.depth.dec();
        self.wait.observe(since.elapsed().as_secs_f64());
    }
}

/// The database threads' metrics; see the module docs.
#[derive(Clone)]
pub struct DbMetrics {
    registry: Registry,
    connections: IntGaugeVec,
    /// The queue of the query threads (every job on PostgreSQL, and the
    /// reads on SQLite).
    pub readers: QueueMetrics,
    /// The SQLite writer's queue.
    pub writer: QueueMetrics,
    batch_size: Histogram,
    batches: IntCounterVec,
}

impl Default for DbMetrics {
    fn default() -> Self {
        DbMetrics::new()
    }
}

impl DbMetrics {
    pub fn new() -> DbMetrics {
        let registry = Registry::new();
        let connections = registered(
            &registry,
            IntGaugeVec::new(
                opts(
                    "db_connections",
                    "Pooled database connections, by state: in_use or idle (read at the scrape).",
                ),
                &["state"],
            )
            .expect("valid metric"),
        );
        let depth = registered(
            &registry,
            IntGaugeVec::new(
                opts(
                    "db_queue_depth",
                    "Jobs waiting for a database thread, by queue: readers (queries, and every job on PostgreSQL) or writer (SQLite's writes).",
                ),
                &["queue"],
            )
            .expect("valid metric"),
        );
        let wait = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::from(opts(
                    "db_queue_wait_seconds",
                    "Time a job waited in its queue before a database thread took it, by queue.",
                ))
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["queue"],
            )
            .expect("valid metric"),
        );
        let inline = registered(
            &registry,
            IntCounterVec::new(
                opts(
                    "db_inline_total",
                    "Jobs whose request was alone (no other in flight) and that ran on the request's own worker instead of a database thread (database_inline), by queue.",
                ),
                &["queue"],
            )
            .expect("valid metric"),
        );
        let batch_size = registered(
            &registry,
            Histogram::with_opts(
                HistogramOpts::from(opts(
                    "db_writer_batch_size",
                    "Writes per transaction of the SQLite writer (group commit).",
                ))
                .buckets(BATCH_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
        );
        let batches = registered(
            &registry,
            IntCounterVec::new(
                opts(
                    "db_writer_batches_total",
                    "Transactions of the SQLite writer, by outcome: committed or failed (rolled back, answered 503).",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
        );
        let queue = |name: &str| QueueMetrics {
            depth: depth.with_label_values(&[name]),
            wait: wait.with_label_values(&[name]),
            inline: inline.with_label_values(&[name]),
        };
        // Every series exists from the start, at 0.
        for outcome in ["committed", "failed"] {
            batches.with_label_values(&[outcome]);
        }
        DbMetrics {
            readers: queue("readers"),
            writer: queue("writer"),
            registry,
            connections,
            batch_size,
            batches,
        }
    }

    /// One batch of the writer ended with `size` writes.
    pub fn batch(&self, size: usize, committed: bool) {
        self.batch_size.observe(size as f64);
        let outcome = if committed { "committed" } else { "failed" };
        self.batches.with_label_values(&[outcome]).inc();
    }

    /// The database's metrics, with the pool's state as `state` says.
    pub fn gather(&self, state: r2d2::State) -> Vec<prometheus::proto::MetricFamily> {
        let idle = i64::from(state.idle_connections);
        let open = i64::from(state.connections);
        self.connections
            .with_label_values(&["in_use"])
            .set(open - idle);
        self.connections.with_label_values(&["idle"]).set(idle);
        self.registry.gather()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::TextEncoder;

    #[test]
    fn queues_count_what_waits_and_batches_their_outcome() {
        let db = DbMetrics::new();
        let first = db.writer.queued();
        let _second = db.writer.queued();
        db.writer.taken(first);
        db.batch(3, true);
        db.batch(1, false);
        db.readers.ran_inline();
        let text = TextEncoder::new()
            .encode_to_string(&db.registry.gather())
            .unwrap();
        for line in [
            r#"bookshelf_db_queue_depth{queue="writer"} 1"#,
            r#"bookshelf_db_queue_depth{queue="readers"} 0"#,
            r#"bookshelf_db_queue_wait_seconds_count{queue="writer"} 1"#,
            r#"bookshelf_db_writer_batches_total{outcome="committed"} 1"#,
            r#"bookshelf_db_writer_batches_total{outcome="failed"} 1"#,
            r#"bookshelf_db_writer_batch_size_sum 4"#,
            r#"bookshelf_db_inline_total{queue="readers"} 1"#,
            r#"bookshelf_db_inline_total{queue="writer"} 0"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
