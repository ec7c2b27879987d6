//! One error type for the whole API, and the one JSON shape every error
//! response has. Causes are logged here; they are never sent to the client.

use log::{error, warn};
use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::Request;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbError;
use crate::json::Json;
use crate::request_id::RequestId;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request cannot be read (malformed JSON, not UTF-8, …).
    #[error("{0}")]
    BadRequest(String),
    /// 401: the request needs a valid API key.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: the resource named by the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the data.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names none of the resource's current version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 428: the server requires `If-Match` and the request has none.
    #[error("{0}")]
    PreconditionRequired(String),
    /// 413: the body is over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422: the request is well-formed but some values are not acceptable.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 503: the service cannot serve requests yet, for the reason given.
    #[error("{0}")]
    NotReady(String),
    /// 503: the database cannot be reached or is busy; the request may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(Cause),
    /// 500: a bug or an unexpected failure; details go to the log only.
    #[error("internal error: {0}")]
    Internal(Cause),
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    pub status: u16,
    /// A stable, machine-readable code, e.g. `not_found` or `validation_failed`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// For validation failures, each offending field and why; otherwise empty.
    pub fields: Vec<FieldError>,
    /// The request's id, as in its `X-Request-Id` response header: quote it
    /// when reporting a problem, it is in the server's log lines.
    #[schema(example = "0af7651916cd43dd8448eb211c80319c", required = true)]
    pub request_id: Option<String>,
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field's name (dotted path for nested values; `body` for the body as a whole).
    pub field: String,
    /// Why it was rejected.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ErrorBody {
    /// An error body for `status` with a message and no field errors.
    pub fn new(status: Status, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            status: status.code,
            error: code_for(status).to_string(),
            message: message.into(),
            fields: Vec::new(),
            request_id: None,
        }
    }

    pub fn status(&self) -> Status {
        Status::from_code(self.status).unwrap_or(Status::InternalServerError)
    }
}

/// The machine-readable code for a status.
fn code_for(status: Status) -> &'static str {
    match status.code {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        412 => "precondition_failed",
        428 => "precondition_required",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        503 => "service_unavailable",
        500 => "internal_error",
        code if code < 500 => "client_error",
        _ => "server_error",
    }
}

impl Error {
    /// A 404 for a resource kind and id, e.g. `not_found("book", 7)`.
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Error {
        Error::NotFound(format!("no {kind} with id {id}"))
    }

    /// A 412 for a resource changed since the client read it.
    pub fn stale(kind: &str, id: impl std::fmt::Display) -> Error {
        Error::PreconditionFailed(format!(
            "the {kind} with id {id} has changed since the version in If-Match; \
             read it again (GET gives its ETag) and apply your change to that"
        ))
    }

    /// The status this error is answered with.
    pub fn status(&self) -> Status {
        match self {
            Error::BadRequest(_) => Status::BadRequest,
            Error::Unauthorized(_) => Status::Unauthorized,
            Error::NotFound(_) => Status::NotFound,
            Error::Conflict(_) => Status::Conflict,
            Error::PreconditionFailed(_) => Status::PreconditionFailed,
            Error::PreconditionRequired(_) => Status::PreconditionRequired,
            Error::PayloadTooLarge(_) => Status::PayloadTooLarge,
            Error::Validation(_) => Status::UnprocessableEntity,
            Error::NotReady(_) | Error::Unavailable(_) => Status::ServiceUnavailable,
            Error::Internal(_) => Status::InternalServerError,
        }
    }

    /// The body sent to the client: never the cause of a 5xx.
    pub fn body(&self) -> ErrorBody {
        let status = self.status();
        match self {
            Error::BadRequest(m)
            | Error::Unauthorized(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::PreconditionFailed(m)
            | Error::PreconditionRequired(m)
            | Error::PayloadTooLarge(m)
            | Error::NotReady(m) => ErrorBody::new(status, m.clone()),
            Error::Validation(fields) => ErrorBody {
                fields: fields.clone(),
                ..ErrorBody::new(status, "The request has invalid values.")
            },
            Error::Unavailable(_) => ErrorBody::new(
                status,
                "The database is unavailable or busy; try again shortly.",
            ),
            Error::Internal(_) => ErrorBody::new(status, "An internal error occurred."),
        }
    }
}

impl From<DbError> for Error {
    fn from(error: DbError) -> Error {
        match error {
            DbError::NotFound => Error::NotFound("The resource does not exist.".into()),
            DbError::MissingReference(_) => {
                Error::Conflict("The request refers to a resource that does not exist.".into())
            }
            DbError::Refused(_) => Error::Validation(vec![FieldError::new(
                "body",
                "a value is outside what the database accepts",
            )]),
            DbError::Unavailable(cause) => Error::Unavailable(cause),
            DbError::Failed(cause) => Error::Internal(cause),
        }
    }
}

/// Seconds a client is told to wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl<'r> Responder<'r, 'static> for Error {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        match &self {
            Error::Unavailable(cause) => {
                let id = RequestId::of(req);
                warn!(request_id = id; "request {id} {} {}: {cause}", req.method(), req.uri())
            }
            Error::Internal(cause) => {
                let id = RequestId::of(req);
                error!(request_id = id; "request {id} {} {}: {cause}", req.method(), req.uri())
            }
            _ => {}
        }
        let retry = matches!(self, Error::Unavailable(_) | Error::NotReady(_));
        let mut response = self.body().respond_to(req)?;
        if retry {
            response.set_raw_header("Retry-After", RETRY_AFTER_SECONDS.to_string());
        }
        Ok(response)
    }
}

