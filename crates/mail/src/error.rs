//! `MailError`: why an email was not sent, classified for the notifier's retry decision.

use std::io;

use lettre::transport::smtp;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure of a [`Mailer`](crate::Mailer).
///
/// Retryable: the server could not be reached, timed out, or answered 4xx (try later).
/// Permanent: the address or message is invalid, or the server answered 5xx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A recipient or sender address does not parse.
    #[error("invalid email address {address:?}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was rejected.
        #[source]
        source: lettre::address::AddressError,
    },

    /// The email cannot be turned into a valid message (bad header, message id, ...).
    #[error("invalid email: {0}")]
    InvalidMessage(String),

    /// The mail server could not be reached, dropped the connection or timed out.
    #[error("mail server unavailable")]
    Unavailable(#[source] BoxError),

    /// The mail server answered with a transient (4xx) reply; try again later.
    #[error("mail server deferred the message")]
    Deferred(#[source] smtp::Error),

    /// The mail server refused the message for good (5xx reply, TLS or protocol failure).
    #[error("mail server rejected the message")]
    Rejected(#[source] smtp::Error),

    /// Writing to the outbox directory failed.
    #[error("outbox I/O error")]
    Io(#[from] io::Error),

    /// The mail configuration is invalid; raised by [`build`](crate::build).
    #[error("invalid mail config: {0}")]
    Config(String),
}

impl MailError {
    /// Whether sending the same email later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Deferred(_) => true,
            Self::Io(e) => !matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
            ),
            Self::InvalidAddress { .. }
            | Self::InvalidMessage(_)
            | Self::Rejected(_)
            | Self::Config(_) => false,
        }
    }

    /// Whether retrying cannot help; the opposite of [`is_retryable`](Self::is_retryable).
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }

    /// Sorts an SMTP transport error by what a retry could change.
    pub(crate) fn from_smtp(error: smtp::Error) -> Self {
        if error.is_transient() {
            Self::Deferred(error)
        } else if error.is_response() && error.to_string().contains("incomplete response") {
            // The connection closed before a whole reply (lettre's only name for it): the
            // server went away, restarted, or a proxy in front of it has no backend.
            Self::Unavailable(Box::new(error))
        } else if error.is_permanent() || error.is_tls() || error.is_client() || error.is_response()
        {
            // 5xx, a failed TLS handshake (wrong host/certificate), or a server that does not
            // speak SMTP: the same configuration will fail the same way.
            Self::Rejected(error)
        } else {
            // Connection refused, network errors, timeouts, a pool that was shut down.
            Self::Unavailable(Box::new(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_trouble_is_retryable_but_permission_problems_are_not() {
        assert!(MailError::Io(io::Error::from(io::ErrorKind::StorageFull)).is_retryable());
        assert!(MailError::Io(io::Error::from(io::ErrorKind::PermissionDenied)).is_permanent());
        assert!(MailError::Unavailable("down".into()).is_retryable());
        assert!(MailError::InvalidMessage("bad".into()).is_permanent());
        assert!(MailError::Config("bad".into()).is_permanent());
    }
}
