//! What Rocket answers when no handler does: the same JSON error shape as
//! every other error, and 405 (with `Allow`) for a known path and the wrong
//! method, which Rocket by itself reports as 404.

use rocket::http::{Header, Method, Status};
use rocket::response::{self, Responder};
use rocket::{catch, Request};

use crate::error::ErrorBody;
use crate::extract;

/// An error body, with the `Allow` header of a 405 or the
/// `WWW-Authenticate` of a 401.
pub struct CaughtError {
    body: ErrorBody,
    header: Option<Header<'static>>,
}

impl<'r> Responder<'r, 'static> for CaughtError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.body.respond_to(req)?;
        if let Some(header) = self.header {
            response.set_header(header);
        }
        Ok(response)
    }
}

/// Answers every status no handler answered.
#[catch(default)]
pub fn default_catcher(status: Status, req: &Request<'_>) -> CaughtError {
    if let Some(body) = extract::rejection(req, status) {
        let header = (status == Status::Unauthorized)
            .then(|| Header::new("WWW-Authenticate", "Bearer realm=\"bookshelf\""));
        return CaughtError { body, header };
    }
    if status == Status::NotFound {
        let allowed = allowed_methods(req);
        if !allowed.is_empty() {
            return CaughtError {
                body: ErrorBody::new(
                    Status::MethodNotAllowed,
                    format!("This path allows only {}.", allowed.join(", ")),
                ),
                header: Some(Header::new("Allow", allowed.join(", "))),
            };
        }
    }
    let message = match status.code {
        400 => "The request is malformed.",
        404 => "There is nothing at this path.",
        413 => "The request body is too large.",
        422 => "A parameter of the request is invalid.",
        500 => "An internal error occurred.",
        503 => "The service is unavailable; try again shortly.",
        _ => status.reason().unwrap_or("The request failed."),
    };
    CaughtError {
        body: ErrorBody::new(status, message),
        header: None,
    }
}

/// The methods of the routes whose path matches the request's, when the
/// request's own method is not one of them.
fn allowed_methods(req: &Request<'_>) -> Vec<String> {
    let path = req.uri().path();
    let segments: Vec<&str> = path.segments().collect();
    let mut methods: Vec<Method> = req
        .rocket()
        .routes()
        .filter(|route| path_matches(route.uri.path(), &segments))
        .map(|route| route.method)
        .collect();
    if methods.contains(&Method::Get) {
        methods.push(Method::Head);
    }
    methods.sort_by_key(|m| m.as_str());
    methods.dedup();
    if methods.is_empty() || methods.contains(&req.method()) {
        return Vec::new();
    }
    methods.iter().map(|m| m.as_str().to_string()).collect()
}

/// Whether a route path like `/books/<id>/reviews` matches the segments of a
/// request path; `<name..>` matches any rest.
fn path_matches(template: &str, segments: &[&str]) -> bool {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if part.starts_with('<') && part.ends_with("..>") {
            return true;
        }
        match segments.get(i) {
            None => return false,
            Some(segment) if part.starts_with('<') || part == segment => {}
            Some(_) => return false,
        }
    }
    parts.len() == segments.len()
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn path_matches_static_dynamic_and_trailing_segments() {
        assert!(path_matches("/books", &["books"]));
        assert!(path_matches("/books/<id>", &["books", "7"]));
        assert!(path_matches(
            "/books/<id>/reviews",
            &["books", "7", "reviews"]
        ));
        assert!(path_matches("/docs/<_..>", &["docs", "index.html"]));
        assert!(!path_matches("/books/<id>", &["books"]));
        assert!(!path_matches("/books/<id>", &["books", "7", "reviews"]));
        assert!(!path_matches("/reviews/<id>", &["books", "7"]));
    }
}
