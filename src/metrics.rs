//! `GET /metrics`: what a Prometheus server scrapes, in its text format,
//! with the `prometheus` crate.
//!
//! - HTTP, from a fairing: requests by method, route and status, and their
//!   latency as a histogram by method and route. The route is the mounted
//!   pattern (`/books/<id>`), never the path a client sent, so that the
//!   number of series stays bounded; a request no route matched is
//!   `unmatched`.
//! - The database, from `db::metrics::DbMetrics`, which the database threads update:
//!   the depth of each queue and how long jobs waited in it, the SQLite
//!   writer's batch sizes and committed and failed batches, and, read at
//!   each scrape, the pool's connections in use and idle.
//! - With standbys (`database_replica_urls`), from src/db/standbys.rs: reads
//!   by the target that served them, standbys passed over by reason, and
//!   each standby's measured lag.
//! - At each scrape: migrations applied and pending and the newest applied
//!   version (one short read, as `/ready` does; when the database does not
//!   answer they are left out and `bookshelf_database_up` is 0), and build
//!   information.
//!
//! Each application built by [`crate::rocket`] has its own registries, so
//! tests in one process do not count each other's requests.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry,
    TextEncoder,
};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Request, Response};

use crate::db::metrics::{opts, registered, LATENCY_BUCKETS};
use crate::db::{Database, DbError};
use crate::request_id::RequestId;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The HTTP and start-up metrics of one application, and the fairing that
/// counts its requests. Cheap to clone: the metrics are shared.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    database_up: IntGauge,
    migrations: IntGaugeVec,
    migration_version: IntGauge,
    build: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            opts(
                "http_requests_total",
                "HTTP requests answered, by method, route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::from(opts(
                "http_request_duration_seconds",
                "Time from a request's arrival to its response, by method and route.",
            ))
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let database_up = IntGauge::with_opts(opts(
            "database_up",
            "1 if the database answered this scrape's migration query, else 0.",
        ))
        .expect("valid metric");
        let migrations = IntGaugeVec::new(
            opts(
                "migrations",
                "Migrations known to this binary, by state: applied, or pending (as /ready counts them: not a contract migration waiting for older replicas).",
            ),
            &["state"],
        )
        .expect("valid metric");
        let migration_version = IntGauge::with_opts(opts(
            "migration_version",
            "The newest applied migration's version as a number (2026-11-27-000006 is 20261127000006).",
        ))
        .expect("valid metric");
        let build = IntGaugeVec::new(
            opts(
                "build_info",
                "Always 1; the labels name this binary's version and database backend.",
            ),
            &["version", "backend"],
        )
        .expect("valid metric");
        Metrics {
            requests: registered(&registry, requests),
            latency: registered(&registry, latency),
            database_up: registered(&registry, database_up),
            migrations: registered(&registry, migrations),
            migration_version: registered(&registry, migration_version),
            build: registered(&registry, build),
            registry,
        }
    }

    /// Counts one answered request.
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        // Written on the stack: no allocation per request.
        let mut status_text = itoa::Buffer::new();
        self.requests
            .with_label_values(&[method, route, status_text.format(status)])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Everything, in the text format: this application's metrics after
    /// reading the migrations' state, then the database's.
    pub async fn render(&self, db: &Database) -> String {
        let url = db.url().clone();
        let summary = db
            .run(move |conn| {
                let source = crate::migrations::of(url.backend());
                bookshelf_migrate::history(conn, &url, source)
                    .map_err(|e| DbError::Unavailable(Box::new(e)))
            })
            .await;
        match summary {
            Ok(history) => {
                let applied = history.iter().filter(|m| m.applied_at.is_some());
                // As /ready counts them: a contract migration waits for the
                // fleet's older binaries to stop, so it is not pending.
                let pending = history
                    .iter()
                    .filter(|m| m.applied_at.is_none() && !m.contract)
                    .count();
                let newest = applied.clone().map(|m| m.version.as_str()).max();
                self.database_up.set(1);
                self.migrations
                    .with_label_values(&["applied"])
                    .set(gauge(applied.count()));
                self.migrations
                    .with_label_values(&["pending"])
                    .set(gauge(pending));
                self.migration_version.set(newest.map_or(0, version_number));
            }
            Err(e) => {
                log::warn!("/metrics: cannot read the migrations' state: {e}");
                self.database_up.set(0);
                self.migrations.reset();
            }
        }
        self.build.reset();
        self.build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), db.backend().name()])
            .set(1);
        let mut families = self.registry.gather();
        if self.database_up.get() == 0 {
            families.retain(|f| f.name() != "bookshelf_migration_version");
        }
        families.extend(db.metrics().gather(db.pool_state()));
        families.extend(db.standbys().gather());
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut text)
            .expect("the text encoder writes to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `2026-11-27-000006` → 20261127000006; 0 for a version without digits.
fn version_number(version: &str) -> i64 {
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

#[rocket::async_trait]
impl Fairing for Metrics {
    fn info(&self) -> Info {
        Info {
            name: "Metrics",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        self.observe(
            req.method().as_str(),
            req.route().map_or(UNMATCHED, |r| r.uri.as_str()),
            res.status().code,
            RequestId::elapsed(req).as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_become_numbers_that_grow_with_them() {
        assert_eq!(version_number("2026-11-27-000006"), 20261127000006);
        assert!(version_number("2026-11-27-000006") < version_number("2026-11-27-101500"));
        assert_eq!(version_number("none"), 0);
    }

    #[test]
    fn requests_are_counted_by_method_route_and_status() {
        let metrics = Metrics::new();
        metrics.observe("GET", "/books/<id>", 200, 0.002);
        metrics.observe("GET", "/books/<id>", 200, 0.003);
        metrics.observe("GET", "/books/<id>", 404, 0.001);
        let text = TextEncoder::new()
            .encode_to_string(&metrics.registry.gather())
            .unwrap();
        assert!(text.contains(
            r#"bookshelf_http_requests_total{method="GET",route="/books/<id>",status="200"} 2"#
        ));
        assert!(text.contains(
            r#"bookshelf_http_requests_total{method="GET",route="/books/<id>",status="404"} 1"#
        ));
        assert!(text.contains(
            r#"bookshelf_http_request_duration_seconds_bucket{method="GET",route="/books/<id>",le="0.0025"} 2"#
        ));
        assert!(text.contains(
            r#"bookshelf_http_request_duration_seconds_count{method="GET",route="/books/<id>"} 3"#
        ));
    }
}
