//! `QueueError`: what a queue call can fail with, classified for retry decisions.

use mp3converter_db::DbError;

/// Any error a broker client may raise, kept as the cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed queue call.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database behind the database queue failed.
    #[error("queue storage failed: {0}")]
    Database(#[from] DbError),
    /// The broker cannot be reached or dropped the connection.
    #[error("queue broker unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The broker refused the request (bad queue, permissions, ...).
    #[error("queue broker refused the request: {0}")]
    Broker(#[source] BoxError),
    /// The lease on this delivery ran out and another consumer has the message now: stop
    /// working on it; its effects will be produced by the other consumer.
    #[error("the lease on message {0} was lost to another consumer")]
    LeaseLost(String),
}

impl QueueError {
    /// True when repeating the call later may succeed (storage or broker unreachable or busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Database(e) => e.is_retryable(),
            QueueError::Unavailable(_) => true,
            QueueError::Broker(_) | QueueError::LeaseLost(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_backends_are_retryable_and_lost_leases_are_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(QueueError::Unavailable(Box::new(io)).is_retryable());
        assert!(QueueError::Database(sqlx_pool_timeout()).is_retryable());
        assert!(!QueueError::Database(DbError::NotFound).is_retryable());
        assert!(!QueueError::LeaseLost("m".into()).is_retryable());
    }

    fn sqlx_pool_timeout() -> DbError {
        // What `DbError` makes of an I/O failure talking to the database.
        DbError::Unavailable(std::io::Error::other("pool timed out").into())
    }
}
