//! `/health` (the process answers), `/ready` (it can serve requests) and
//! `/metrics` (numbers for Prometheus).

use rocket::http::ContentType;
use rocket::{get, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CanRead;
use crate::db::{Database, DbError, Health, WriteTrouble};
use crate::error::Error;
use crate::json::Json;

/// The answer of `/health` and `/ready`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// `ok` for `/health`, `ready` for `/ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The database backend in use: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
}

/// Whether the process is up. It does not touch the database.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The process is up", body = Status))
)]
#[get("/health")]
pub fn health(db: &State<Database>) -> Json<Status> {
    Json(Status {
        status: "ok".into(),
        database: db.backend().name().into(),
    })
}

/// The answer of `/ready`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The database backend in use: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
    pub migrations: Migrations,
    /// Each hot standby (`database_replica_urls`), as last probed. A standby
    /// that is down or lags does not make the service unready: its reads go
    /// to the primary. Absent without standbys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
}

/// A hot standby, as `/ready` reports it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Replica {
    /// Its URL, any password masked.
    #[schema(example = "postgres://bookshelf@10.0.0.2:5432/bookshelf")]
    pub url: String,
    /// `streaming` (serves reads), `lagging` (more than `replica_max_lag`
    /// behind), `down`, `not_standby` (answers but replays nothing:
    /// promoted?) or `unknown` (not probed yet, or not lately).
    #[schema(example = "streaming")]
    pub state: String,
    /// Its replay lag in seconds, as measured (see src/db/standbys.rs), while it replays.
    #[schema(example = 0.0)]
    pub lag_seconds: Option<f64>,
    /// The WAL position it has replayed, while it replays.
    #[schema(example = "0/3000148")]
    pub replayed: Option<String>,
}

/// The standbys' states now.
fn replicas(db: &Database) -> Vec<Replica> {
    let standbys = db.standbys();
    standbys
        .list()
        .iter()
        .map(|standby| {
            let health = standby.health();
            let (lag, replayed) = match &health {
                Health::Replaying { lag, replayed } => {
                    (Some(lag.as_secs_f64()), Some(replayed.to_string()))
                }
                _ => (None, None),
            };
            Replica {
                url: standby.url.to_string(),
                state: health.state(standbys.max_lag()).into(),
                lag_seconds: lag,
                replayed,
            }
        })
        .collect()
}

/// The database's migrations, as `/ready` sees them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Migrations {
    /// Migrations applied.
    #[schema(example = 3)]
    pub applied: usize,
    /// Migrations known to this binary and not applied (0 when ready).
    #[schema(example = 0)]
    pub pending: usize,
    /// Whether every applied migration's up.sql is the one it was applied with.
    pub checksums_ok: bool,
}

/// Whether the service can serve requests: the database answers, no
/// migration is pending, and no applied migration has changed.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, response = crate::error::responses::Unavailable),
    )
)]
#[get("/ready")]
pub async fn ready(db: &State<Database>) -> Result<Json<Readiness>, Error> {
    if !db.writer_alive() {
        return Err(Error::NotReady(
            "The database writer is not running and could not be restarted; see the log.".into(),
        ));
    }
    match db.write_trouble() {
        Some(WriteTrouble::DiskFull) => {
            return Err(Error::NotReady(
                "The disk holding the database is full: writes get 503 until there is space; reads go on."
                    .into(),
            ))
        }
        Some(WriteTrouble::Failing) => {
            return Err(Error::NotReady(
                "Writes to the database are failing (see the log); they get 503 and may be retried."
                    .into(),
            ))
        }
        None => {}
    }
    let url = db.url().clone();
    let summary = db
        .run(move |conn| {
            // Whatever stops the check, the answer is "not ready".
            let source = crate::migrations::of(url.backend());
            bookshelf_migrate::summary(conn, &url, source)
                .map_err(|e| DbError::Unavailable(Box::new(e)))
        })
        .await?;
    if let Some(found) = &summary.unmanaged {
        return Err(Error::NotReady(format!("{found}.")));
    }
    if summary.pending > 0 {
        return Err(Error::NotReady(format!(
            "{} database migrations are pending; start bookshelf with --migrate=auto or run `bookshelf migrate up`.",
            summary.pending
        )));
    }
    if !summary.checksums_ok {
        return Err(Error::NotReady(
            "Applied migrations have changed since they were applied; see `bookshelf migrate verify`."
                .into(),
        ));
    }
    Ok(Json(Readiness {
        status: "ready".into(),
        database: db.backend().name().into(),
        migrations: Migrations {
            applied: summary.applied,
            pending: summary.pending,
            checksums_ok: summary.checksums_ok,
        },
        replicas: replicas(db),
    }))
}

/// Prometheus metrics, in its text format: requests and latency by route and
/// status, the pool and the database threads' queues, the SQLite writer's
/// batches, migrations and build (see the README). With `protect_reads` it
/// needs an API key, as every read does.
#[utoipa::path(
    tag = "health",
    security((), ("api_key" = [])),
    responses(
        (status = 200, description = "The metrics (text/plain; version=0.0.4)",
            content_type = "text/plain", body = String),
        (status = 401, response = crate::error::responses::Unauthorized),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    db: &State<Database>,
    metrics: &State<crate::metrics::Metrics>,
    _key: CanRead,
) -> (ContentType, String) {
    let content_type =
        ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    (content_type, metrics.render(db).await)
}
