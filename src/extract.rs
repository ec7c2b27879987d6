//! Request guards that parse and validate input before a handler sees it:
//! [`ValidJson<T>`] for a JSON body, [`ValidQuery<T>`] for a query string.
//!
//! Input that fails is answered with the shared error shape, naming the
//! offending field: 400 for bytes that are not JSON, 413 for a body over
//! `limits.json`, 422 for input of the wrong shape or with invalid values.
//! The guard leaves its error in the request's local cache, where the
//! catcher that answers the request finds it.

use std::time::Duration;

use rocket::data::{self, ByteUnit, Data, DataStream, FromData};
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::tokio::io::{self as tokio_io, AsyncReadExt};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorBody, FieldError};

/// A parsed and validated JSON body.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

/// A parsed and validated query string.
///
/// Read with serde, as bodies are, rather than with Rocket's `FromForm`: in
/// a form an `Option<T>` swallows an invalid value as `None`
/// (rwf2/Rocket#2543), so `published=maybe` would list every book instead of
/// answering 422. The values' own types check them (src/models/fields.rs);
/// serde only names the parameter.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

/// The error of rejected input, left for the catcher that answers it.
struct Rejected(Option<ErrorBody>);

/// Leaves `error` for the catcher and fails the guard with its status.
pub(crate) fn reject<S, F>(
    req: &Request<'_>,
    error: Error,
) -> rocket::outcome::Outcome<S, (Status, Error), F> {
    let body = error.body();
    req.local_cache(|| Rejected(Some(body)));
    rocket::outcome::Outcome::Error((error.status(), error))
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned> FromData<'r> for ValidJson<T> {
    type Error = Error;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match read(req, data).await {
            Ok(value) => data::Outcome::Success(ValidJson(value)),
            Err(error) => reject(req, error),
        }
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned> FromRequest<'r> for ValidQuery<T> {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        let query = req.uri().query().map(|q| q.as_str()).unwrap_or("");
        match parse_query(query) {
            Ok(value) => request::Outcome::Success(ValidQuery(value)),
            Err(error) => reject(req, error),
        }
    }
}

/// Parses and validates a query string, naming the parameter that is wrong.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let deserializer =
        serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        Error::Validation(vec![field_error(&path, &message)])
    })
}

async fn read<T: DeserializeOwned>(req: &Request<'_>, data: Data<'_>) -> Result<T, Error> {
    let limit = req
        .limits()
        .get("json")
        .unwrap_or(crate::config::JSON_LIMIT);
    let unreadable = |_| Error::BadRequest("The request body could not be read.".into());
    let mut body = data.open(ByteUnit::max_value());
    let mut bytes = Vec::new();
    (&mut body)
        .take(limit.as_u64().saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit.as_u64() {
        drain(body).await;
        return Err(Error::PayloadTooLarge(format!(
            "The request body is larger than the limit of {limit}."
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::BadRequest("The request body is not valid UTF-8.".into()))?;
    parse(text)
}

/// How long the rest of an oversize body is read, at most, before its 413.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Reads and drops the rest of a body that is over the limit, for at most
/// [`DRAIN`], so that the 413 reaches the client. Rocket 0.5.2 closes the
/// connection after answering; closed with bytes still unread, it sends a
/// TCP reset, and a client that sends its whole body before reading (as
/// browsers and Python's http.client do) saw a broken pipe instead of the
/// answer (rwf2/Rocket#3004; Rocket 0.5.4 lingers after closing instead,
/// but this build's registry lacks its rocket_codegen 0.5.4). A client
/// that sends for longer gets the reset after [`DRAIN`]; nothing is kept,
/// so the body's size costs no memory.
async fn drain(mut body: DataStream<'_>) {
    let mut sink = tokio_io::sink();
    let dropped = tokio_io::copy(&mut body, &mut sink);
    if rocket::tokio::time::timeout(DRAIN, dropped).await.is_err() {
        log::warn!(
            "an oversize body was still arriving after {} s; the connection is closed",
            DRAIN.as_secs()
        );
    }
}

/// Parses JSON, reporting the path of a value of the wrong type.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    // serde also reads a struct from a JSON array of its fields in order;
    // the API takes objects only.
    let is_object = text.trim_start().starts_with('{');
    if !is_object && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return Err(Error::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        match json_error(&path, error.into_inner()) {
            Error::Validation(first) => Error::Validation(every_field_error::<T>(text, first)),
            other => other,
        }
    })?;
    deserializer.end().map_err(|error| json_error(".", error))?;
    Ok(value)
}

/// serde stops at the first wrong field. To name every wrong field at once,
/// the object is read again without each field found wrong, until the rest
/// is right or a field is missing.
fn every_field_error<T: DeserializeOwned>(
    text: &str,
    mut errors: Vec<FieldError>,
) -> Vec<FieldError> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text) else {
        return errors;
    };
    let mut dropped = Vec::new();
    while let Some(last) = errors.last().map(|e| e.field.clone()) {
        if object.remove(&last).is_none() {
            break;
        }
        dropped.push(last);
        let again =
            serde_path_to_error::deserialize::<_, T>(&serde_json::Value::Object(object.clone()));
        let Err(error) = again else { break };
        let path = error.path().to_string();
        let found = field_error(&path, &without_position(&error.into_inner().to_string()));
        if dropped.contains(&found.field) {
            break;
        }
        errors.push(found);
    }
    errors
}

fn json_error(path: &str, error: serde_json::Error) -> Error {
    let message = without_position(&error.to_string());
    match error.classify() {
        serde_json::error::Category::Data => Error::Validation(vec![field_error(path, &message)]),
        _ => Error::BadRequest(format!(
            "The request body is not valid JSON: {message} at line {} column {}.",
            error.line(),
            error.column()
        )),
    }
}

/// serde_json appends " at line L column C" to its messages; the field is
/// more useful to a client than the position of a value it got wrong.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Names the field of a shape error. serde_path_to_error reports an unknown
/// field at its own path, but a missing one at the enclosing object's.
fn field_error(path: &str, message: &str) -> FieldError {
    let at = |name: &str| match path {
        "." | "" => name.to_string(),
        parent => format!("{parent}.{name}"),
    };
    if let Some(name) = backticked(message, "missing field `") {
        return FieldError::new(at(name), "is required");
    }
    let field = match path {
        "." | "" => backticked(message, "unknown field `").unwrap_or("body"),
        path => path,
    };
    if message.starts_with("unknown field `") {
        return FieldError::new(
            field,
            "is not a known field (ids and timestamps are set by the server)",
        );
    }
    FieldError::new(field, message)
}

/// The name in backticks after `prefix`, as serde writes field names.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The error a guard of this module left for `status`, if there is one.
pub(crate) fn rejection(req: &Request<'_>, status: Status) -> Option<ErrorBody> {
    req.local_cache(|| Rejected(None))
        .0
        .clone()
        .filter(|body| body.status == status.code)
}
