//! Conditional requests, so that two clients editing one book cannot
//! overwrite each other's change (a lost update).
//!
//! A book or review has a version that every write to it raises; its `ETag`
//! is that version, quoted (`"3"`). GET, POST, PUT and PATCH answer with it.
//! PUT, PATCH and DELETE honor `If-Match` (RFC 9110, 13.1.1): when the
//! resource's tag is not among those given they change nothing and answer
//! 412. With `require_if_match` they answer 428 without one. GET honors
//! `If-None-Match` (13.1.2): 304 and no body when the client's copy is
//! current.

use rocket::http::{Header, Status};
use rocket::request::{self, FromRequest};
use rocket::response::{self, Responder};
use rocket::{Request, Response};

use crate::error::Error;
use crate::extract::reject;
use crate::models::Expected;

/// What the service requires of writes (`require_if_match`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// PUT, PATCH and DELETE need `If-Match` (else 428).
    pub require_if_match: bool,
}

/// The entity tag of a row version.
pub fn etag(version: i32) -> String {
    // Without `format!`'s machinery: this runs on every GET.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version);
    let mut tag = String::with_capacity(digits.len() + 2);
    tag.push('"');
    tag.push_str(digits);
    tag.push('"');
    tag
}

/// One entity tag of an `If-Match` or `If-None-Match` list.
#[derive(Debug, PartialEq)]
struct Tag {
    /// `W/"3"`: a weak tag.
    weak: bool,
    /// The row version it names; `None` for a tag that is none (`"abc"`),
    /// which matches nothing.
    version: Option<i32>,
}

/// What an `If-Match` or `If-None-Match` header lists.
#[derive(Debug, PartialEq)]
enum Listed {
    /// `*`: any version.
    Any,
    Tags(Vec<Tag>),
}

/// The tags of a request's `name` headers, if it has any.
fn listed(req: &Request<'_>, name: &str) -> Option<Listed> {
    let mut values = crate::headers::all(req, name).peekable();
    values.peek()?;
    let mut tags = Vec::new();
    for value in values {
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                return Some(Listed::Any);
            }
            let (weak, opaque) = match item.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            let version = opaque
                .strip_prefix('"')
                .and_then(|o| o.strip_suffix('"'))
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse().ok());
            tags.push(Tag { weak, version });
        }
    }
    Some(Listed::Tags(tags))
}

/// The versions a write may change, from `If-Match`; a guard for PUT,
/// PATCH and DELETE.
pub struct IfMatch(pub Expected);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfMatch {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        let expected = match listed(req, "If-Match") {
            None => {
                let policy = req.rocket().state::<Policy>().copied().unwrap_or_default();
                if policy.require_if_match {
                    return reject(
                        req,
                        Error::PreconditionRequired(
                            "This server requires If-Match on changes: send the ETag of the \
                             resource as you last read it."
                                .into(),
                        ),
                    );
                }
                Expected::Any
            }
            Some(Listed::Any) => Expected::Any,
            // If-Match compares strongly: a weak tag matches nothing.
            Some(Listed::Tags(tags)) => Expected::OneOf(
                tags.into_iter()
                    .filter(|tag| !tag.weak)
                    .filter_map(|tag| tag.version)
                    .collect(),
            ),
        };
        request::Outcome::Success(IfMatch(expected))
    }
}

/// The versions a client already holds, from `If-None-Match`; a guard for GET.
pub struct IfNoneMatch(Option<Expected>);

impl IfNoneMatch {
    /// Whether the client's copy is the resource at `version` (weak
    /// comparison, as RFC 9110 asks for `If-None-Match`).
    pub fn holds(&self, version: i32) -> bool {
        match &self.0 {
            None => false,
            Some(Expected::Any) => true,
            Some(Expected::OneOf(versions)) => versions.contains(&version),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        let held = listed(req, "If-None-Match").map(|listed| match listed {
            Listed::Any => Expected::Any,
            Listed::Tags(tags) => {
                Expected::OneOf(tags.into_iter().filter_map(|t| t.version).collect())
            }
        });
        request::Outcome::Success(IfNoneMatch(held))
    }
}

/// A response for one versioned resource: the resource with its `ETag`, or
/// 304 when the client's copy is current.
pub enum Tagged<R> {
    Fresh(R, i32),
    NotModified(i32),
}

impl<'r, R: Responder<'r, 'static>> Responder<'r, 'static> for Tagged<R> {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let (mut response, version) = match self {
            Tagged::Fresh(body, version) => (body.respond_to(req)?, version),
            Tagged::NotModified(version) => (
                Response::build().status(Status::NotModified).finalize(),
                version,
            ),
        };
        response.set_header(Header::new("ETag", etag(version)));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use rocket::local::blocking::Client;

    use super::*;

    fn parsed(headers: &[&str]) -> Option<Listed> {
        let client = Client::untracked(rocket::build()).unwrap();
        let mut request = client.get("/");
        for value in headers {
            request.add_header(Header::new("If-Match", value.to_string()));
        }
        listed(request.inner(), "If-Match")
    }

    fn tag(weak: bool, version: Option<i32>) -> Tag {
        Tag { weak, version }
    }

    #[test]
    fn entity_tag_lists_are_read_as_rfc_9110_writes_them() {
        assert_eq!(parsed(&[]), None);
        assert_eq!(parsed(&["*"]), Some(Listed::Any));
        assert_eq!(
            parsed(&["\"3\""]),
            Some(Listed::Tags(vec![tag(false, Some(3))]))
        );
        assert_eq!(
            parsed(&["\"3\", W/\"4\"", "\"5\""]),
            Some(Listed::Tags(vec![
                tag(false, Some(3)),
                tag(true, Some(4)),
                tag(false, Some(5))
            ]))
        );
        for no_version in ["3", "\"\"", "\"abc\"", "\"-1\"", "\"99999999999\""] {
            assert_eq!(
                parsed(&[no_version]),
                Some(Listed::Tags(vec![tag(false, None)]))
            );
        }
        assert_eq!(etag(7), "\"7\"");
        assert_eq!(etag(1_234_567), "\"1234567\"");
    }
}
