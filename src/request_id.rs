//! Request ids: one per request, to follow it from the client through the
//! logs. A client's `X-Request-Id` is kept when it is a sensible id (1 to
//! [`MAX_LENGTH`] characters of `A-Z a-z 0-9 . _ : -`), so that a proxy's id
//! goes on; anything else is replaced by a new random one. Every response
//! carries it in `X-Request-Id`, every error body in `request_id`, and each
//! request ends with one log line that names it with its method, route,
//! status and duration.

use std::time::Instant;

use log::info;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Data, Request, Response};

/// The header that carries the id both ways.
pub const HEADER: &str = "X-Request-Id";
/// The longest client id kept.
pub const MAX_LENGTH: usize = 128;

/// The id of a request and when it arrived.
#[derive(Debug, Clone)]
pub struct RequestId {
    id: String,
    started: Instant,
}

impl RequestId {
    /// The id of `req` (a new one if the fairing did not see it).
    pub fn of<'r>(req: &'r Request<'_>) -> &'r str {
        &req.local_cache(|| RequestId::from_header(None)).id
    }

    /// How long ago `req` arrived (as its fairing saw it).
    pub fn elapsed(req: &Request<'_>) -> std::time::Duration {
        req.local_cache(|| RequestId::from_header(None))
            .started
            .elapsed()
    }

    fn from_header(header: Option<&str>) -> RequestId {
        let id = match header {
            Some(id) if is_valid(id) => id.to_string(),
            _ => uuid::Uuid::new_v4().simple().to_string(),
        };
        RequestId {
            id,
            started: Instant::now(),
        }
    }
}

/// Whether a client's id is kept as it is.
pub fn is_valid(id: &str) -> bool {
    (1..=MAX_LENGTH).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
}

/// Gives each request its id, echoes it, and logs how the request ended.
pub struct RequestIds;

#[rocket::async_trait]
impl Fairing for RequestIds {
    fn info(&self) -> Info {
        Info {
            name: "Request ids",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        let id = RequestId::from_header(crate::headers::first(req, HEADER));
        req.local_cache(|| id);
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let request = req.local_cache(|| RequestId::from_header(None));
        // Borrowed from the request, which outlives its response's headers.
        res.set_header(Header::new(HEADER, request.id.as_str()));
        if !log::log_enabled!(target: "bookshelf::request", log::Level::Info) {
            return;
        }
        let route = req
            .route()
            .map_or_else(|| "-".to_string(), |r| r.uri.to_string());
        let duration_ms = (request.started.elapsed().as_secs_f64() * 1e4).round() / 10.0;
        let (id, method, uri, status) = (
            request.id.as_str(),
            req.method().as_str(),
            req.uri().to_string(),
            res.status().code,
        );
        // The fields again as key-values, for the JSON log (src/logging.rs).
        info!(
            target: "bookshelf::request",
            request_id = id, method = method, uri = uri.as_str(), route = route.as_str(),
            status = status, duration_ms = duration_ms;
            "request {id} {method} {uri} (route {route}) {status} in {duration_ms} ms"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensible_client_ids_are_kept_and_others_replaced() {
        for kept in ["a", "0af7651916cd43dd8448eb211c80319c", "req-1.2_3:4"] {
            assert_eq!(RequestId::from_header(Some(kept)).id, kept);
        }
        let too_long = "a".repeat(MAX_LENGTH + 1);
        for replaced in ["", "a b", "a\nb", "ü", too_long.as_str(), "<script>"] {
            let id = RequestId::from_header(Some(replaced)).id;
            assert_ne!(id, replaced);
            assert!(is_valid(&id) && id.len() == 32, "{id}");
        }
        assert_ne!(
            RequestId::from_header(None).id,
            RequestId::from_header(None).id
        );
    }
}
