//! Optional API keys. With none configured the API is open. With keys,
//! requests that change data need `Authorization: Bearer <key>`, and reads
//! too when `protect_reads` is set; anything else is a 401.

use rocket::request::{self, FromRequest, Request};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::extract::reject;

/// The configured keys, managed by the application.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<String>,
    protect_reads: bool,
}

impl ApiKeys {
    pub fn new(keys: Vec<String>, protect_reads: bool) -> ApiKeys {
        ApiKeys {
            keys,
            protect_reads,
        }
    }

    /// Whether `token` is one of the keys. Every key is compared, each in
    /// constant time, so the time taken does not tell how much matched.
    fn accepts(&self, token: &str) -> bool {
        self.keys.iter().fold(0u8, |found, key| {
            found | token.as_bytes().ct_eq(key.as_bytes()).unwrap_u8()
        }) == 1
    }

    fn check(&self, req: &Request<'_>, needed: bool) -> Result<(), Error> {
        if self.keys.is_empty() || !needed {
            return Ok(());
        }
        let token = crate::headers::first(req, "Authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(token) if self.accepts(token) => Ok(()),
            Some(_) => Err(Error::Unauthorized("The API key is not valid.".into())),
            None => Err(Error::Unauthorized(
                "This request needs an API key: Authorization: Bearer <key>.".into(),
            )),
        }
    }
}

/// A guard for handlers that change data.
pub struct CanWrite;

/// A guard for handlers that read data (open unless `protect_reads`).
pub struct CanRead;

async fn guard<T>(
    req: &Request<'_>,
    needed: impl Fn(&ApiKeys) -> bool,
    ok: T,
) -> request::Outcome<T, Error> {
    let Some(keys) = req.rocket().state::<ApiKeys>() else {
        return request::Outcome::Success(ok);
    };
    match keys.check(req, needed(keys)) {
        Ok(()) => request::Outcome::Success(ok),
        Err(error) => reject(req, error),
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CanWrite {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        guard(req, |_| true, CanWrite).await
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CanRead {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Error> {
        guard(req, |keys| keys.protect_reads, CanRead).await
    }
}

#[cfg(test)]
mod tests {
    use super::ApiKeys;

    #[test]
    fn only_a_configured_key_is_accepted() {
        let keys = ApiKeys::new(vec!["alpha".into(), "beta-longer".into()], false);
        assert!(keys.accepts("alpha"));
        assert!(keys.accepts("beta-longer"));
        for wrong in ["", "alph", "alphaa", "ALPHA", "beta"] {
            assert!(!keys.accepts(wrong), "{wrong}");
        }
        assert!(!ApiKeys::default().accepts(""));
    }
}
