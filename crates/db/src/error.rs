//! `DbError`: what a repository call can fail with, classified for retry decisions.

use sqlx::error::ErrorKind;

/// A failed repository call.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write (duplicate email, duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the call needs does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached (connection refused or lost, pool exhausted or closed).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A deadlock, serialization failure or busy lock; the same call may succeed if repeated.
    #[error("database busy, try again: {0}")]
    Contention(#[source] sqlx::Error),
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The URL names no supported engine.
    #[error("unsupported database url {0:?}: use sqlite://, mysql:// or postgres://")]
    UnsupportedUrl(String),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error (a bug in a query, a refused constraint, ...).
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
}

impl DbError {
    /// True when repeating the call later may succeed: the database was unreachable or busy.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Contention(_))
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> DbError {
        DbError::Corrupt(what.to_string())
    }
}

/// SQLSTATEs and SQLite codes that mean "busy, try again": serialization failure, deadlock
/// (PostgreSQL and MySQL), lock not available, SQLite BUSY/LOCKED (and their extended codes).
const CONTENTION_CODES: &[&str] = &["40001", "40P01", "55P03", "5", "6", "261", "262", "517"];
/// SQLSTATE classes that mean the server is going away or refusing connections.
const UNAVAILABLE_PREFIXES: &[&str] = &["08", "57P", "53"];

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(e),
            sqlx::Error::Database(db) => {
                if db.kind() == ErrorKind::UniqueViolation {
                    return DbError::Conflict(db.message().to_owned());
                }
                let code = db.code().unwrap_or_default();
                // MySQL reports "lock wait timeout" (1205) with the generic SQLSTATE HY000.
                if CONTENTION_CODES.contains(&code.as_ref())
                    || db.message().contains("Lock wait timeout")
                {
                    DbError::Contention(e)
                } else if UNAVAILABLE_PREFIXES.iter().any(|p| code.starts_with(p)) {
                    DbError::Unavailable(e)
                } else {
                    DbError::Query(e)
                }
            }
            _ => DbError::Query(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_database_is_retryable_and_missing_rows_are_not() {
        assert!(DbError::from(sqlx::Error::PoolTimedOut).is_retryable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(DbError::from(sqlx::Error::Io(io)).is_retryable());
        assert!(matches!(
            DbError::from(sqlx::Error::RowNotFound),
            DbError::NotFound
        ));
        assert!(!DbError::NotFound.is_retryable());
        assert!(!DbError::Conflict("x".into()).is_retryable());
    }
}
