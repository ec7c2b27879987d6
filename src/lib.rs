//! Bookshelf: a books and reviews JSON API on Rocket and Diesel, on SQLite or
//! PostgreSQL, with its migrations compiled in.
//!
//! [`rocket`] builds the whole application from a configuration, so the
//! binary and the tests build it the same way.

pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod consistency;
pub mod constraints;
pub mod db;
pub mod error;
pub mod etag;
pub mod extract;
pub mod headers;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod migrations;
pub mod models;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod schema;

use std::time::Duration;

use log::error;
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::http::Header;
use rocket::shield::Shield;
use rocket::{Build, Rocket};

use bookshelf_migrate::replicas;

use crate::config::Settings;
use crate::db::{Database, StartupError};

/// The application: routes, docs, catchers, and a fairing that opens the
/// database (applying pending migrations) before the server listens.
pub fn rocket(figment: Figment) -> Rocket<Build> {
    let metrics = metrics::Metrics::new();
    // Counted by the fairing, read by the database (src/db/in_flight.rs).
    let in_flight = db::InFlight::default();
    rocket::custom(with_shutdown_grace(figment))
        .attach(AdHoc::try_on_ignite("Database", {
            let in_flight = in_flight.clone();
            move |rocket| open_database(rocket, in_flight)
        }))
        .attach(db::CountRequests(in_flight))
        .attach(request_id::RequestIds)
        .attach(consistency::WritePositions)
        .attach(metrics.clone())
        .manage(metrics)
        .manage(db::Batches::new(models::Book::find_each))
        .manage(db::Batches::one_at_a_time(models::Book::create_each))
        .manage(db::Batches::new(db::wal_positions))
        // Rocket's default Shield off (one with no policies): the fairing
        // below sets the headers bookshelf wants. Shield also sent
        // `Permissions-Policy: interest-cohort=()`, an opt-out of FLoC, which
        // Chrome dropped and Chromium now warns about on every page
        // (rwf2/Rocket#2410); and before each of its headers it looked for
        // the header in the response, a lookup that hashes the name byte by
        // byte in Rocket's header map. Without them a GET costs about 8,300
        // fewer instructions (bench/instructions.sh; bench/results.md, issue 24).
        .attach(Shield::new())
        .attach(AdHoc::on_response("Security headers", |req, res| {
            Box::pin(async move {
                res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
                res.set_header(Header::new("X-Frame-Options", "SAMEORIGIN"));
                if !req.uri().path().starts_with("/docs") {
                    res.set_header(Header::new("Cache-Control", "no-store"));
                }
            })
        }))
        .mount("/", routes::all())
        .mount("/", openapi::docs())
        .register("/", rocket::catchers![routes::catchers::default_catcher])
}

/// A request may wait `database_timeout` for a pooled connection and then
/// `database_lock_timeout` for a lock (or, on PostgreSQL, run up to
/// `database_statement_timeout`), on a thread Rocket cannot cancel. The
/// shutdown grace is raised to outlast that, so that a SIGTERM while writers
/// wait on a lock still ends in a clean exit with every answer sent.
fn with_shutdown_grace(figment: Figment) -> Figment {
    let (Ok(settings), Ok(config)) = (
        figment.extract::<Settings>(),
        figment.extract::<rocket::Config>(),
    ) else {
        // The database fairing reports the bad configuration.
        return figment;
    };
    let statement = settings
        .database_lock_timeout
        .max(settings.database_statement_timeout);
    let needed = settings.database_timeout + statement.div_ceil(1000) + 1;
    if u64::from(config.shutdown.grace) >= needed {
        return figment;
    }
    figment.merge(rocket::figment::providers::Serialized::global(
        "shutdown.grace",
        needed,
    ))
}

/// What start-up does to the database: its migrations as `settings.migrate`
/// says, then the pool and the database threads.
pub fn prepare_database(
    settings: &Settings,
    in_flight: db::InFlight,
) -> Result<Database, StartupError> {
    migrations::at_startup(settings)?;
    Database::open(settings, in_flight)
}

/// Records this serving process in the database, with the newest migration
/// its binary knows, and keeps it alive until the returned `Heartbeat` is
/// dropped (see `bookshelf_migrate::replicas`): `migrate up --contract`
/// waits for older binaries by it. `None` for an in-memory database, or when
/// it cannot be recorded within `wait` (logged: `migrate up --contract` will
/// not see this process).
fn heartbeat(database: &Database, wait: Duration) -> Option<replicas::Heartbeat> {
    let url = database.url();
    if url.is_memory() {
        return None;
    }
    let newest = migrations::scripts(url.backend()).last()?;
    replicas::Heartbeat::start(url, &newest.name, wait)
        .map_err(|e| error!("cannot record this process in bookshelf_replicas: {e}"))
        .ok()
}

/// Reads the settings and opens the database; on failure logs one line that
/// says why and stops the launch.
async fn open_database(
    rocket: Rocket<Build>,
    in_flight: db::InFlight,
) -> Result<Rocket<Build>, Rocket<Build>> {
    let settings: Settings = match rocket.figment().extract() {
        Ok(settings) => settings,
        Err(e) => {
            error!("invalid configuration: {e}");
            return Err(rocket);
        }
    };
    let keys = auth::ApiKeys::new(settings.api_keys.clone(), settings.protect_reads);
    let policy = etag::Policy {
        require_if_match: settings.require_if_match,
    };
    if policy.require_if_match {
        log::info!("require_if_match: PUT, PATCH and DELETE need If-Match");
    }
    if !settings.api_keys.is_empty() {
        log::info!(
            "{} API key(s) configured: writes{} need one",
            settings.api_keys.len(),
            if settings.protect_reads {
                " and reads"
            } else {
                ""
            }
        );
    }
    let prepared = move || {
        let database = prepare_database(&settings, in_flight)?;
        Ok::<_, StartupError>((
            heartbeat(&database, settings.migration_lock_timeout()),
            database,
        ))
    };
    match rocket::tokio::task::spawn_blocking(prepared).await {
        Ok(Ok((Some(heartbeat), database))) => Ok(rocket
            .manage(database)
            .manage(keys)
            .manage(policy)
            .manage(heartbeat)),
        Ok(Ok((None, database))) => Ok(rocket.manage(database).manage(keys).manage(policy)),
        Ok(Err(e)) => {
            error!("{e}");
            Err(rocket)
        }
        Err(e) => {
            error!("opening the database failed: {e}");
            Err(rocket)
        }
    }
}
