//! Reading a request's headers by name.
//!
//! Rocket's header map hashes the name of every lookup with SipHash, one
//! byte at a time (`Uncased`'s `Hash`): about 800 instructions for
//! `If-None-Match`, paid again by each guard and fairing that asks. A
//! request carries a handful of headers, so comparing each name, shortest
//! test first (the length), finds the same values for a fraction of that
//! (issue 24: bench/instructions.sh counts it).

use std::borrow::Cow;

use rocket::Request;

/// The values of the request's `name` headers, in the order they came,
/// with the name compared ignoring ASCII case (as Rocket's `get` does).
pub fn all<'r>(req: &'r Request<'_>, name: &'r str) -> impl Iterator<Item = &'r str> + 'r {
    req.headers()
        .iter()
        .filter(move |header| header.name.as_str().eq_ignore_ascii_case(name))
        // The map lends its values, so each is borrowed for as long as the
        // request lives.
        .filter_map(|header| match header.value {
            Cow::Borrowed(value) => Some(value),
            Cow::Owned(_) => None,
        })
}

/// The first value of the request's `name` header, if it has one (as
/// Rocket's `get_one`).
pub fn first<'r>(req: &'r Request<'_>, name: &'r str) -> Option<&'r str> {
    all(req, name).next()
}

#[cfg(test)]
mod tests {
    use rocket::http::Header;
    use rocket::local::blocking::Client;

    use super::*;

    #[test]
    fn finds_what_rockets_lookup_finds() {
        let client = Client::debug_with(vec![]).expect("a Rocket instance");
        let mut req = client.get("/");
        for (name, value) in [
            ("If-None-Match", "\"1\""),
            ("x-request-id", "abc"),
            ("IF-NONE-MATCH", "\"2\", \"3\""),
            ("Accept", "*/*"),
        ] {
            req.add_header(Header::new(name, value));
        }
        let req = req.inner();
        for name in ["if-none-match", "X-Request-Id", "Accept", "Bookshelf-Lsn"] {
            assert_eq!(
                all(req, name).collect::<Vec<_>>(),
                req.headers().get(name).collect::<Vec<_>>(),
                "{name}"
            );
            assert_eq!(first(req, name), req.headers().get_one(name), "{name}");
        }
        assert_eq!(
            all(req, "If-None-Match").collect::<Vec<_>>(),
            ["\"1\"", "\"2\", \"3\""]
        );
        assert_eq!(first(req, "Bookshelf-Lsn"), None);
    }
}
