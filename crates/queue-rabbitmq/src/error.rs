//! `RabbitError`: what talking to RabbitMQ can fail with, classified, and how it maps onto the
//! port's [`QueueError`].

use std::time::Duration;

use lapin::ErrorKind;
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use mp3converter_queue::QueueError;

/// A failed call to the broker.
#[derive(Debug, thiserror::Error)]
pub enum RabbitError {
    /// The settings cannot work (a malformed URL, a name the protocol cannot carry).
    #[error("invalid RabbitMQ settings: {0}")]
    Invalid(String),
    /// There is no connection right now; one is being re-established in the background.
    #[error("not connected to RabbitMQ (reconnecting): {0}")]
    NotConnected(String),
    /// The broker blocks publishing on this connection: a memory or disk alarm.
    #[error("RabbitMQ is blocking publishes (a memory or disk alarm): {0}")]
    Blocked(String),
    /// The broker did not answer in time (down, blocked by a resource alarm, or overloaded).
    #[error("RabbitMQ {op} timed out after {after:?}")]
    Timeout {
        /// The call.
        op: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The queue exists with other arguments than this service declares: usually another
    /// `x-queue-type`.
    #[error(
        "queue {queue:?} already exists with other arguments than this service declares \
         (x-queue-type {queue_type}): set the RabbitMQ queue type to match the existing queue, \
         or delete it; the broker said: {source}"
    )]
    QueueMismatch {
        /// The queue.
        queue: String,
        /// The type the adapter declared.
        queue_type: &'static str,
        /// The broker's `PRECONDITION_FAILED`.
        #[source]
        source: lapin::Error,
    },
    /// A `mandatory` publish found no queue (the queue was deleted while in use).
    #[error("RabbitMQ could not route a message to queue {0:?}")]
    Unroutable(String),
    /// The broker refused responsibility for a published message (a `basic.nack`).
    #[error("RabbitMQ did not accept a message for queue {0:?} (publish nacked)")]
    Nacked(String),
    /// Any other client or protocol error.
    #[error("RabbitMQ {op} failed: {source}")]
    Amqp {
        /// The call.
        op: &'static str,
        /// The client's error.
        #[source]
        source: lapin::Error,
    },
}

impl RabbitError {
    /// Wraps a client error raised by `op`.
    pub(crate) fn amqp(op: &'static str) -> impl FnOnce(lapin::Error) -> RabbitError {
        move |source| RabbitError::Amqp { op, source }
    }

    /// True when the same call may succeed later: the broker is down, unreachable, restarting,
    /// busy, or the publish was refused for reasons of its own.
    pub fn is_retryable(&self) -> bool {
        match self {
            RabbitError::NotConnected(_)
            | RabbitError::Blocked(_)
            | RabbitError::Timeout { .. }
            | RabbitError::Unroutable(_)
            | RabbitError::Nacked(_) => true,
            RabbitError::Invalid(_) | RabbitError::QueueMismatch { .. } => false,
            RabbitError::Amqp { source, .. } => lapin_error_is_retryable(source),
        }
    }

    /// True when repeating the call cannot help until an operator changes something
    /// (credentials, permissions, queue arguments, settings).
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }

    /// True when the broker said `NOT_FOUND` (a queue deleted behind the adapter's back).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, RabbitError::Amqp { source, .. }
            if matches!(source.kind(), ErrorKind::ProtocolError(e)
                if *e.kind() == AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
    }
}

fn lapin_error_is_retryable(e: &lapin::Error) -> bool {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => match amqp.kind() {
            AMQPErrorKind::Soft(soft) => !matches!(
                soft,
                AMQPSoftError::ACCESSREFUSED
                    | AMQPSoftError::PRECONDITIONFAILED
                    | AMQPSoftError::CONTENTTOOLARGE
            ),
            AMQPErrorKind::Hard(hard) => !matches!(
                hard,
                AMQPHardError::NOTALLOWED
                    | AMQPHardError::INVALIDPATH
                    | AMQPHardError::NOTIMPLEMENTED
            ),
        },
        ErrorKind::InvalidProtocolVersion(_)
        | ErrorKind::AuthProviderError(_)
        | ErrorKind::NoDefaultRuntime
        | ErrorKind::SerialisationError(_) => false,
        // I/O, heartbeats, closed channels and connections: the link heals itself.
        _ => true,
    }
}

impl From<RabbitError> for QueueError {
    fn from(e: RabbitError) -> Self {
        if e.is_retryable() {
            QueueError::Unavailable(Box::new(e))
        } else {
            QueueError::Broker(Box::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use lapin::protocol::AMQPError;

    use super::*;

    fn protocol(kind: AMQPErrorKind) -> lapin::Error {
        ErrorKind::ProtocolError(AMQPError::new(kind, "from the broker".into())).into()
    }

    #[test]
    fn broker_outages_are_retryable_and_refusals_are_permanent() {
        let io: lapin::Error = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        let retryable = [
            RabbitError::NotConnected("connection refused".into()),
            RabbitError::Timeout {
                op: "publish",
                after: Duration::from_secs(1),
            },
            RabbitError::amqp("publish")(io),
            RabbitError::amqp("declare")(protocol(AMQPErrorKind::Hard(
                AMQPHardError::CONNECTIONFORCED,
            ))),
            RabbitError::Nacked("video".into()),
            RabbitError::Blocked("low on memory".into()),
        ];
        for e in retryable {
            assert!(e.is_retryable() && !e.is_permanent(), "{e}");
            assert!(QueueError::from(e).is_retryable());
        }
        let mismatch = RabbitError::QueueMismatch {
            queue: "video".into(),
            queue_type: "quorum",
            source: protocol(AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)),
        };
        assert!(mismatch.to_string().contains("set the RabbitMQ queue type"));
        let refused = RabbitError::amqp("declare")(protocol(AMQPErrorKind::Soft(
            AMQPSoftError::ACCESSREFUSED,
        )));
        for e in [mismatch, refused, RabbitError::Invalid("bad url".into())] {
            assert!(e.is_permanent(), "{e}");
            assert!(matches!(QueueError::from(e), QueueError::Broker(_)));
        }
    }

    #[test]
    fn not_found_is_recognised() {
        let gone =
            RabbitError::amqp("basic.get")(protocol(AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)));
        assert!(gone.is_not_found() && gone.is_retryable());
        assert!(!RabbitError::NotConnected(String::new()).is_not_found());
    }
}
