//! `/health` (the process answers) and `/ready` (it can serve requests).

use rocket::serde::json::Json;
use rocket::{get, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::Database;
use crate::error::Error;

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

/// Whether the service can serve requests: the database answers and has no
/// pending migrations.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
#[get("/ready")]
pub async fn ready(db: &State<Database>) -> Result<Json<Status>, Error> {
    if !db.check_ready().await? {
        return Err(Error::NotReady(
            "Database migrations are pending; start bookshelf with migrate = true to apply them."
                .into(),
        ));
    }
    Ok(Json(Status {
        status: "ready".into(),
        database: db.backend().name().into(),
    }))
}
