//! What the database layer fails with, in the database's terms. The layer
//! knows the backends, so it sorts their errors into these kinds; src/error.rs
//! decides the HTTP status of each kind and never looks at error text.

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything a database job can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row asked for does not exist.
    #[error("no such row")]
    NotFound,
    /// A write refers to a row that does not exist (a foreign key).
    #[error("a foreign key refers to a missing row: {0}")]
    MissingReference(String),
    /// A value the schema refuses (a CHECK or NOT NULL constraint).
    #[error("a constraint refused a value: {0}")]
    Refused(String),
    /// The database is unreachable, busy, full, or too slow to answer; the
    /// same request may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(Cause),
    /// Anything else: a bug or an unexpected failure.
    #[error("database failure: {0}")]
    Failed(Cause),
}

impl DbError {
    /// Whether the job's own request was refused (no such row, a value the
    /// schema refuses), rather than the database failing it.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DbError::NotFound | DbError::MissingReference(_) | DbError::Refused(_)
        )
    }
}

impl From<diesel::result::Error> for DbError {
    fn from(error: diesel::result::Error) -> DbError {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        match &error {
            E::NotFound => DbError::NotFound,
            E::DatabaseError(kind, info) => match kind {
                // Retrying can succeed: the connection is gone, or PostgreSQL
                // chose this transaction to fail for a concurrent one.
                Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::SerializationFailure => {
                    DbError::Unavailable(Box::new(error))
                }
                Kind::CheckViolation | Kind::NotNullViolation => {
                    DbError::Refused(info.message().to_string())
                }
                Kind::ForeignKeyViolation => DbError::MissingReference(info.message().to_string()),
                _ if is_transient(info.message()) => DbError::Unavailable(Box::new(error)),
                _ => DbError::Failed(Box::new(error)),
            },
            _ => DbError::Failed(Box::new(error)),
        }
    }
}

impl From<r2d2::Error> for DbError {
    /// No pooled connection in time: the database is down or every connection is busy.
    fn from(error: r2d2::Error) -> DbError {
        DbError::Unavailable(Box::new(error))
    }
}

/// SQLite reports lock contention (after busy_timeout) and a full disk, and
/// PostgreSQL a lock or statement timeout, a deadlock or a lost server, only
/// as text: diesel 2.3 has no kind for them and passes on no SQLSTATE. All
/// mean "try again", not a bug.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 10] = [
        "database is locked",
        "database or disk is full",
        "lock timeout",
        "statement timeout",
        "deadlock detected",
        "database is busy",
        "database table is locked",
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind as Kind, Error as E};

    fn from(kind: Kind, message: &str) -> DbError {
        DbError::from(E::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn errors_a_retry_can_cure_are_unavailable_and_the_rest_keep_their_kind() {
        for (kind, message) in [
            (Kind::SerializationFailure, "could not serialize access"),
            (
                Kind::ClosedConnection,
                "server closed the connection unexpectedly",
            ),
            (Kind::Unknown, "deadlock detected"),
            (
                Kind::Unknown,
                "canceling statement due to statement timeout",
            ),
            (Kind::Unknown, "canceling statement due to lock timeout"),
            (Kind::Unknown, "database is locked"),
            (Kind::Unknown, "database or disk is full"),
        ] {
            let error = from(kind, message);
            assert!(
                matches!(error, DbError::Unavailable(_)),
                "{message}: {error:?}"
            );
        }
        assert!(matches!(DbError::from(E::NotFound), DbError::NotFound));
        assert!(matches!(
            from(Kind::CheckViolation, "check"),
            DbError::Refused(_)
        ));
        assert!(matches!(
            from(Kind::NotNullViolation, "null"),
            DbError::Refused(_)
        ));
        assert!(matches!(
            from(Kind::ForeignKeyViolation, "fk"),
            DbError::MissingReference(_)
        ));
        let bug = from(Kind::Unknown, "syntax error at or near \"SELEC\"");
        assert!(matches!(bug, DbError::Failed(_)), "{bug:?}");
        assert!(!bug.is_refusal());
    }
}
