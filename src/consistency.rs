//! Read-your-writes across hot standbys: the `Bookshelf-Lsn` header.
//!
//! With `database_replica_urls` set, each successful write (POST, PUT, PATCH,
//! DELETE) answers `Bookshelf-Lsn: 0/3000148`: the primary's WAL insert
//! position, read after the write committed, so at or past its commit. A
//! read that sends the same header back is served only by a standby that
//! has replayed that far, or by the primary (src/db/standbys.rs): it sees the
//! write and everything before it. A client that sends nothing may read
//! from a standby up to `replica_max_lag` behind.
//!
//! Why a token and not a delay after each write (Rails' `database_selector`):
//! a delay guesses the lag, and the token is exact; it also works across
//! processes and for any client that keeps one header, with no session.

use log::warn;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Method, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::Response;

use crate::db::{self, Batches, Database, Lsn};
use crate::error::Error;
use crate::extract::reject;

/// The header, in responses to writes and in the reads that follow them.
pub const HEADER: &str = "Bookshelf-Lsn";

/// What a read must see: the `Bookshelf-Lsn` a write gave, when it sends one.
pub struct ReadAfter(pub db::ReadAfter);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ReadAfter {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        match crate::headers::first(req, HEADER) {
            None => request::Outcome::Success(ReadAfter(None)),
            Some(text) => match text.parse::<Lsn>() {
                Ok(lsn) => request::Outcome::Success(ReadAfter(Some(lsn))),
                Err(why) => reject(
                    req,
                    Error::BadRequest(format!(
                        "{HEADER}: {why}; send it back as a write's response gave it"
                    )),
                ),
            },
        }
    }
}

/// Adds `Bookshelf-Lsn` to each successful write's response, when reads may
/// go to standbys.
pub struct WritePositions;

#[rocket::async_trait]
impl Fairing for WritePositions {
    fn info(&self) -> Info {
        Info {
            name: "Bookshelf-Lsn on writes",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let write = matches!(
            req.method(),
            Method::Post | Method::Put | Method::Patch | Method::Delete
        );
        if !write || res.status().class() != Status::Ok.class() {
            return;
        }
        let rocket = req.rocket();
        let (Some(db), Some(positions)) = (
            rocket.state::<Database>(),
            rocket.state::<Batches<(), Lsn>>(),
        ) else {
            return;
        };
        if db.standbys().list().is_empty() {
            return;
        }
        // Concurrent writes share one query (see db::wal_positions).
        match db.batched_on_primary(positions, ()).await {
            Ok(lsn) => {
                res.set_raw_header(HEADER, lsn.to_string());
            }
            // The write is done; a later read without the header may not see it on a standby.
            Err(e) => warn!("cannot read the WAL position for {HEADER}: {e}"),
        }
    }
}