impl<'r> Responder<'r, 'static> for ErrorBody {
    fn respond_to(mut self, req: &'r Request<'_>) -> response::Result<'static> {
        let status = self.status();
        self.request_id = Some(RequestId::of(req).to_string());
        response::Response::build_from(Json(self).respond_to(req)?)
            .status(status)
            .ok()
    }
}

/// The error responses the OpenAPI document describes once and every
/// operation refers to, each an [`ErrorBody`] with an example.
pub mod responses {
    use std::collections::BTreeMap;

    use utoipa::openapi::{response::Response, Ref, RefOr};
    use utoipa::{IntoResponses, ToResponse};

    use super::ErrorBody;

    fn refs(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
        list.iter()
            .map(|(status, name)| {
                let reference = Ref::from_response_name(*name);
                (status.to_string(), RefOr::Ref(reference))
            })
            .collect()
    }

    /// The errors every operation of the API can answer: 401, 422, 503.
    pub struct Common;

    impl IntoResponses for Common {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            refs(&[
                ("401", "Unauthorized"),
                ("422", "Invalid"),
                ("503", "Unavailable"),
            ])
        }
    }

    /// The errors of an operation that reads a JSON body: 400, 413.
    pub struct Body;

    impl IntoResponses for Body {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            refs(&[("400", "BadRequest"), ("413", "PayloadTooLarge")])
        }
    }

    /// The error of a read whose `Bookshelf-Lsn` header is not a WAL position: 400.
    pub struct BadHeader;

    impl IntoResponses for BadHeader {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            refs(&[("400", "BadRequest")])
        }
    }

    /// The error of an operation on one resource named by its id: 404.
    pub struct Missing;

    impl IntoResponses for Missing {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            refs(&[("404", "NotFound")])
        }
    }

    /// The request body is not JSON (or not UTF-8).
    #[derive(ToResponse)]
    #[response(example = json!({"status": 400, "error": "bad_request",
        "message": "The request body is not valid JSON: EOF while parsing an object at line 1 column 12.",
        "fields": []}))]
    pub struct BadRequest(pub ErrorBody);

    /// An API key is needed (the server has `api_keys` configured) and was
    /// missing or not valid.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 401, "error": "unauthorized",
        "message": "This request needs an API key: Authorization: Bearer <key>.", "fields": []}))]
    pub struct Unauthorized(pub ErrorBody);

    /// The resource has changed since the version named in `If-Match`, or
    /// the server requires `If-Match` and the request has none.
    pub struct Conditional;

    impl IntoResponses for Conditional {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            refs(&[
                ("412", "PreconditionFailed"),
                ("428", "PreconditionRequired"),
            ])
        }
    }

    /// `If-Match` names none of the resource's current version: someone
    /// changed it since it was read. Nothing was changed.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 412, "error": "precondition_failed",
        "message": "the book with id 7 has changed since the version in If-Match; read it again (GET gives its ETag) and apply your change to that",
        "fields": []}))]
    pub struct PreconditionFailed(pub ErrorBody);

    /// The server requires `If-Match` (`require_if_match`) and the request has none.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 428, "error": "precondition_required",
        "message": "This server requires If-Match on changes: send the ETag of the resource as you last read it.",
        "fields": []}))]
    pub struct PreconditionRequired(pub ErrorBody);

    /// No resource has this id.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 404, "error": "not_found",
        "message": "no book with id 7", "fields": []}))]
    pub struct NotFound(pub ErrorBody);

    /// The request body is over the limit (`limits.json`, 64 KiB by default).
    #[derive(ToResponse)]
    #[response(example = json!({"status": 413, "error": "payload_too_large",
        "message": "The request body is larger than the limit of 64KiB.", "fields": []}))]
    pub struct PayloadTooLarge(pub ErrorBody);

    /// A field, parameter or id is missing, unknown, of the wrong type or out of range;
    /// `fields` names each one and why.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 422, "error": "validation_failed",
        "message": "The request has invalid values.",
        "fields": [{"field": "price", "message": "must be a number from 0 to 1000000"},
                   {"field": "rating", "message": "must be a whole number from 1 to 5"}]}))]
    pub struct Invalid(pub ErrorBody);

    /// The database is unreachable, locked or busy, or migrations are pending; retry later.
    #[derive(ToResponse)]
    #[response(example = json!({"status": 503, "error": "service_unavailable",
        "message": "The database is unavailable or busy; try again shortly.", "fields": []}))]
    pub struct Unavailable(pub ErrorBody);
}
